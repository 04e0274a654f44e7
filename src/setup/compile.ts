// Compiles a validated OCI spec into the setup program the native init runs: the
// prelude, which clones the container's first process, and the program that builds the
// container in its new namespaces (exec's program, which enters a running one, is join.ts).
import { CLONE, F_SETFD, FD_CLOEXEC } from "../../ffi/libc.ts";
import { compileSeccomp } from "./seccomp/bpf.ts";
import { SETGROUPS_ANNOTATION, type IDMapping, type Mount, type NamespaceType, type ValidSpec } from "../spec/types.ts";
import { AF_INET, AT_FDCWD, IFF_UP, O_NOCTTY, openFlags, PR, SIGKILL, SIOCSIFFLAGS, SOCK_CLOEXEC, SOCK_DGRAM } from "./abi.ts";
import { compileMounts } from "./mounts.ts";
import { overlayData } from "./mount-options.ts";
import { HOOKS_SYNC } from "./protocol.ts";
import { cloneFlagNames, NS_FLAG } from "./namespaces.ts";
import { compileProcess } from "./process.ts";
import { compileIdmappedMounts, type IdmappedMount } from "./idmap.ts";
import { allow, type Label, ProgramBuilder, type Program } from "./program.ts";
import { JOIN_ORDER, newSessionKeyring, openCgroup, openTerminal, takeTerminal } from "./steps.ts";
import type { Arch } from "./syscalls.ts";
import { encodeEscaped } from "../../ffi/bytes.ts";
import { EBADF, EINVAL } from "../../ffi/errno.ts";

/** What the compiler needs to know of the host. */
export interface SetupFacts {
  arch: Arch;
  /** The terminal on the runtime's stdin, which the container inherits: it becomes /dev/console. */
  tty?: string;
  lastCap: number;
  isDirectory(path: string): boolean;
  /** A container path with the root's symlinks resolved inside it (see MountPlan.canonical). */
  canonical(root: string, dest: string): string;
  /** Whether the host's cgroups are the unified (v2) hierarchy alone (asked only for a spec's cgroup mount). */
  isCgroup2?(): boolean;
}

/**
 * A spec's "cgroup" mount, as runc reads it: on cgroup v2 a cgroup2 filesystem (its
 * root is the container's own when it has a cgroup namespace); otherwise (v1, or a
 * user namespace without a cgroup namespace, where the kernel refuses the mount) the
 * host's /sys/fs/cgroup tree bound with the mount's options, read-only all the way down.
 */
function cgroupMount(m: Mount, facts: SetupFacts, userns: boolean, cgroupns: boolean): Mount {
  const options = (m.options ?? []).filter((o) => o !== "bind" && o !== "rbind");
  if (facts.isCgroup2?.() && (!userns || cgroupns)) return { ...m, type: "cgroup2", source: "cgroup2", options };
  return { destination: m.destination, type: "bind", source: "/sys/fs/cgroup", options: ["rbind", ...options] };
}

export interface RunOptions {
  /** Stop before anything drops privileges until the runtime's go-ahead (it joins the cgroup then). */
  barrier: boolean;
  /** Create the cgroup namespace after the barrier, once inside the container's cgroup. */
  cgroupnsAfterBarrier: boolean;
  /**
   * A container that outlives the runtime (`create`): no parent-death signal, and it waits
   * for `start` (SIGCONT) just before the payload's exec, after telling the runtime at a sync step.
   */
  detached?: boolean;
  /** A new time namespace, and its offsets (/proc/self/timens_offsets' format; "" for none). */
  newTime?: boolean;
  /** Stop after the mounts, before pivot_root, for the runtime's create hooks. */
  hooks?: boolean;
  /** runc's --no-pivot: MS_MOVE and chroot instead of pivot_root. */
  noPivot?: boolean;
  /** The state (JSON) the spec's startContainer hooks get on their stdin. */
  hookState?: string;
  /** Join a new session keyring of this name: the caller's keys stay out of reach. */
  keyring?: string;
  /** --init: a tiny PID 1 (the init itself) reaps and forwards signals; the payload is its child. */
  init?: boolean;
  /** runc's --preserve-fds: descriptors 3 to 3+N-1 stay open for the payload. */
  preserveFds?: number;
  /** process.terminal: the runtime's pty slave (its path in the runtime's /dev/pts), the payload's stdio and /dev/console. */
  terminal?: string;
  timensOffsets?: string;
  /** Mounts the prelude made idmapped, by index in spec.mounts: the descriptor each waits on. */
  idmapped?: ReadonlyMap<number, number>;
}

