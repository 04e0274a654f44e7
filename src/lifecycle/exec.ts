// Runs a new process in a running container: the native init joins each of the
// container's namespaces (the user namespace first; a Bun process never could,
// being multithreaded), forks the process into them, which waits until the runtime
// has placed it in the container's cgroup, and then takes the container's own
// security settings, as the kernel reports them for its first process.
import { apparmorEnabled, processProfile } from "./apparmor.ts";
import { processLabel, selinuxEnabled } from "./selinux.ts";
import { nulEntries } from "../../ffi/bytes.ts";
import { readBytes, readlinkIfLink, readText } from "../../ffi/files.ts";
import { loadNative } from "../../ffi/native.ts";
import { Cgroup, type CgroupPaths } from "../cgroups/cgroup.ts";
import { joinTraced } from "../cgroups/hooks.ts";
import { CAPABILITIES } from "../setup/capabilities.ts";
import { compileJoin } from "../setup/join.ts";
import { precompiled } from "../setup/seccomp/bpf.ts";
import type { Arch } from "../setup/syscalls.ts";
import { NS_FILE } from "../setup/namespaces.ts";
import type { Capabilities, IDMapping, LinuxSeccomp, NamespaceType, Process } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { fs } from "../util/node.ts";
import { Tracer } from "../util/trace.ts";
import { hostFacts } from "./facts.ts";
import { waitExit } from "./wait-exit.ts";
import { SignalRelay } from "./signals.ts";
import { launch } from "./start.ts";
import { sendListener } from "./seccomp-agent.ts";
import { ociExecTarget } from "./container.ts";
import { liveState } from "./state.ts";
import { exitCode } from "../util/wait-status.ts";
import { close } from "../../ffi/libc.ts";
import { openConsole, sendConsole } from "./console.ts";

export interface ExecRequest {
  /** An OCI container's id (under `root`) or a named `run` container's name. */
  name: string;
  root?: string;
  /** The command; empty when `process` gives it. */
  args: string[];
  /** OCI process fields that replace the container's (`--process FILE`). */
  process?: Partial<Process>;
  /** KEY=VAL entries that replace or add to the environment. */
  env: readonly string[];
  cwd?: string;
  user?: { uid: number; gid: number };
  /** Return once the command runs, leaving it running (no parent-death signal). */
  detach: boolean;
  pidFile?: string;
  /** A terminal's master end goes here (runc's --console-socket) when the process has a terminal. */
  consoleSocket?: string;
  /** runc's --preserve-fds: descriptors 3 to 3+N-1 reach the command. */
  preserveFds?: number;
  trace: boolean;
  origin: number;
  /** A filter already compiled for a seccomp section, if the caller has one (the default profile's). */
  knownFilter?: (s: LinuxSeccomp, arch: Arch) => Uint8Array | undefined;
}

/** The container's environment with `extra` (KEY=VAL) replacing or adding entries. */
function mergeEnv(env: readonly string[], extra: readonly string[]): string[] {
  const out = new Map(env.map((e) => [e.slice(0, Math.max(0, e.indexOf("="))), e] as const));
  for (const e of extra) out.set(e.slice(0, Math.max(0, e.indexOf("="))), e);
  return [...out.values()];
}

/** The container's namespaces that differ from this process's own. */
function foreignNamespaces(pid: number): Set<NamespaceType> {
  const out = new Set<NamespaceType>();
  for (const [type, file] of Object.entries(NS_FILE) as [NamespaceType, string][]) {
    const theirs = readlinkIfLink(`/proc/${pid}/ns/${file}`);
    if (theirs !== undefined && theirs !== readlinkIfLink(`/proc/self/ns/${file}`)) out.add(type);
  }
  return out;
}

function statusField(status: string, key: string): string {
  const m = new RegExp(`^${key}:\\s*(.*)$`, "m").exec(status);
  if (!m) throw new UserError(`exec: /proc status has no ${key} line`);
  return m[1]!.trim();
}

function capNames(hex: string): string[] {
  const bits = BigInt(`0x${hex}`);
  return CAPABILITIES.filter((_, i) => bits & (1n << BigInt(i)));
}

function parseMap(text: string): IDMapping[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every(Number.isInteger))
    .map(([containerID, hostID, size]) => ({ containerID: containerID!, hostID: hostID!, size: size! }));
}

/** A host id as the container sees it (its user namespace's map), or undefined when unmapped. */
function inside(id: number, map: IDMapping[] | undefined): number | undefined {
  if (!map) return id;
  const m = map.find((x) => id >= x.hostID && id < x.hostID + x.size);
  return m ? m.containerID + (id - m.hostID) : undefined;
}

