// The process part of a setup program, shared by `run` and `exec`: capabilities,
// groups and ids, the parent-death signal, umask, working directory, descriptors,
// signal mask, and the payload's execve with execvp's PATH search done as steps,
// so "not found" (127) and "cannot execute" (126) stay apart.
import { EACCES, EBADF, EINTR, EINVAL, ELOOP, ENOENT, ENOEXEC, ENOTDIR, EPERM, ETIMEDOUT } from "../../ffi/errno.ts";
import type { Capabilities, Hook, Process } from "../spec/types.ts";
import {
  AT_FDCWD,
  CLOSE_RANGE_CLOEXEC,
  F_OK,
  LINUX_CAPABILITY_VERSION_3,
  openFlags,
  PR,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  SIG_BLOCK,
  SIG_SETMASK,
  SIGCONT,
  SIGKILL,
} from "./abi.ts";
import type { Arch } from "./syscalls.ts";
import { capNumber } from "./capabilities.ts";
import { RLIMITS, rlimitBytes, UNLIMITED } from "./rlimits.ts";
import { allow, onGoto, type Meaning, type ProgramBuilder } from "./program.ts";
import type { CompiledFilter } from "./seccomp/bpf.ts";
import { SECCOMP_SYNC } from "./protocol.ts";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const EXIT_CANNOT_EXEC = 126;
const EXIT_NOT_FOUND = 127;

export interface ProcessPlan {
  process: Process;
  /** OCI startContainer hooks, run in the container just before the payload, with the state (JSON) on their stdin. */
  startHooks?: { hooks: readonly Hook[]; state: string };
  /** linux.personality's domain, as personality(2) takes it (PER_LINUX 0, PER_LINUX32 8). */
  personality?: number;
  /** setgroups(2) is denied in the user namespace: an empty list must not be set. */
  setgroupsDenied: boolean;
  /** The highest capability number the kernel knows. */
  lastCap: number;
  /** Outlives the runtime (`create`, `exec --detach`): no parent-death signal. */
  detached?: boolean;
  /** Waits for `start` (SIGCONT) before the exec, after a sync step (`create`). */
  waitForStart?: boolean;
  /** The container's seccomp filter (linux.seccomp, compiled). */
  seccomp?: CompiledFilter;
  arch: Arch;
  /** --init: the init stays as PID 1 and the payload runs as its child. */
  init?: boolean;
  /** runc's --preserve-fds: descriptors 3 to 3+N-1 stay open across the exec. */
  preserveFds?: number;
}

/**
 * The working directory, resolved inside the process's root with no /proc magic link
 * on the way: a descriptor the init inherited can't make it a host directory
 * (CVE-2024-21626's `-w /proc/self/fd/N`).
 */
function workdir(b: ProgramBuilder, cwd: string, arch: Arch): void {
  const O = openFlags(arch);
  const what = `workdir ${cwd}`;
  const root = b.slot("cwd_root");
  const dir = b.slot("cwd");
  b.call(what, "openat", [b.imm(AT_FDCWD, "AT_FDCWD"), b.str("/"), b.imm(O.PATH | O.DIRECTORY | O.CLOEXEC, "O_PATH|O_DIRECTORY|O_CLOEXEC"), b.imm(0)], {
    out: root,
  });
  const how = new Uint32Array([O.PATH | O.DIRECTORY | O.CLOEXEC, 0, 0, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, 0]);
  b.call(
    what,
    "openat2",
    [b.ref(root), b.str(cwd), b.bytes(new Uint8Array(how.buffer), "{O_PATH|O_DIRECTORY, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS}"), b.imm(24)],
    {
      out: dir,
      meanings: { [ELOOP]: { say: "openat2 (a /proc magic link or a symlink loop on the way)" } },
    },
  );
  b.call(what, "fchdir", [b.ref(dir)]);
  for (const s of [dir, root]) b.call(what, "close", [b.ref(s)], { on: allow(EBADF) });
}

const SECCOMP_SET_MODE_FILTER = 1;

/**
 * Installing a filter needs no_new_privs or CAP_SYS_ADMIN. With either at the end, it
 * goes in last, just before the exec, so no setup step runs filtered; otherwise before
 * anything drops privileges (and the filter must then allow the remaining steps, as
 * docker's profile does).
 */