const maps = (m: readonly IDMapping[] | undefined, id: number) => (m ?? []).some((x) => id >= x.containerID && id < x.containerID + x.size);

function newNamespaces(spec: ValidSpec): Set<NamespaceType> {
  return new Set(spec.linux.namespaces.filter((n) => !n.path).map((n) => n.type));
}

/**
 * What the init runs first, before the setup program is even compiled: it clones the
 * container's first process into its new namespaces (the kernel's slowest part of a
 * start, now beside the runtime's compiling), and that process waits for the program.
 */
/** A detached container's monitor: where its output and exit code go, and what runs after it. */
export interface MonitorPlan {
  log: string;
  /** Where the log moves when it reaches `maxBytes` (the one before is dropped). */
  rotated: string;
  maxBytes: number;
  exitFile: string;
  exitCommand?: { argv: readonly string[]; env: readonly string[] };
  /**
   * A terminal container's: the pty slave's path. Descriptor 3 is then the master and 4
   * the attach socket; the monitor holds the slave open until the container has ended.
   */
  terminal?: string;
}

export function compilePrelude(
  flags: number,
  describe: string,
  joins: readonly { type: NamespaceType; path: string }[] = [],
  arch: Arch = "x64",
  monitor?: MonitorPlan,
  cgroupDir?: string,
  idmapped: readonly IdmappedMount[] = [],
): Program {
  const b = new ProgramBuilder();
  // A detached container's monitor forks first, in the runtime's namespaces: the exit
  // command it becomes must not run in a namespace the container joins.
  const monitorAt = monitor ? b.label("monitor") : undefined;
  if (monitorAt) {
    // A session of its own, which the container inherits: the caller's terminal and job control no longer reach either.
    b.call("detach: a session of its own", "setsid", []);
    b.fork("fork the monitor", 0, monitorAt);
  }
  // Namespaces joined by path first (all opened before the first setns, the user namespace
  // joined first): a PID or time namespace takes only children, and the new namespaces
  // the clone makes belong to the joined user namespace.
  const O = openFlags(arch);
  // Before a joined mount namespace changes what its path means.
  const cgroup = openCgroup(b, O, cgroupDir);
  const order = JOIN_ORDER.filter((t) => joins.some((j) => j.type === t));
  for (const t of order) {
    const path = joins.find((j) => j.type === t)!.path;
    b.call(
      `join the ${t} namespace ${path}`,
      "openat",
      [b.imm(AT_FDCWD, "AT_FDCWD"), b.str(path), b.imm(O.RDONLY | O.CLOEXEC, "O_RDONLY|O_CLOEXEC"), b.imm(0)],
      {
        out: b.slot(`ns_${t}`),
      },
    );
  }
  for (const t of order) {
    const path = joins.find((j) => j.type === t)!.path;
    b.call(`join the ${t} namespace ${path}`, "setns", [b.ref(b.slot(`ns_${t}`)), b.imm(NS_FLAG[t], cloneFlagNames(NS_FLAG[t]))]);
  }
  // In the runtime's namespaces (or the joined ones), before the container loses the privilege.
  compileIdmappedMounts(b, idmapped, arch);
  b.fork(`clone(${describe})`, flags, undefined, cgroup);
  b.load("wait for the setup program");
  if (monitor && monitorAt) monitorSteps(b, monitor, monitorAt, arch);
  return b.build();
}

