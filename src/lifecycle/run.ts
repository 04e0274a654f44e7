// The engine: starts any OCI spec's process in its namespaces and waits for it.
// Parent side of the two stages: clone (native) → init stage (src/init) → payload.
import { SyscallError, errnoText } from "../../ffi/errno.ts";
import { CLONE, close, kill, pipe, readAll, setCloexec, waitNoHang, writeAll } from "../../ffi/libc.ts";
import { loadNative, nativeSpawn, SPAWN_STAGES } from "../../ffi/native.ts";
import type { Spec } from "../spec/types.ts";
import { validateSpec } from "../spec/validate.ts";
import { EXIT_RUNTIME, UserError } from "../util/errors.ts";
import { Tracer } from "../util/trace.ts";
import { BARRIER_GO, BARRIER_READY, type InitEnvelope, type InitFailure } from "./envelope.ts";
import { cloneFlags, flagNames, timensOffsets } from "./namespaces.ts";
import { needsBarrier } from "../cgroups/policy.ts";
import { initCommand } from "./self.ts";
import { SignalRelay } from "./signals.ts";
import { cloneFailure, explainUserNamespaceFailure, planUserNamespace, writeUserNamespaceMaps } from "./userns.ts";

export interface RunSettings {
  trace: boolean;
  debug: boolean;
  origin: number;
  /** The container's name in the state registry; random when absent. */
  name?: string;
  /** Register the container even without a cgroup (it was named, so it can be addressed). */
  register?: boolean;
}

/** What other parts of the lifecycle (cgroups, state) attach to a container's start. */
export interface ContainerHooks {
  /** Right after the clone, while the init stage boots (claim the name, create the cgroup). A failure still runs cleanup. */
  prepare?(): void;
  /** The container is built and the init stage waits; runs before the payload's execve. */
  beforeExec?(pid: number): void;
  /** The payload runs. */
  started?(pid: number): void;
  /** The payload exited: a line explaining why (out of memory), and the exit code to give. */
  afterExit?(status: number): ExitNote | undefined;
  /** After the payload exited (status) or the start failed (undefined). Always runs. */
  cleanup?(status: number | undefined): void;
}

export interface ExitNote {
  message: string;
  exitCode?: number;
}

const SIGKILL = 9;

/** Runs the container to completion; resolves to the exit code docker would give. */
export async function runSpec(spec: Spec, s: RunSettings, extra: ContainerHooks = {}): Promise<number> {
  const t = new Tracer(s.trace, s.origin, "run");
  validateSpec(spec);
  // The registry and cgroup code loads while the init stage boots, off the start path.
  let hooks: ContainerHooks = extra;
  const attach = async (): Promise<ContainerHooks> => {
    const { combineHooks, containerHooks } = await import("./registry-hooks.ts");
    hooks = combineHooks(containerHooks(spec, { name: s.name, register: s.register, t }), extra);
    hooks.prepare?.();
    return hooks;
  };
  let status: number | undefined;
  let note: ExitNote | undefined;
  const relay = new SignalRelay();
  try {
    await t.stepAsync("load the native spawn helper", loadNative);
    const pid = await startInit(spec, s, t, needsBarrier(spec) || extra.beforeExec !== undefined, attach);
    relay.attach(pid);
    hooks.started?.(pid);
    status = await waitExit(pid);
    t.note(`payload exited: ${describeStatus(status)}`);
    note = hooks.afterExit?.(status);
  } finally {
    relay.close();
    hooks.cleanup?.(status);
  }
  if (note) process.stderr.write(`myuts: ${note.message}\n`);
  return note?.exitCode ?? exitCode(status);
}

/**
 * Spawns the init stage and returns once the payload has been exec'd. `attach`
 * runs right after the clone, while the init stage boots, and gives the hooks.
 */