/** The process to run: the container's ids, groups, capabilities and environment. */
function processLike(pid: number, args: string[], userns: boolean): { process: Process; setgroupsDenied: boolean } {
  const status = readText(`/proc/${pid}/status`);
  const uidMap = userns ? parseMap(readText(`/proc/${pid}/uid_map`)) : undefined;
  const gidMap = userns ? parseMap(readText(`/proc/${pid}/gid_map`)) : undefined;
  const uid = inside(Number(statusField(status, "Uid").split(/\s+/)[1]), uidMap);
  const gid = inside(Number(statusField(status, "Gid").split(/\s+/)[1]), gidMap);
  if (uid === undefined || gid === undefined) throw new UserError(`exec: the container's user is not mapped in its user namespace`);
  const groups = statusField(status, "Groups")
    .split(/\s+/)
    .filter(Boolean)
    .map((g) => inside(Number(g), gidMap))
    .filter((g): g is number => g !== undefined);
  const caps: Capabilities = {
    bounding: capNames(statusField(status, "CapBnd")),
    effective: capNames(statusField(status, "CapEff")),
    permitted: capNames(statusField(status, "CapPrm")),
    inheritable: capNames(statusField(status, "CapInh")),
    ambient: capNames(statusField(status, "CapAmb")),
  };
  // The container's own environment, its bytes kept (they need not be UTF-8).
  const env = nulEntries(readBytes(`/proc/${pid}/environ`)).filter(Boolean);
  const profile = apparmorEnabled() ? processProfile(pid) : undefined;
  // A container with no label of its own runs in the runtime's context: nothing to ask for.
  const label = selinuxEnabled() ? processLabel(pid) : undefined;
  const ownLabel = label !== undefined ? processLabel(process.pid) : undefined;
  let setgroupsDenied = false;
  try {
    setgroupsDenied = readText(`/proc/${pid}/setgroups`).trim() === "deny";
  } catch {
    // kernels without the file have no such restriction
  }
  return {
    process: {
      user: { uid, gid, ...(groups.length ? { additionalGids: groups } : {}) },
      args,
      env,
      cwd: "/",
      capabilities: caps,
      noNewPrivileges: statusField(status, "NoNewPrivs") === "1",
      ...(profile ? { apparmorProfile: profile } : {}),
      ...(label && label !== ownLabel ? { selinuxLabel: label } : {}),
    },
    setgroupsDenied,
  };
}

/** The container's first process and cgroup: an OCI container by id, else a named `run` container. */
function findTarget(name: string, root: string | undefined): { pid: number; cgroup?: CgroupPaths; seccomp?: LinuxSeccomp; bundle?: string } {
  const oci = ociExecTarget(name, root);
  if (oci) return oci;
  const state = liveState(name);
  if (!state.pid) throw new UserError(`container ${name}: not running yet`);
  return {
    pid: state.pid,
    ...(state.cgroup ? { cgroup: state.cgroup } : {}),
    ...(state.seccomp ? { seccomp: state.seccomp } : {}),
    ...(state.bundle ? { bundle: state.bundle } : {}),
  };
}

/** A container filtered by seccomp whose state doesn't say how: an exec would escape the filter. */
function checkFiltered(name: string, pid: number, seccomp: LinuxSeccomp | undefined): void {
  if (seccomp) return;
  const mode = /^Seccomp:\s*(\d+)/m.exec(readText(`/proc/${pid}/status`))?.[1];
  if (mode === "2") throw new UserError(`exec: container ${name} runs under a seccomp filter its state does not record`);
}

export async function execInContainer(r: ExecRequest): Promise<number> {
  const t = new Tracer(r.trace, r.origin, "exec");
  const { pid, cgroup: paths, seccomp, bundle } = findTarget(r.name, r.root);
  checkFiltered(r.name, pid, seccomp);
  await t.stepAsync("load the native pieces", loadNative);
  const namespaces = foreignNamespaces(pid);
  const target = t.step("read the container's process settings", () => processLike(pid, r.args, namespaces.has("user")));
  // The container's own settings, then what the caller asked for.
  const base = { ...target.process, ...r.process };
  const process: Process = {
    ...base,
    args: r.process?.args ?? r.args,
    env: mergeEnv(base.env ?? [], r.env),
    cwd: r.cwd ?? base.cwd,
    user: r.user ? { uid: r.user.uid, gid: r.user.gid } : base.user,
  };
  if (!process.args.length || !process.args[0]) throw new UserError("exec: no command to run");
  const cgroup = paths ? Cgroup.fromPaths(paths) : undefined;
  // A terminal of its own: its master goes to the console socket (conmon, containerd's
  // shim), or this runtime relays it to the caller's terminal (exec -it).
  const pty = process.terminal && (r.consoleSocket !== undefined || !r.detach) ? t.step("open the terminal", () => openConsole("exec", process)) : undefined;
  const terminal = pty && r.consoleSocket === undefined ? new (await import("./terminal-relay.ts")).TerminalRelay(pty) : undefined;
  const relay = new SignalRelay();
  try {
    const facts = hostFacts();
    const known = seccomp && r.knownFilter?.(seccomp, facts.arch);
    if (seccomp && known) precompiled(seccomp, facts.arch, known);
    const program = compileJoin(
      {
        pid,
        namespaces,
        process,
        setgroupsDenied: target.setgroupsDenied,
        barrier: cgroup !== undefined,
        detached: r.detach,
        terminal: pty?.slave,
        seccomp,
        preserveFds: r.preserveFds,
        cgroupDir: cgroup?.birthDir(),
      },
      facts,
    );
    const child = await launch({ program: () => program, describe: "no new namespaces", userns: false, detached: r.detach, preserveFds: r.preserveFds }, t, {
      // Under the container's limits before the command's first instruction.
      ready: (p) =>
        cgroup && joinTraced(cgroup, p, t, `join the container's cgroup (pid ${p})`, "the process was born in the container's cgroup (CLONE_INTO_CGROUP)"),
      seccompListener: (p, fd) => seccomp && sendListener(seccomp, { id: r.name, bundle: bundle ?? "", status: "running" }, p, fd),
    });
    if (pty && !terminal) sendConsole("exec", r.consoleSocket!, pty.master, child);
    // runc's pid file: the number alone, no newline.
    if (r.pidFile) fs().writeFileSync(r.pidFile, String(child));
    if (r.detach) return 0;
    relay.attach(child);
    terminal?.start();
    const status = await waitExit(child);
    await terminal?.finish();
    return exitCode(status);
  } finally {
    relay.close();
    if (terminal) terminal.restore();
    else if (pty) close(pty.master);
  }
}