function seccompLate(p: Process): boolean {
  if (p.noNewPrivileges) return true;
  const caps = p.capabilities;
  if (caps) return (caps.effective ?? []).includes("CAP_SYS_ADMIN") && (caps.permitted ?? []).includes("CAP_SYS_ADMIN");
  return p.user.uid === 0;
}

function loadSeccomp(b: ProgramBuilder, f: CompiledFilter): void {
  const listener = f.notify ? b.slot("seccomp_listener") : undefined;
  b.call(
    "seccomp filter",
    "seccomp",
    [b.imm(SECCOMP_SET_MODE_FILTER, "SECCOMP_SET_MODE_FILTER"), b.imm(f.flags), b.sockFprog(f.filter, `{${f.filter.length / 8} instructions}`)],
    {
      meanings: {
        [EINVAL]: { say: "seccomp (the kernel refused the filter or its flags)" },
        [EACCES]: { say: "seccomp (loading a filter needs no_new_privs or CAP_SYS_ADMIN)" },
      },
      out: listener,
    },
  );
  if (listener === undefined) return;
  // The runtime copies the descriptor out (pidfd_getfd) for the agent; the payload never holds it.
  b.sync(SECCOMP_SYNC, listener);
  b.call("seccomp filter", "close", [b.ref(listener)], { on: allow(EBADF) });
}

/** A capability set as the kernel's two 32-bit words (capset's layout). */
function words(names: readonly string[] | undefined): [number, number] {
  const w: [number, number] = [0, 0];
  for (const n of names ?? []) {
    const c = capNumber(n);
    if (c !== undefined) w[c >> 5] = (w[c >> 5]! | (1 << (c & 31))) >>> 0;
  }
  return w;
}

function capsetData(caps: Capabilities): Uint8Array {
  const [p0, p1] = words(caps.permitted);
  const [e0, e1] = words(caps.effective);
  const [i0, i1] = words(caps.inheritable);
  return new Uint8Array(new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0, (e0 & p0) >>> 0, p0, i0, (e1 & p1) >>> 0, p1, i1]).buffer);
}

