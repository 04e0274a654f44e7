// Starts the native init and runs a setup program in it: the runtime's side of
// the channel protocol (src/setup/protocol.ts). The spawn helper starts the init
// from a sealed memfd; the init clones the container's first process into its
// namespaces while the runtime compiles the program that process runs.
import { readlinkIfLink, readText } from "../../ffi/files.ts";
import { close, kill, pidfdGetfd, readAll, SIGKILL, socketpair, waitBlocking, waitNoHang, writeAll } from "../../ffi/libc.ts";
import { initMemfd, nativeSpawn } from "../../ffi/native.ts";
import { encodeProgram } from "../setup/encode.ts";
import type { Program, Step } from "../setup/program.ts";
import { decodeRecord, goRecord, HOOKS_SYNC, RECORD_SIZE, SECCOMP_SYNC, REC, SPAWN_STAGES, SPAWN_STEP, type InitRecord } from "../setup/protocol.ts";
import { hostArch } from "../setup/syscalls.ts";
import { OsError, UserError } from "../util/errors.ts";
import type { Tracer } from "../util/trace.ts";
import { cloneFailure, userNamespaceHint } from "./userns.ts";
import { describeStatus, exitStatusOf, signalOf } from "../util/wait-status.ts";

export interface Launch {
  /**
   * What the init runs first, sent as soon as it exists: the clone of the container's
   * first process into its new namespaces (absent when nothing is cloned).
   */
  prelude?: Program;
  /** The setup program, compiled while the init clones (given the container's pid, after it, when `needsPid`). */
  program: (pid?: number) => Program;
  /** The program names the container's pid (the startContainer hooks' state): compiled once it is known. */
  needsPid?: boolean;
  /** Names of the clone's namespaces, for messages. */
  describe: string;
  /** A new user namespace: its first process waits until `idMaps` has written its maps. */
  userns: boolean;
  /** The container outlives this runtime (`create`): no parent-death signal. */
  detached?: boolean;
  /** The container's stdin, stdout and stderr, when not the runtime's own. */
  stdio?: readonly [number, number, number];
  /** runc's --preserve-fds: descriptors 3 to 3+N-1 reach the payload. */
  preserveFds?: number;
  /**
   * A detached container's output pipes (read ends), for the monitor the prelude forks:
   * it becomes the container's parent and outlives this runtime.
   */
  logPipes?: readonly [number, number];
}

export interface LaunchHooks {
  /** The container's first process exists (pid) and waits: write the id maps. */
  idMaps?(pid: number): void;
  /** A detached container's monitor (`monitor`) has cloned it (`pid`). */
  monitored?(monitor: number, pid: number): void;
  /**
   * After `idMaps`, before the process gets its setup program: its namespaces exist and
   * nothing runs in them yet (a user-mode network is attached here).
   */
  cloned?(pid: number): Promise<void>;
  /** Runs while the init sets the container up (registry, cgroup); before `ready`. */
  booting?(): Promise<void>;
  /** The program reached its sync step: the runtime's turn (join the cgroup). */
  ready?(pid: number): void;
  /** The program reached its hooks step (after the mounts, before pivot_root): run the create hooks. */
  hooksStep?(pid: number): void;
  /** The seccomp filter's listener (a descriptor this runtime owns until the hook returns): hand it to the agent. */
  seccompListener?(pid: number, fd: number): void;
  /**
   * The program reached its last sync step, where a created container waits for `start`:
   * record it. `launch` then returns, leaving the container waiting.
   */
  created?(pid: number): void;
}

/** Where a conversation with the init stands. */
interface Session {
  chan: number;
  /** The process to kill if the start fails: the init, or the process it forked. */
  pid: number;
  /** A detached container's monitor (this runtime's child, the container's parent). */
  monitor?: number;
  /** The program whose steps the records name. */
  program: Program;
  l: Launch;
  t: Tracer;
}

