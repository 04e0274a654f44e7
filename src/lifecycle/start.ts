// Starts the native init and runs a setup program in it: the runtime's side of
// the channel protocol (src/setup/protocol.ts). The init is cloned into the
// container's namespaces by the spawn helper and exec'd from a sealed memfd.
import { SyscallError } from "../../ffi/errno.ts";
import { readlinkIfLink, readText } from "../../ffi/files.ts";
import { close, kill, pipe, readAll, SIGKILL, setCloexec, socketpair, waitBlocking, waitNoHang, writeAll } from "../../ffi/libc.ts";
import { initMemfd, nativeSpawn } from "../../ffi/native.ts";
import { encodeProgram } from "../setup/encode.ts";
import type { Program, Step } from "../setup/program.ts";
import { decodeRecord, goRecord, RECORD_SIZE, REC, SPAWN_STAGES, SPAWN_STEP, type InitRecord } from "../setup/protocol.ts";
import { hostArch } from "../setup/syscalls.ts";
import { OsError, UserError } from "../util/errors.ts";
import type { Tracer } from "../util/trace.ts";
import { cloneFailure, userNamespaceHint } from "./userns.ts";

export interface Launch {
  program: Program;
  /** CLONE_NEW* flags for the clone, and those the child unshares itself (time). */
  cloneFlags: number;
  unshareFlags: number;
  timensOffsets: string;
  /** Names of the clone's namespaces, for the trace. */
  describe: string;
  /** A new user namespace: the child waits until `idMaps` has written its maps. */
  userns: boolean;
}

export interface LaunchHooks {
  /** The init exists (pid) and waits: write the id maps. */
  idMaps?(pid: number): void;
  /** Runs while the init sets the container up (registry, cgroup); before `ready`. */
  booting?(): Promise<void>;
  /** The program reached its sync step: the runtime's turn (join the cgroup). */
  ready?(pid: number): void;
}

/** Runs `launch` to the payload's execve; resolves to the payload's pid. */
export async function launch(l: Launch, t: Tracer, hooks: LaunchHooks = {}): Promise<number> {
  const [syncR, syncW] = l.userns ? pipe(true) : [-1, -1];
  if (syncW !== -1) setCloexec(syncW);
  const [ours, theirs] = socketpair();
  let memfd = -1;
  let pid: number;
  try {
    memfd = initMemfd();
    pid = t.step(`clone(${l.describe}) → init`, () =>
      nativeSpawn({
        cloneFlags: l.cloneFlags,
        unshareFlags: l.unshareFlags,
        timensOffsets: l.timensOffsets,
        syncFd: syncR,
        errFd: theirs,
        pdeathsig: SIGKILL,
        execFd: memfd,
        keepFd: theirs,
        argv: ["myuts-init", String(theirs)],
        env: [],
      }),
    );
  } catch (e) {
    for (const fd of [ours, syncW]) if (fd !== -1) close(fd);
    if (e instanceof SyscallError && e.syscall === "clone") throw cloneFailure(l.describe, e.errno, l.userns);
    throw e;
  } finally {
    for (const fd of [theirs, memfd, syncR]) if (fd !== -1) close(fd);
  }
  t.note(`init is pid ${pid}`);
  // The process to kill if the start fails: the init, or the payload it forked.
  const live = { pid };
  try {
    if (syncW !== -1) {
      hooks.idMaps?.(pid);
      writeAll(syncW, Buffer.from("1"));
    }
    return await converse(ours, l, live, t, hooks);
  } catch (e) {
    reap(live.pid);
    throw e;
  } finally {
    if (syncW !== -1) close(syncW);
    close(ours);
  }
}

async function converse(chan: number, l: Launch, live: { pid: number }, t: Tracer, hooks: LaunchHooks): Promise<number> {
  try {
    writeAll(chan, encodeProgram(l.program, { arch: hostArch(), trace: t.enabled }));
  } catch {
    // The init died before reading; its FAIL record, if any, says why.
  }
  // The runtime's bookkeeping overlaps the container's setup; records wait in the socket.
  await hooks.booting?.();
  const traced = new TraceGroups(l.program, t);
  try {
    for (;;) {
      const buf = readAll(chan, RECORD_SIZE);
      if (buf.length === 0) return live.pid; // the payload's execve closed the init's end
      if (buf.length < RECORD_SIZE) throw new UserError("the container's init died mid-message");
      const r = decodeRecord(buf);
      switch (r.kind) {
        case REC.TRACE:
          traced.add(r);
          break;
        case REC.READY:
          traced.flush();
          noteInit(t, live.pid);
          hooks.ready?.(live.pid);
          writeAll(chan, goRecord());
          break;
        case REC.PID:
          // The init forked the payload (exec into a PID namespace) and exits; from now on
          // the payload is the one to wait for, or to kill.
          waitBlocking(live.pid);
          live.pid = Number(r.a);
          break;
        case REC.FAIL:
          traced.flush();
          throw stepFailure(l, r);
        default:
          throw new UserError(`the container's init sent an unknown record (kind ${r.kind})`);
      }
    }
  } finally {
    traced.flush();
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

function stepFailure(l: Launch, r: InitRecord): OsError {
  if (r.step >= SPAWN_STEP) return new OsError("start the container's init", r.errno, { syscall: SPAWN_STAGES[r.step - SPAWN_STEP] ?? "spawn" });
  const step: Step | undefined = l.program.steps[r.step];
  if (!step) return new OsError("setup program", r.errno, { syscall: `step ${r.step}` });
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