/** The monitor's branch: its own session, /dev/null (its stdin) for its output, then the monitor loop. */
function monitorSteps(b: ProgramBuilder, m: MonitorPlan, at: Label, arch: Arch): void {
  b.place(at);
  for (const fd of [1, 2]) b.call("monitor: its own output to /dev/null", "dup3", [b.imm(0), b.imm(fd), b.imm(0)]);
  for (const fd of [3, 4]) b.call("monitor: the log pipes close on exec", "fcntl", [b.imm(fd), b.imm(F_SETFD, "F_SETFD"), b.imm(FD_CLOEXEC, "FD_CLOEXEC")]);
  const O = openFlags(arch);
  if (m.terminal !== undefined) {
    b.call(
      "monitor: hold the terminal's other end",
      "openat",
      [b.imm(AT_FDCWD, "AT_FDCWD"), b.str(m.terminal), b.imm(O.RDWR | O_NOCTTY | O.CLOEXEC, "O_RDWR|O_NOCTTY|O_CLOEXEC"), b.imm(0)],
      { out: b.slot("slave") },
    );
    // At 5, where the monitor looks for it (EINVAL: it is there already).
    b.call("monitor: hold the terminal's other end", "dup3", [b.ref(b.slot("slave")), b.imm(5), b.imm(O.CLOEXEC, "O_CLOEXEC")], { on: allow(EINVAL) });
  }
  const cmd = m.exitCommand;
  b.monitor("monitor: log the output, record the exit code", [
    m.terminal !== undefined
      ? b.imm((3 | (4 << 16)) + 5 * 2 ** 32, "master 3 | attach socket 4 << 16 | slave 5 << 32")
      : b.imm(3 | (4 << 16), "stdout 3 | stderr 4 << 16"),
    b.bytes(new TextEncoder().encode(`${m.log}\0${m.rotated}\0`), `${JSON.stringify(m.log)}, ${JSON.stringify(m.rotated)}`),
    b.imm(m.maxBytes),
    b.str(m.exitFile),
    cmd ? b.strArray(cmd.argv, JSON.stringify(cmd.argv)) : b.imm(0, "no exit command"),
    cmd ? b.strArray(cmd.env, "the exit command's environment") : b.imm(0),
  ]);
}

export function compileRun(spec: ValidSpec, facts: SetupFacts, opts: RunOptions): Program {
  const b = new ProgramBuilder();
  const ns = newNamespaces(spec);
  const userns = ns.has("user");
  const zero = b.imm(0);
  // The runtime is this process's parent (CLONE_PARENT), or a detached container's monitor: the container dies with it.
  if (!opts.detached) b.call("parent-death signal", "prctl", [b.imm(PR.SET_PDEATHSIG, "PR_SET_PDEATHSIG"), b.imm(SIGKILL, "SIGKILL"), zero, zero, zero]);
  if (opts.newTime) timeNamespace(b, facts, opts.timensOffsets ?? "");
  b.call("umask", "umask", [b.imm(0)]);
  // The init starts with the caller's uid, which a range mapping may leave unmapped, and
  // the kernel refuses to create files for an unmapped owner: root inside, when mapped,
  // owns what the setup creates, as with runc.
  if (userns && maps(spec.linux.uidMappings, 0) && maps(spec.linux.gidMappings, 0)) {
    b.call("user namespace: become root", "setresgid", [b.imm(0), b.imm(0), b.imm(0)]);
    b.call("user namespace: become root", "setresuid", [b.imm(0), b.imm(0), b.imm(0)]);
  }
  if (opts.keyring !== undefined) newSessionKeyring(b, opts.keyring);
  for (const [what, call, name] of [
    ["--hostname", "sethostname", spec.hostname],
    ["--domainname", "setdomainname", spec.domainname],
  ] as const) {
    if (name === undefined) continue;
    const bytes = encodeEscaped(name);
    b.call(what, call, [b.str(bytes), b.imm(bytes.length)]);
  }
  if (ns.has("network")) loopbackUp(b);
  // Before the mounts, through the runtime's /proc: a sysctl file shows the writer's
  // namespaces whichever procfs holds it, and the container's /proc/sys turns read-only.
  for (const [key, value] of Object.entries(spec.linux.sysctl ?? {})) writeSysctl(b, facts.arch, key, value);
  // Opened while the runtime's /dev/pts is still reachable (before pivot_root).
  const tty = opts.terminal ? openTerminal(b, facts.arch, opts.terminal) : undefined;
  if (ns.has("mount")) {
    compileMounts(b, {
      root: spec.root.path,
      overlay:
        spec.root.overlay && !spec.root.overlay.copy
          ? [overlayData(spec.root.overlay, userns), ...(spec.linux.mountLabel ? [`context="${spec.linux.mountLabel}"`] : [])].join(",")
          : undefined,
      readonly: spec.root.readonly === true,
      propagation: spec.linux.rootfsPropagation,
      mounts: (spec.mounts ?? []).map((m) => (m.type === "cgroup" ? cgroupMount(m, facts, userns, ns.has("cgroup")) : m)),
      maskedPaths: spec.linux.maskedPaths ?? [],
      readonlyPaths: spec.linux.readonlyPaths ?? [],
      ...(spec.linux.mountLabel ? { mountLabel: spec.linux.mountLabel } : {}),
      ...(opts.idmapped?.size ? { idmapped: opts.idmapped } : {}),
      devices: spec.linux.devices ?? [],
      syncBeforePivot: opts.hooks ? HOOKS_SYNC : undefined,
      noPivot: opts.noPivot,
      userns,
      cwd: spec.root.path !== "/" ? spec.process.cwd : undefined,
      tty: opts.terminal ?? facts.tty,
      arch: facts.arch,
      isDirectory: facts.isDirectory,
      canonical: (dest) => facts.canonical(spec.root.path, dest),
    });
  }
  if (opts.hooks && !ns.has("mount")) b.sync(HOOKS_SYNC);
  if (opts.barrier) b.sync("ready; wait for the runtime's go-ahead");
  // A cgroup namespace's root is its creator's cgroup at that moment: now the container's.
  if (opts.cgroupnsAfterBarrier) b.call("cgroup namespace", "unshare", [b.imm(CLONE.NEWCGROUP, "CLONE_NEWCGROUP")]);
  if (tty !== undefined) takeTerminal(b, tty);
  compileProcess(b, {
    process: spec.process,
    ...(spec.linux.personality ? { personality: spec.linux.personality.domain === "LINUX32" ? 8 : 0 } : {}),
    ...(spec.hooks?.startContainer?.length ? { startHooks: { hooks: spec.hooks.startContainer, state: opts.hookState ?? "{}" } } : {}),
    setgroupsDenied: spec.annotations?.[SETGROUPS_ANNOTATION] === "deny",
    lastCap: facts.lastCap,
    detached: opts.detached,
    waitForStart: opts.detached,
    init: opts.init,
    preserveFds: opts.preserveFds,
    arch: facts.arch,
    seccomp: spec.linux.seccomp ? compileSeccomp(spec.linux.seccomp, facts.arch) : undefined,
  });
  return b.build();
}

