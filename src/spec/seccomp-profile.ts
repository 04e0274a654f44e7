// A seccomp profile file (--security-opt seccomp=FILE) → the spec's linux.seccomp.
// Both docker's format and OCI's are read: docker's adds per-rule conditions
// (includes/excludes by capability, architecture and kernel version), decided here
// for this container, and archMap in place of architectures.
import { UserError } from "../util/errors.ts";
import type { Arch } from "../setup/syscalls.ts";
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall } from "./types.ts";

interface Filter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

interface ProfileRule {
  names?: string[];
  name?: string;
  action?: string;
  errnoRet?: number;
  args?: LinuxSeccompArg[] | null;
  includes?: Filter;
  excludes?: Filter;
}

export interface SeccompProfile {
  defaultAction?: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: ProfileRule[];
}

/** docker's architecture words for this machine. */
const ARCH_WORDS: Record<Arch, string[]> = { x64: ["amd64", "x86_64", "x32", "x86", "386"], arm64: ["arm64", "aarch64", "arm"] };

/** "6.1" ≤ "6.18.44-…": each dotted number compared in turn. */
function kernelAtLeast(running: string, min: string): boolean {
  const a = running.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split(".").map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < b.length; i++) {
    if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i]!;
  }
  return true;
}

function applies(r: ProfileRule, caps: ReadonlySet<string>, arch: Arch, kernel: string): boolean {
  const inc = r.includes ?? {};
  const exc = r.excludes ?? {};
  const mine = ARCH_WORDS[arch];
  if (inc.caps?.length && !inc.caps.every((c) => caps.has(c))) return false;
  if (inc.arches?.length && !inc.arches.some((a) => mine.includes(a))) return false;
  if (inc.minKernel && !kernelAtLeast(kernel, inc.minKernel)) return false;
  if (exc.caps?.length && exc.caps.some((c) => caps.has(c))) return false;
  if (exc.arches?.length && exc.arches.some((a) => mine.includes(a))) return false;
  return true;
}

/** The OCI section for a container with capabilities `caps`; checked in full later, by the compiler. */
export function seccompFromProfile(p: SeccompProfile, caps: readonly string[], arch: Arch, kernel: string, where: string): LinuxSeccomp {
  if (typeof p.defaultAction !== "string") throw new UserError(`${where}: the profile has no defaultAction`);
  if (p.syscalls !== undefined && !Array.isArray(p.syscalls)) throw new UserError(`${where}: syscalls must be a list`);
  const have = new Set(caps);
  const syscalls: LinuxSyscall[] = [];
  for (const [i, r] of (p.syscalls ?? []).entries()) {
    if (typeof r !== "object" || r === null) throw new UserError(`${where}: syscalls[${i}] is not an object`);
    if (!applies(r, have, arch, kernel)) continue;
    const names = r.names ?? (r.name !== undefined ? [r.name] : []);
    syscalls.push({
      names,
      action: r.action ?? "",
      ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}),
      ...(r.args ? { args: r.args } : {}),
    });
  }
  const architectures = p.architectures ?? (p.archMap ?? []).flatMap((m) => [m.architecture, ...(m.subArchitectures ?? [])]);
  return {
    defaultAction: p.defaultAction,
    ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}),
    ...(architectures.length ? { architectures } : {}),
    ...(p.flags ? { flags: p.flags } : {}),
    ...(p.listenerPath ? { listenerPath: p.listenerPath } : {}),
    ...(p.listenerMetadata ? { listenerMetadata: p.listenerMetadata } : {}),
    syscalls,
  };
}