/** Runs `launch` to the payload's execve; resolves to the payload's pid. */
export async function launch(l: Launch, t: Tracer, hooks: LaunchHooks = {}): Promise<number> {
  const [ours, theirs] = socketpair();
  let memfd = -1;
  let pid: number;
  try {
    memfd = initMemfd();
    pid = t.step("spawn the init", () =>
      nativeSpawn({
        errFd: theirs,
        pdeathsig: l.detached ? 0 : SIGKILL,
        execFd: memfd,
        keepFd: theirs,
        argv: ["myuts-init", String(theirs)],
        env: [],
        stdio: l.stdio,
        preserveFds: l.preserveFds,
        extra: l.logPipes,
      }),
    );
  } catch (e) {
    close(ours);
    throw e;
  } finally {
    for (const fd of [theirs, memfd]) if (fd !== -1) close(fd);
  }
  t.note(`init is pid ${pid}`);
  const s: Session = { chan: ours, pid, program: l.prelude ?? { steps: [], data: new Uint8Array(), relocs: [], slotNames: [] }, l, t };
  // A detached container's monitor is the init this runtime spawned (it forks the rest).
  if (l.logPipes) s.monitor = pid;
  try {
    if (l.prelude) send(s, l.prelude);
    let program = l.needsPid ? undefined : t.step("compile the setup program", () => l.program());
    if (l.prelude) {
      // The init clones the container's first process meanwhile; it reports its pid.
      await converse(s, hooks, true);
      t.note(`the container's first process is pid ${s.pid}`);
      hooks.idMaps?.(s.pid);
      await hooks.cloned?.(s.pid);
    }
    program ??= t.step("compile the setup program", () => l.program(s.pid));
    send(s, program);
    // The runtime's bookkeeping overlaps the container's setup; records wait in the socket.
    await hooks.booting?.();
    return await converse(s, hooks, false);
  } catch (e) {
    // The monitor first: it must not run the exit command for a start that failed.
    if (s.monitor !== undefined) reap(s.monitor);
    reap(s.pid);
    throw e;
  } finally {
    close(ours);
  }
}

function send(s: Session, program: Program): void {
  s.program = program;
  try {
    writeAll(s.chan, encodeProgram(program, { arch: hostArch(), trace: s.t.enabled }));
  } catch {
    // The init died before reading; its FAIL record, if any, says why.
  }
}

/**
 * Reads the init's records: until the payload's execve closes the channel (resolves to
 * the payload's pid), or with `untilPid` until the init reports the process it forked.
 */
async function converse(s: Session, hooks: LaunchHooks, untilPid: boolean): Promise<number> {
  const traced = new TraceGroups(s.program, s.t);
  let syncsLeft = s.program.steps.filter((x) => x.op === "sync").length;
  // A forked child may reach its sync step before its parent has reported it (both write to
  // the channel): its READY waits for that PID record, or the runtime would act on the parent.
  let forked = 0;
  let early: InitRecord | undefined;
  const forksBefore = (step: number) => s.program.steps.slice(0, step).filter((x) => x.op === "fork" && !x.parent).length;
  /** A sync step's turn; the pid to return with when the container now waits for `start`. */
  const onReady = (r: InitRecord): number | undefined => {
    traced.flush();
    noteInit(s.t, s.pid);
    const what = s.program.steps[r.step]?.what;
    --syncsLeft;
    if (what === HOOKS_SYNC) hooks.hooksStep?.(s.pid);
    else if (what === SECCOMP_SYNC) passListener(s, hooks, Number(r.a));
    else if (syncsLeft === 0 && hooks.created) {
      hooks.created(s.pid);
      writeAll(s.chan, goRecord());
      return s.pid;
    } else hooks.ready?.(s.pid);
    writeAll(s.chan, goRecord());
    return undefined;
  };
  try {
    for (;;) {
      const buf = readAll(s.chan, RECORD_SIZE);
      if (buf.length === 0) {
        if (untilPid) throw new UserError("the container's init died before it cloned the container");
        return s.pid; // the payload's execve closed the init's end
      }
      if (buf.length < RECORD_SIZE) throw new UserError("the container's init died mid-message");
      const r = decodeRecord(buf);
      switch (r.kind) {
        case REC.TRACE:
          traced.add(r);
          break;
        case REC.READY: {
          if (forked < forksBefore(r.step)) {
            early = r;
            break;
          }
          const created = onReady(r);
          if (created !== undefined) return created;
          break;
        }
        case REC.PID: {
          // The monitor's fork reports the process that clones the container (the monitor's
          // child, not ours). It and the clone report from two processes, in either order, and
          // the monitor's may come after the setup program was sent: both are prelude steps,
          // and the prelude step that sent the record says which is which.
          const from = (s.l.logPipes ? s.l.prelude : s.program)?.steps[r.step];
          if (s.l.logPipes && from?.op === "fork" && from.parent) break;
          // The init cloned or forked the container's process and exits; from now on that
          // process is the one to wait for, or to kill.
          if (s.monitor === undefined) waitBlocking(s.pid);
          s.pid = Number(r.a);
          forked++;
          if (s.monitor !== undefined) hooks.monitored?.(s.monitor, s.pid);
          if (untilPid) return s.pid;
          if (early && forked >= forksBefore(early.step)) {
            const ready = early;
            early = undefined;
            const created = onReady(ready);
            if (created !== undefined) return created;
          }
          break;
        }
        case REC.FAIL:
          traced.flush();
          throw stepFailure(s, r);
        default:
          throw new UserError(`the container's init sent an unknown record (kind ${r.kind})`);
      }
    }
  } finally {
    traced.flush();
  }
}