async function startInit(spec: Spec, s: RunSettings, t: Tracer, barrier: boolean, attach: () => Promise<ContainerHooks>): Promise<number> {
  const { clone, unshare } = cloneFlags(spec);
  const userns = (clone & CLONE.NEWUSER) !== 0;
  const plan = userns ? t.step("plan the user namespace's id maps", () => planUserNamespace(spec)) : undefined;
  // With a user namespace the child waits on this pipe until its maps are written.
  const [syncR, syncW] = userns ? pipe(true) : [-1, -1];
  if (syncW !== -1) setCloexec(syncW);
  const [specR, specWrite] = pipe(true);
  let specW = specWrite;
  const [statusR, statusW] = pipe(true);
  setCloexec(specW);
  setCloexec(statusR);
  const cmd = initCommand(specR, statusW);
  let pid: number;
  try {
    pid = t.step(
      () => `clone(${flagNames(clone) || "no new namespaces"}${unshare ? `; then unshare(${flagNames(unshare)})` : ""}) → init stage`,
      () =>
        nativeSpawn({
          cloneFlags: clone,
          unshareFlags: unshare,
          timensOffsets: timensOffsets(spec),
          syncFd: syncR,
          errFd: statusW,
          pdeathsig: SIGKILL,
          path: cmd.path,
          argv: cmd.argv,
          env: [],
        }),
    );
  } catch (e) {
    [specR, specW, statusR, statusW, syncR, syncW].forEach((fd) => fd !== -1 && close(fd));
    if (e instanceof SyscallError) throw cloneFailure(flagNames(clone), e.errno, userns);
    throw e;
  }
  close(specR);
  close(statusW);
  t.note(`init stage is pid ${pid}`);
  if (plan) close(syncR);
  let hooks: ContainerHooks;
  try {
    if (plan) {
      t.step("write uid_map and gid_map", () => writeUserNamespaceMaps(pid, plan));
      writeAll(syncW, Buffer.from("1"));
    }
    // The init stage needs ~4 ms to boot before it reads the spec: the runtime's
    // bookkeeping (registry, cgroup) happens meanwhile instead of before the clone.
    hooks = await attach();
  } catch (e) {
    [specW, statusR].forEach(close);
    reap(pid);
    throw e;
  } finally {
    if (plan) close(syncW);
  }

  const envelope: InitEnvelope = { spec, trace: s.trace, debug: s.debug, origin: s.origin, barrier };
  try {
    try {
      writeAll(specW, Buffer.from(`${JSON.stringify(envelope)}\n`));
    } catch {
      // The child died before reading; its status pipe says why.
    }
    if (barrier) {
      const first = readAll(statusR, 1).toString("utf8");
      if (first === BARRIER_READY) {
        hooks.beforeExec?.(pid);
        writeAll(specW, Buffer.from(BARRIER_GO));
      } else {
        throw failureFrom(first + readAll(statusR).toString("utf8"), s.debug, userns);
      }
    }
    close(specW);
    specW = -1;
    // EOF here means the payload's execve closed the pipe: the container is running.
    const report = readAll(statusR).toString("utf8");
    if (report) throw failureFrom(report, s.debug, userns);
    return pid;
  } catch (e) {
    reap(pid);
    throw e;
  } finally {
    if (specW !== -1) close(specW);
    close(statusR);
  }
}

function failureFrom(report: string, debug: boolean, userns: boolean): UserError {
  if (!report) return new UserError("the init stage died before the container was ready (killed by a signal?)");
  const m = /^!(\d):(\d+)/.exec(report);
  if (m) return new UserError(`start init stage: ${SPAWN_STAGES[m[1]!] ?? "setup"}: ${errnoText(Number(m[2]))}`);
  try {
    const f = JSON.parse(report) as InitFailure;
    if (debug && f.stack) process.stderr.write(`${f.stack}\n`);
    return new UserError(userns ? explainUserNamespaceFailure(f.message) : f.message, f.code);
  } catch {
    return new UserError(`init stage failed: ${report.trim()}`, EXIT_RUNTIME);
  }
}

function reap(pid: number): void {
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

/** Waits without blocking the event loop, so forwarded signals keep flowing. */
function waitExit(pid: number): Promise<number> {
  return new Promise((resolve) => {
    // SIGCHLD handlers don't keep Bun's event loop alive; this timer does, and
    // doubles as a fallback poll.
    const keepAlive = setInterval(() => check(), 250);
    const check = () => {
      const r = waitNoHang(pid);
      if (!r) return;
      clearInterval(keepAlive);
      process.off("SIGCHLD", check);
      resolve(r.status);
    };
    process.on("SIGCHLD", check);
    check(); // it may have exited before the handler existed
  });
}

function describeStatus(status: number): string {
  const sig = status & 0x7f;
  return sig ? `killed by signal ${sig}` : `exit code ${(status >> 8) & 0xff}`;
}

export function exitCode(status: number): number {
  const sig = status & 0x7f;
  return sig ? 128 + sig : (status >> 8) & 0xff;
}
