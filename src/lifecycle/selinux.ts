// SELinux for containers: whether the host has it, docker's `--security-opt label=`
// parts turned into a context, and the label a running container's process has
// (what `exec` gives a new process). The setup program asks the kernel for the
// process label at the payload's execve and puts the mount label on its filesystems.
import { exists, readText } from "../../ffi/files.ts";
import { UserError } from "../util/errors.ts";
import { hasControl } from "../util/text.ts";

const SELINUXFS = "/sys/fs/selinux";

/**
 * The kernel has SELinux on and a policy loaded: selinuxfs is mounted, and this process
 * has a context of the policy's (before any policy it is the bare initial "kernel").
 */
export function selinuxEnabled(): boolean {
  if (!exists(`${SELINUXFS}/enforce`)) return false;
  try {
    const self = readText("/proc/self/attr/current").replace(/\0/g, "").trim();
    return self !== "" && self !== "kernel";
  } catch {
    return false;
  }
}

/** One line, starting with `where`, for a string that can't be a context, or for a host without SELinux. */
export function checkLabel(label: unknown, where: string): void {
  if (typeof label !== "string" || !label || label.length > 4096 || hasControl(label) || label.split(":").length < 3)
    throw new UserError(`${where}: not an SELinux context (user:role:type[:level])`);
  if (!selinuxEnabled()) throw new UserError(`${where}: this host has no SELinux (no policy at ${SELINUXFS}), so there is no label to apply`);
}

/** A process's SELinux context, from the kernel. */
export function processLabel(pid: number): string | undefined {
  const label = readText(`/proc/${pid}/attr/current`).replace(/\0/g, "").trim();
  return label || undefined;
}

/** The policy's default container contexts (container-selinux's lxc_contexts), if it has them. */
function policyDefaults(): { process?: string; file?: string } {
  let type: string | undefined;
  try {
    type = /^\s*SELINUXTYPE\s*=\s*(\S+)/m.exec(readText("/etc/selinux/config"))?.[1];
  } catch {
    return {};
  }
  if (!type || type.includes("/")) return {};
  let text: string;
  try {
    text = readText(`/etc/selinux/${type}/contexts/lxc_contexts`);
  } catch {
    return {};
  }
  const entry = (key: string) => new RegExp(`^\\s*${key}\\s*=\\s*"?([^"\\s]+)"?`, "m").exec(text)?.[1];
  return { process: entry("process"), file: entry("file") };
}

/**
 * docker's `label=user:U`, `role:R`, `type:T`, `level:L` (each a --security-opt): the
 * parts replace those of the policy's default container context. Without that default
 * (a policy without container-selinux), user, role and type must all be given.
 */
export function labelFromParts(parts: ReadonlyMap<string, string>, flag: string): { process: string; mount?: string } {
  const defaults = policyDefaults();
  const base = defaults.process?.split(":");
  const [u, r, t, ...l] = base ?? [];
  const user = parts.get("user") ?? u;
  const role = parts.get("role") ?? r;
  const type = parts.get("type") ?? t;
  const level = parts.get("level") ?? (l.length ? l.join(":") : undefined);
  if (!user || !role || !type)
    throw new UserError(`run: --security-opt ${flag}: this policy has no default container context (lxc_contexts), so give user:, role: and type:`);
  const process = [user, role, type, ...(level ? [level] : [])].join(":");
  checkLabel(process, `run: --security-opt ${flag}`);
  // The files take the process's level, as the MCS separation between containers needs.
  const fileBase = defaults.file?.split(":");
  const mount = fileBase && fileBase.length >= 3 ? [...fileBase.slice(0, 3), ...(level ? [level] : [])].join(":") : undefined;
  return { process, ...(mount ? { mount } : {}) };
}