/**
 * A time namespace takes effect at the payload's execve, and its offsets must be
 * written before any process is in it: unshare, then write them.
 */
function timeNamespace(b: ProgramBuilder, facts: SetupFacts, offsets: string): void {
  const O = openFlags(facts.arch);
  const fd = b.slot("timens");
  b.call("time namespace", "unshare", [b.imm(NS_FLAG.time, "CLONE_NEWTIME")]);
  if (!offsets) return;
  const what = "time namespace: offsets";
  b.call(what, "openat", [b.imm(AT_FDCWD, "AT_FDCWD"), b.str("/proc/self/timens_offsets"), b.imm(O.WRONLY | O.CLOEXEC, "O_WRONLY|O_CLOEXEC"), b.imm(0)], {
    out: fd,
  });
  const bytes = Buffer.from(offsets);
  b.call(what, "write", [b.ref(fd), b.bytes(bytes, JSON.stringify(offsets)), b.imm(bytes.length)]);
  b.call(what, "close", [b.ref(fd)], { on: allow(EBADF) });
}

function writeSysctl(b: ProgramBuilder, arch: Arch, key: string, value: string): void {
  const O = openFlags(arch);
  const fd = b.slot("sysctl");
  const what = `sysctl ${key}`;
  const bytes = encodeEscaped(value);
  b.call(
    what,
    "openat",
    [b.imm(AT_FDCWD, "AT_FDCWD"), b.str(`/proc/sys/${key.replace(/\./g, "/")}`), b.imm(O.WRONLY | O.CLOEXEC, "O_WRONLY|O_CLOEXEC"), b.imm(0)],
    {
      out: fd,
    },
  );
  b.call(what, "write", [b.ref(fd), b.str(bytes), b.imm(bytes.length)]);
  b.call(what, "close", [b.ref(fd)], { on: allow(EBADF) });
}

/** lo in a new network namespace is down; SIOCSIFFLAGS with IFF_UP brings it up (the kernel keeps the flags it owns). */
function loopbackUp(b: ProgramBuilder): void {
  const sock = b.slot("socket");
  const ifr = new Uint8Array(40);
  ifr.set(Buffer.from("lo"));
  new DataView(ifr.buffer).setInt16(16, IFF_UP, true);
  b.call("network: lo", "socket", [b.imm(AF_INET, "AF_INET"), b.imm(SOCK_DGRAM | SOCK_CLOEXEC, "SOCK_DGRAM|SOCK_CLOEXEC"), b.imm(0)], { out: sock });
  b.call("network: lo", "ioctl", [b.ref(sock), b.imm(SIOCSIFFLAGS, "SIOCSIFFLAGS"), b.bytes(ifr, '{"lo", IFF_UP}')]);
  b.call("network: lo", "close", [b.ref(sock)], { on: allow(EBADF) });
}
