// podman's everyday commands over `run`'s containers: the registry's running ones
// (detached or held by a `myuts run` in the foreground) and the detached ones that
// have stopped. ps, inspect, stop, kill and rm; logs are in logs.ts.
import { kill as sendSignal, SIGKILL } from "../../ffi/libc.ts";
import { UserError } from "../util/errors.ts";
import { joinPath } from "../util/paths.ts";
import { processStart, stillRunning } from "../util/process-start.ts";
import { checkNetwork } from "../network/attach.ts";
import { endDetached } from "./detached-end.ts";
import { detachedDir, detachedExists, detachedNames, exitOf, LOG_FILE, markStopped, readMeta, removeDetached, type DetachedMeta } from "./detached.ts";
import { checkName } from "./names.ts";
import { STATE_DIR } from "./state-dir.ts";
import { isLive, listStates, readState, type ContainerState } from "./state.ts";

export interface ContainerInfo {
  name: string;
  /** Started with `run -d`: it has a log and stays until `rm`. */
  detached: boolean;
  running: boolean;
  /** The container's first process, while it runs. */
  pid?: number;
  created: string;
  command?: string[];
  image?: string;
  rootfs?: string;
  exitCode?: number;
  finishedAt?: string;
  autoRemove?: boolean;
  /** -t: a terminal that `attach` reaches. */
  tty?: boolean;
  /** --restart on-failure: how many times it was started again. */
  restartCount?: number;
  logPath?: string;
  state?: ContainerState;
}

function info(name: string, meta: DetachedMeta | undefined, state: ContainerState | undefined): ContainerInfo {
  const running = state !== undefined && isLive(state);
  const ended = meta && !running ? exitOf(name) : undefined;
  return {
    name,
    detached: meta !== undefined,
    running,
    ...(running && state?.pid ? { pid: state.pid } : {}),
    created: meta?.created ?? state?.created ?? "",
    ...(meta ? { command: meta.command, autoRemove: meta.autoRemove, logPath: joinPath(detachedDir(name), LOG_FILE) } : {}),
    ...(meta?.image ? { image: meta.image } : {}),
    ...(meta?.restart ? { restartCount: meta.restart.count } : {}),
    ...(meta?.tty ? { tty: true } : {}),
    ...((meta?.rootfs ?? state?.rootfs) ? { rootfs: meta?.rootfs ?? state?.rootfs } : {}),
    ...(ended ? { exitCode: ended.code, finishedAt: ended.at.toISOString() } : {}),
    ...(running ? { state } : {}),
  };
}

/** Every container `ps` shows: running ones, and with `all` the stopped detached ones. */
export function listRunContainers(all: boolean): ContainerInfo[] {
  const states = new Map(listStates(STATE_DIR, () => {}).map((s) => [s.name, s]));
  const names = new Set([...states.keys(), ...detachedNames()]);
  const out: ContainerInfo[] = [];
  for (const name of [...names].sort()) {
    let meta: DetachedMeta | undefined;
    try {
      meta = readMeta(name);
    } catch {
      meta = undefined;
    }
    const c = info(name, meta, states.get(name));
    if (c.running || (all && c.detached)) out.push(c);
  }
  return out;
}

/** One container by name; undefined when `run` has none of that name (an OCI container may). */
export function findRunContainer(name: string): ContainerInfo | undefined {
  checkName(name, "container");
  const meta = readMeta(name);
  const state = readState(name, STATE_DIR, () => {});
  if (!meta && !(state && isLive(state))) return undefined;
  return info(name, meta, state);
}

function gone(pid: number, start: string | undefined): boolean {
  return start === undefined || !stillRunning(pid, start);
}

async function until(done: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() >= end) return false;
    await Bun.sleep(20);
  }
  return true;
}

/** Waits for a container's runtime or monitor to have cleaned up (its entry no longer live). */
async function settled(name: string, ms = 10_000): Promise<boolean> {
  return until(() => {
    const s = readState(name, STATE_DIR, () => {});
    return !s || !isLive(s);
  }, ms);
}

/**
 * stop: the stop signal, then SIGKILL after `timeoutSec`. Resolves to whether it had to
 * escalate; returns once the container's runtime or monitor has cleaned up.
 */
export async function stopRunContainer(c: ContainerInfo, timeoutSec: number, signal: number): Promise<"stopped" | "killed" | "not running"> {
  if (!c.running || !c.pid) return "not running";
  if (c.detached) markStopped(c.name);
  const start = processStart(c.pid);
  sendSignal(c.pid, signal);
  let how: "stopped" | "killed" = "stopped";
  if (!(await until(() => gone(c.pid!, start), timeoutSec * 1000))) {
    how = "killed";
    sendSignal(c.pid, SIGKILL);
    await until(() => gone(c.pid!, start), 10_000);
  }
  await settled(c.name);
  return how;
}

/** CNI CHECK of a running container's network ("ok", or what the plugins find wrong); undefined without one. */
export function networkCheck(c: ContainerInfo): string | undefined {
  const record = c.state?.network;
  if (!c.running || !record || !c.pid) return undefined;
  return checkNetwork(record, c.name, c.pid) ?? "ok";
}

/** Once a container has ended: the exit code its monitor recorded (undefined if none came within `ms`). */
export async function exitCodeOf(name: string, ms = 10_000): Promise<number | undefined> {
  await settled(name, ms);
  await until(() => exitOf(name) !== undefined, 2000);
  return exitOf(name)?.code;
}

export function killRunContainer(c: ContainerInfo, signal: number): void {
  if (!c.running || !c.pid) throw new UserError(`container ${c.name}: cannot kill a container that is not running`);
  if (!sendSignal(c.pid, signal)) throw new UserError(`container ${c.name}: its process ${c.pid} is gone`);
}

/** rm: a running container only with `force` (SIGKILL first); a detached one's directory goes with it. */
export async function removeRunContainer(c: ContainerInfo, force: boolean): Promise<void> {
  if (c.running) {
    if (!force) throw new UserError(`container ${c.name}: is running; stop it first (myuts stop ${c.name}), or remove it with myuts rm -f ${c.name}`);
    const start = c.pid ? processStart(c.pid) : undefined;
    if (c.detached) markStopped(c.name);
    if (c.pid) sendSignal(c.pid, SIGKILL);
    if (c.pid) await until(() => gone(c.pid!, start), 10_000);
    if (!(await settled(c.name))) throw new UserError(`container ${c.name}: its monitor did not finish after SIGKILL`);
  }
  if (!c.detached) {
    if (!c.running) throw new UserError(`container ${c.name}: no such container`);
    return;
  }
  // A monitor that was killed left its cgroup, network and image directory: freed here.
  const { problems } = await endDetached(c.name, { self: false, keepContainer: true });
  if (problems.length) throw new UserError(`container ${c.name}: ${problems.join("; ")}`);
  if (detachedExists(c.name)) removeDetached(c.name);
}