function passListener(s: Session, hooks: LaunchHooks, fd: number): void {
  if (!hooks.seccompListener) throw new UserError("linux.seccomp: SCMP_ACT_NOTIFY needs a listener, and this command has none to hand it to");
  const ours = s.t.step("take the seccomp listener", () => pidfdGetfd(s.pid, fd));
  try {
    hooks.seccompListener(s.pid, ours);
  } finally {
    close(ours);
  }
}

/** With --trace: what the waiting init costs, as the kernel reports it. */
function noteInit(t: Tracer, pid: number): void {
  if (!t.enabled) return;
  try {
    const rss = /VmRSS:\s*(\d+ kB)/.exec(readText(`/proc/${pid}/status`))?.[1];
    t.note(`init waits at the barrier: VmRSS ${rss ?? "?"}, exe ${readlinkIfLink(`/proc/${pid}/exe`) ?? "?"}`);
  } catch {
    // it may already be gone; the next record says why
  }
}

function stepFailure(s: Session, r: InitRecord): OsError | UserError {
  const l = s.l;
  if (r.step >= SPAWN_STEP) return new OsError("start the container's init", r.errno, { syscall: SPAWN_STAGES[r.step - SPAWN_STEP] ?? "spawn" });
  const step: Step | undefined = s.program.steps[r.step];
  // The prelude's clone is where the kernel refuses new namespaces: say which knob.
  if (s.program === l.prelude && step?.op === "fork") return cloneFailure(l.describe, r.errno, l.userns);
  if (!step) return new OsError("setup program", r.errno, { syscall: `step ${r.step}` });
  // A hook that ran and failed: its wait status, in the record's value.
  if (step.op === "hook" && r.errno === 0) {
    const status = Number(r.a);
    const notFound = exitStatusOf(status) === 127 && !signalOf(status) ? " (127: not found in the container, or it could not run)" : "";
    return new UserError(`${step.what}: ${describeStatus(status)}${notFound}; a startContainer hook must exit 0`);
  }
  const meaning = step.meanings?.[r.errno];
  return new OsError(step.what, r.errno, {
    syscall: step.op === "syscall" ? step.call : step.op,
    say: meaning?.say,
    exitCode: meaning?.exitCode ?? step.exitCode,
    hint: l.userns ? userNamespaceHint(r.errno) : undefined,
  });
}

/** Trace lines per step; consecutive steps with the same purpose become one line. */
class TraceGroups {
  private what = "";
  private start = 0;
  private end = 0;
  constructor(
    private readonly program: Program,
    private readonly t: Tracer,
  ) {}

  add(r: InitRecord): void {
    const what = this.program.steps[r.step]?.what ?? `step ${r.step}`;
    const start = Number(r.a) / 1e6;
    const end = Number(r.b) / 1e6;
    if (what !== this.what) {
      this.flush();
      this.what = what;
      this.start = start;
    }
    this.end = end;
  }

  flush(): void {
    if (this.what) this.t.span(this.what, this.start, this.end - this.start, "init");
    this.what = "";
  }
}

export function reap(pid: number): void {
  kill(pid, SIGKILL);
  for (;;) {
    try {
      if (waitNoHang(pid)) return;
    } catch {
      return;
    }
    Bun.sleepSync(1);
  }
}