/** Steps from the bounding set to the execve. `ready` runs first (the barrier), before anything drops privileges. */
export function compileProcess(b: ProgramBuilder, plan: ProcessPlan): void {
  const p = plan.process;
  const caps = p.capabilities;
  const zero = b.imm(0);
  if (caps) {
    // Cut before the uid changes (that needs CAP_SETPCAP); PR_SET_KEEPCAPS keeps the
    // other sets across a change away from uid 0 until capset below.
    const keep = words(caps.bounding);
    for (let c = 0; c <= plan.lastCap; c++) {
      if (keep[c >> 5]! & (1 << (c & 31))) continue;
      b.call("capabilities: bounding set", "prctl", [b.imm(PR.CAPBSET_DROP, "PR_CAPBSET_DROP"), b.imm(c), zero, zero, zero], { on: allow(EINVAL) });
    }
    b.call("capabilities: bounding set", "prctl", [b.imm(PR.SET_KEEPCAPS, "PR_SET_KEEPCAPS"), b.imm(1), zero, zero, zero]);
  }
  // Raising a hard limit needs CAP_SYS_RESOURCE: set them while the process still has it.
  for (const r of p.rlimits ?? []) {
    const label = r.hard >= UNLIMITED && r.soft >= UNLIMITED ? "unlimited" : `{${r.soft}, ${r.hard}}`;
    b.call(`rlimit ${r.type}`, "prlimit64", [zero, b.imm(RLIMITS[r.type] ?? -1, r.type), b.bytes(rlimitBytes(r.soft, r.hard), label), b.imm(0, "NULL")], {
      meanings: { [EPERM]: { say: "prlimit64 (raising a hard limit needs CAP_SYS_RESOURCE)" } },
    });
  }
  const late = plan.seccomp !== undefined && seccompLate(p);
  if (plan.seccomp && !late) loadSeccomp(b, plan.seccomp);
  const { uid, gid } = p.user;
  const groups = p.user.additionalGids ?? [];
  const who = `user ${uid}:${gid}`;
  // A user namespace with setgroups denied refuses even an empty list.
  if (groups.length || !plan.setgroupsDenied) {
    const list = new Uint32Array(groups.length || 1);
    groups.forEach((g, i) => {
      list[i] = g;
    });
    b.call(who, "setgroups", [b.imm(groups.length), b.bytes(new Uint8Array(list.buffer), `[${groups.join(", ")}]`)]);
  }
  b.call(who, "setresgid", [b.imm(gid), b.imm(gid), b.imm(gid)]);
  b.call(who, "setresuid", [b.imm(uid), b.imm(uid), b.imm(uid)]);
  if (caps) {
    const data = capsetData(caps);
    b.call("capabilities", "capset", [
      b.bytes(data.subarray(0, 8), "{_LINUX_CAPABILITY_VERSION_3, 0}"),
      b.bytes(data.subarray(8), `{${caps.effective?.length ?? 0} effective}`),
    ]);
    b.call("capabilities", "prctl", [b.imm(PR.CAP_AMBIENT, "PR_CAP_AMBIENT"), b.imm(PR.CAP_AMBIENT_CLEAR_ALL, "PR_CAP_AMBIENT_CLEAR_ALL"), zero, zero, zero]);
    // The kernel raises an ambient capability only if it is permitted and inheritable;
    // runc skips the others with a warning (its own default spec lists some); they are skipped here.
    const raisable = new Set((caps.inheritable ?? []).filter((n) => caps.permitted?.includes(n)));
    for (const n of (caps.ambient ?? []).filter((x) => raisable.has(x))) {
      const c = capNumber(n);
      if (c !== undefined)
        b.call("capabilities: ambient", "prctl", [
          b.imm(PR.CAP_AMBIENT, "PR_CAP_AMBIENT"),
          b.imm(PR.CAP_AMBIENT_RAISE, "PR_CAP_AMBIENT_RAISE"),
          b.imm(c, n),
          zero,
          zero,
        ]);
    }
  } else {
    // Capabilities carried across the init's own exec (a user namespace's) stop here.
    b.call("capabilities", "prctl", [b.imm(PR.CAP_AMBIENT, "PR_CAP_AMBIENT"), b.imm(PR.CAP_AMBIENT_CLEAR_ALL, "PR_CAP_AMBIENT_CLEAR_ALL"), zero, zero, zero], {
      on: allow(EINVAL),
    });
  }
  // A uid change clears the parent-death signal; the payload must still die with the runtime.
  if (!plan.detached) b.call("parent-death signal", "prctl", [b.imm(PR.SET_PDEATHSIG, "PR_SET_PDEATHSIG"), b.imm(SIGKILL, "SIGKILL"), zero, zero, zero]);
  if (p.noNewPrivileges) b.call("no_new_privs", "prctl", [b.imm(PR.SET_NO_NEW_PRIVS, "PR_SET_NO_NEW_PRIVS"), b.imm(1), zero, zero, zero]);
  b.call("umask", "umask", [b.imm(p.user.umask ?? 0o022, `0${(p.user.umask ?? 0o022).toString(8)}`)]);
  if (plan.personality !== undefined)
    b.call("linux.personality", "personality", [b.imm(plan.personality, plan.personality ? "PER_LINUX32" : "PER_LINUX")], {
      meanings: { [EINVAL]: { say: "linux.personality (this kernel has no such execution domain)" } },
    });
  workdir(b, p.cwd, plan.arch);
  // Nothing but stdio reaches the payload (the channel closes at the exec: the runtime's signal that it runs).
  b.call("close descriptors", "close_range", [b.imm(3 + (plan.preserveFds ?? 0)), b.imm(0xffffffff, "~0U"), b.imm(CLOSE_RANGE_CLOEXEC, "CLOSE_RANGE_CLOEXEC")]);
  // A created container's runtime is gone by the time start releases it: a listener must reach the agent before.
  const beforeWait = late && plan.seccomp?.notify === true && plan.waitForStart === true;
  if (beforeWait) loadSeccomp(b, plan.seccomp!);
  if (plan.waitForStart) waitForStart(b);
  b.call("signal mask", "rt_sigprocmask", [b.imm(SIG_SETMASK, "SIG_SETMASK"), b.bytes(new Uint8Array(8), "{}"), b.imm(0, "NULL"), b.imm(8)]);
  if (plan.startHooks) startContainerHooks(b, plan.startHooks.hooks, plan.startHooks.state);
  // After the hooks: a forked hook would take the profile along to its own exec.
  if (p.apparmorProfile) apparmor(b, p.apparmorProfile, plan.init === true, plan.arch);
  if (p.selinuxLabel) selinux(b, p.selinuxLabel, plan.arch);
  if (plan.seccomp && late && !beforeWait) loadSeccomp(b, plan.seccomp);
  if (plan.init) {
    // Orphans of the payload's tree come to the init even without a PID namespace of its own.
    b.call("--init", "prctl", [b.imm(PR.SET_CHILD_SUBREAPER, "PR_SET_CHILD_SUBREAPER"), b.imm(1), zero, zero, zero]);
    b.pid1("--init: reap zombies, forward signals");
  }
  compileExec(b, plan);
}

/**
 * AppArmor: the kernel switches the process to the profile at its execve ("exec"),
 * as runc does. With --init the init itself stays as the container's PID 1 and never
 * execs, so it switches at once ("changeprofile") and the payload inherits the profile.
 * The attribute sits under /proc/thread-self/attr/apparmor since Linux 5.8, one level up before.
 */
function apparmor(b: ProgramBuilder, profile: string, now: boolean, arch: Arch): void {
  const attr = now ? "current" : "exec";
  writeAttr(b, `AppArmor profile ${profile}`, [`apparmor/${attr}`, attr], `${now ? "changeprofile" : "exec"} ${profile}`, arch, {
    [ENOENT]: { say: "not loaded (apparmor_parser -r FILE loads it)" },
    [EINVAL]: { say: "the kernel's AppArmor refused the request" },
    [EACCES]: { say: "the process's own profile does not allow the change" },
  });
}

/** SELinux: the context the kernel gives the process at its execve, as runc's SetExecLabel. */
function selinux(b: ProgramBuilder, label: string, arch: Arch): void {
  writeAttr(b, `SELinux label ${label}`, ["exec"], label, arch, {
    [EINVAL]: { say: "not a valid context in the loaded policy" },
    [EACCES]: { say: "the policy does not let the runtime set it" },
  });
}

/** Writes a request to the first of /proc/thread-self/attr/{attrs} that exists. */
function writeAttr(b: ProgramBuilder, what: string, attrs: readonly string[], request: string, arch: Arch, meanings: Record<number, Meaning>): void {
  const O = openFlags(arch);
  const fd = b.slot("attr");
  const opened = b.label("attr opened");
  attrs.forEach((attr, i) => {
    const next = i + 1 < attrs.length ? b.label(`attr ${attrs[i + 1]}`) : undefined;
    b.call(
      what,
      "openat",
      [b.imm(AT_FDCWD, "AT_FDCWD"), b.str(`/proc/thread-self/attr/${attr}`), b.imm(O.WRONLY | O.CLOEXEC, "O_WRONLY|O_CLOEXEC"), b.imm(0)],
      {
        out: fd,
        ...(next ? { on: onGoto(next, ENOENT) } : {}),
        meanings: { [ENOENT]: { say: "open /proc/thread-self/attr (is /proc mounted in the container?)" } },
      },
    );
    if (!next) return;
    b.goto(opened);
    b.place(next);
  });
  b.place(opened);
  const bytes = new TextEncoder().encode(request);
  b.call(what, "write", [b.ref(fd), b.bytes(bytes, JSON.stringify(request)), b.imm(bytes.length)], { meanings });
  b.call(what, "close", [b.ref(fd)], { on: allow(EBADF) });
}

/** OCI startContainer: each hook, in order, after the start and before the payload (its path resolved in the container). */
function startContainerHooks(b: ProgramBuilder, hooks: readonly Hook[], state: string): void {
  const bytes = new TextEncoder().encode(state);
  const stateArg = b.bytes(bytes, "the state (JSON)");
  for (const h of hooks)
    b.hook(
      `startContainer hook ${h.path}`,
      [
        b.str(h.path),
        b.strArray(h.args?.length ? h.args : [h.path], JSON.stringify(h.args ?? [h.path])),
        b.strArray(h.env ?? [], `[${(h.env ?? []).length} variables]`),
        stateArg,
        b.imm(bytes.length),
        b.imm(h.timeout ? h.timeout * 1000 : 0, h.timeout ? `${h.timeout} s` : "no timeout"),
      ],
      { [ETIMEDOUT]: { say: `timed out after ${h.timeout} s (killed)` } },
    );
}

/**
 * A created container waits here, all set up, until `myuts start` sends SIGCONT: no
 * runtime stays behind. The signal is blocked first, so it waits even as a PID
 * namespace's init (the kernel drops default-handled signals to one, not blocked ones).
 */
function waitForStart(b: ProgramBuilder): void {
  syncThenWait(b, "created: wait for start", "created: tell the runtime, which then exits");
}

/** Blocks SIGCONT, tells the runtime at a sync step, then waits for SIGCONT (for good with `forever`). */
export function syncThenWait(b: ProgramBuilder, what: string, syncText: string, forever = false): void {
  const set = b.bytes(new Uint8Array(new Uint32Array([1 << (SIGCONT - 1), 0]).buffer), "{SIGCONT}");
  b.call(what, "rt_sigprocmask", [b.imm(SIG_BLOCK, "SIG_BLOCK"), set, b.imm(0, "NULL"), b.imm(8)]);
  b.sync(syncText);
  const again = b.label("wait");
  b.place(again);
  b.call(what, "rt_sigtimedwait", [set, b.imm(0, "NULL"), b.imm(0, "NULL"), b.imm(8)], { on: onGoto(again, EINTR) });
  if (forever) b.goto(again);
}

function pathOf(env: readonly string[]): string {
  const p = env.findLast((e) => e.startsWith("PATH="));
  return p === undefined ? DEFAULT_PATH : p.slice(5);
}

function compileExec(b: ProgramBuilder, plan: ProcessPlan): void {
  const { args, env = [] } = plan.process;
  const cmd = args[0] ?? "";
  const argv = b.strArray(args, JSON.stringify(args));
  const envp = b.strArray(env, `[${env.length} variables]`);
  const what = `exec ${cmd}`;
  const cannot = { say: "cannot execute", exitCode: EXIT_CANNOT_EXEC };
  if (cmd.includes("/")) {
    const probe = b.label("probe");
    b.call(what, "execve", [b.str(cmd), argv, envp], {
      on: onGoto(probe, ENOENT),
      exitCode: EXIT_CANNOT_EXEC,
      meanings: { [EACCES]: cannot, [ENOEXEC]: cannot },
    });
    // ENOENT for a file that exists means its interpreter or loader is missing.
    b.place(probe);
    b.call(what, "faccessat", [b.imm(AT_FDCWD, "AT_FDCWD"), b.str(cmd), b.imm(F_OK, "F_OK"), b.imm(0)], {
      exitCode: EXIT_NOT_FOUND,
      meanings: { [ENOENT]: { say: "no such file" }, [ENOTDIR]: { say: "no such file" } },
    });
    b.fail(what, ENOENT, { [ENOENT]: { say: "its interpreter or dynamic loader is missing", exitCode: EXIT_NOT_FOUND } });
    return;
  }
  const dirs = pathOf(env).split(":");
  const labels = dirs.map((d) => b.label(d));
  const notFound = b.label("not found");
  dirs.forEach((dir, i) => {
    b.place(labels[i]!);
    const next = labels[i + 1] ?? notFound;
    const candidate = `${dir || "."}/${cmd}`;
    b.call(what, "execve", [b.str(candidate), argv, envp], {
      on: [...onGoto(next, ENOENT, ENOTDIR), { errno: EACCES, react: { record: next } }],
      exitCode: EXIT_CANNOT_EXEC,
      meanings: { [EACCES]: { say: `${candidate}: permission denied` }, [ENOEXEC]: cannot },
    });
  });
  b.place(notFound);
  b.fail(what, ENOENT, { [ENOENT]: { say: "command not found in PATH", exitCode: EXIT_NOT_FOUND } });
}
