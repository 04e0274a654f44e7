// OCI containers that outlive the command that made them (`create`, `start`, `state`,
// `kill`, `delete`): one directory per container under the state root, holding its
// state. A created container is its own first process, waiting in the native init's
// image for SIGCONT: no myuts process stays behind.
import { kill as sendSignal } from "../../ffi/libc.ts";
import { SIGCONT } from "../setup/abi.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { createFile, exists, listDir, readlinkIfLink, removeTree, renameFile } from "../../ffi/files.ts";
import { stillRunning } from "../util/process-start.ts";
import { MiB, readRegularFile, RefusedFile } from "../util/read-file.ts";
import { checkName } from "./names.ts";
import { lockStateDir, STATE_DIR } from "./state-dir.ts";
import { Cgroup, type CgroupPaths, parseCgroupPaths } from "../cgroups/cgroup.ts";
import { stderr } from "../util/output.ts";
import { escapeControl } from "../util/text.ts";
import { hooksProblem, runLaterHooks, type HookState } from "./hooks.ts";
import type { Hooks, LinuxSeccomp } from "../spec/types.ts";

export const warn = (msg: string) => stderr(`myuts: warning: ${escapeControl(msg)}\n`);

export type Status = "creating" | "created" | "running" | "paused" | "stopped";

/** What a container's directory records (state.json). */
export interface Saved {
  id: string;
  status: "creating" | "created" | "running";
  pid: number;
  /** /proc/PID/stat start time: a reused pid is not the container. */
  pidStart: string;
  bundle: string;
  created: string;
  annotations: Record<string, string>;
  /** The container's cgroup, recorded before it is made: delete removes it. */
  cgroup?: CgroupPaths;
  /** The spec's poststart and poststop hooks, which start and delete run. */
  hooks?: Pick<Hooks, "poststart" | "poststop">;
  /** The container's seccomp section: `exec` filters its process the same way. */
  seccomp?: LinuxSeccomp;
}

/** The OCI state (runtime-spec, runtime.md), as `state` prints it. */
export interface OciState {
  ociVersion: string;
  id: string;
  status: Status;
  pid: number;
  bundle: string;
  created: string;
  annotations?: Record<string, string>;
}

export const dirOf = (root: string, id: string) => `${root}/${checkName(id, "container id")}`;

/** The recorded process still runs: same pid, same start time, not a zombie. */
const alive = (s: Saved): boolean => stillRunning(s.pid, s.pidStart);

/** state.json, read back as untrusted input: every field checked. */
function readSaved(root: string, id: string): Saved {
  const dir = dirOf(root, id);
  let raw: unknown;
  try {
    raw = JSON.parse(readRegularFile(`${dir}/state.json`, MiB, { noFollow: true }).toString("utf8"));
  } catch (e) {
    // runc's words: containerd's shim reads "does not exist" as not found.
    if ((e as { code?: string }).code === "ENOENT") throw new UserError(`container ${id}: does not exist`);
    if (e instanceof RefusedFile || e instanceof SyntaxError) throw new UserError(`container ${id}: its state is damaged (${e.message})`);
    throw fsError(`container ${id}: state`, e, "open");
  }
  const r = raw as Partial<Saved> | null;
  const ok =
    r !== null &&
    typeof r === "object" &&
    r.id === id &&
    (r.status === "creating" || r.status === "created" || r.status === "running") &&
    Number.isSafeInteger(r.pid) &&
    (r.pid as number) >= 0 &&
    typeof r.pidStart === "string" &&
    typeof r.bundle === "string" &&
    typeof r.created === "string" &&
    typeof r.annotations === "object" &&
    r.annotations !== null &&
    Object.values(r.annotations).every((v) => typeof v === "string");
  if (!ok) throw new UserError(`container ${id}: its state is damaged (fields missing or of the wrong type)`);
  // Hooks run as root: what the file says is checked as the spec's were.
  const badHooks = hooksProblem(r.hooks);
  if (badHooks) throw new UserError(`container ${id}: its state is damaged (${badHooks})`);
  if (r.cgroup !== undefined) {
    try {
      // Paths only below this host's cgroup mounts: a planted state can't aim delete elsewhere.
      return { ...(r as Saved), cgroup: parseCgroupPaths(r.cgroup) };
    } catch (e) {
      throw new UserError(`container ${id}: its state is damaged (cgroup: ${e instanceof Error ? e.message : String(e)})`);
    }
  }
  return r as Saved;
}

export function writeSaved(root: string, s: Saved): void {
  const dir = dirOf(root, s.id);
  const tmp = `${dir}/.state.${process.pid}`;
  createFile(tmp, Buffer.from(JSON.stringify(s)), 0o600);
  renameFile(tmp, `${dir}/state.json`);
}

/** Runs `fn` with the state root locked: concurrent commands see each other's changes whole. */
export function locked<T>(root: string, create: boolean, fn: () => T): T {
  const lock = lockStateDir({ create }, root);
  if (!lock) throw new UserError(`state ${root}: not usable`);
  try {
    return fn();
  } finally {
    lock.release();
  }
}

export function status(s: Saved): Status {
  if (s.status === "creating") return alive(s) || s.pid === 0 ? "creating" : "stopped";
  if (!alive(s)) return "stopped";
  // Paused is the freezer's word, not the state file's: resumed behind myuts's back is running.
  if (s.cgroup && Cgroup.fromPaths(s.cgroup).isFrozen()) return "paused";
  return s.status;
}

/** pause and resume: freeze or thaw the container's cgroup, as runc does. */
export function setPaused(id: string, paused: boolean, root = STATE_DIR): void {
  const s = readSaved(root, id);
  const st = status(s);
  const want = paused ? "running" : "paused";
  if (st !== want) throw new UserError(`container ${id}: cannot ${paused ? "pause" : "resume"} a container that is ${st}`);
  if (!s.cgroup) throw new UserError(`container ${id}: has no cgroup to freeze (give it resources or a cgroupsPath)`);
  Cgroup.fromPaths(s.cgroup).setFrozen(paused);
}

export function hookState(s: Saved, status: string, pid: number): HookState {
  return { ociVersion: "1.2.0", id: s.id, status, pid, bundle: s.bundle, ...(Object.keys(s.annotations).length ? { annotations: s.annotations } : {}) };
}

export function containerState(id: string, root = STATE_DIR): OciState {
  const s = readSaved(root, id);
  const st = status(s);
  return {
    ociVersion: "1.2.0",
    id: s.id,
    status: st,
    pid: st === "stopped" ? 0 : s.pid,
    bundle: s.bundle,
    created: s.created,
    ...(Object.keys(s.annotations).length ? { annotations: s.annotations } : {}),
  };
}

export function startContainer(id: string, root = STATE_DIR): void {
  const s = locked(root, false, () => {
    const s = readSaved(root, id);
    const st = status(s);
    if (st !== "created") throw new UserError(`container ${id}: cannot start a container that is ${st}`);
    if (!sendSignal(s.pid, SIGCONT)) throw new UserError(`container ${id}: its process ${s.pid} is gone`);
    writeSaved(root, { ...s, status: "running" });
    return s;
  });
  runLaterHooks("poststart", s.hooks, hookState(s, "running", s.pid), warn);
}

export function killContainer(id: string, signal: number, root = STATE_DIR, all = false): void {
  const s = readSaved(root, id);
  const st = status(s);
  if (st !== "created" && st !== "running" && st !== "paused") throw new UserError(`container ${id}: cannot kill a container that is ${st}`);
  // runc's --all: every process of the container's PID namespace, the first one last.
  if (all) for (const pid of containerPids(id, root).filter((p) => p !== s.pid)) sendSignal(pid, signal);
  if (!sendSignal(s.pid, signal)) throw new UserError(`container ${id}: its process ${s.pid} is gone`);
}

export async function deleteContainer(id: string, force: boolean, root = STATE_DIR): Promise<void> {
  // As runc: --force on a container that is already gone succeeds (engines clean up twice).
  if (force && !exists(dirOf(root, id))) return;
  const s = readSaved(root, id);
  if (status(s) !== "stopped") {
    if (!force) throw new UserError(`container ${id}: cannot delete a container that is ${status(s)} (kill it first, or delete --force)`);
    sendSignal(s.pid, 9);
    // A frozen process takes its SIGKILL only once thawed.
    if (s.cgroup && status(s) === "paused") Cgroup.fromPaths(s.cgroup).setFrozen(false);
    // It is gone once the kernel has ended it (a zombie counts as gone).
    for (let i = 0; i < 200 && alive(s); i++) await Bun.sleep(10);
    if (alive(s)) throw new UserError(`container ${id}: its process ${s.pid} did not end after SIGKILL`);
  }
  // What the container started is killed with its cgroup, then the cgroup goes.
  if (s.cgroup) for (const p of Cgroup.fromPaths(s.cgroup).destroy()) warn(`cgroup cleanup: ${p}`);
  const lock = lockStateDir({ create: false }, root);
  try {
    removeTree(dirOf(root, id));
    // The default state directory goes when nothing is left in it; a --root the caller made stays.
    if (root === STATE_DIR) lock?.removeIfEmpty();
  } finally {
    lock?.release();
  }
  runLaterHooks("poststop", s.hooks, hookState(s, "stopped", 0), warn);
}

/** Every container under the root, in id order; a damaged entry is skipped with a warning line. */
export function listContainers(root = STATE_DIR, warn: (msg: string) => void = () => {}): OciState[] {
  let names: string[];
  try {
    names = listDir(root)
      .filter((d) => d.type === "directory" && !d.name.startsWith("."))
      .map((d) => d.name)
      .sort();
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return [];
    throw fsError(`state ${root}`, e, "open");
  }
  const out: OciState[] = [];
  for (const id of names) {
    try {
      out.push(containerState(id, root));
    } catch (e) {
      warn(`${root}/${id}: skipped (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  return out;
}

/** The host pids of the processes in a container's PID namespace (its first process's, when it has none of its own). */
export function containerPids(id: string, root = STATE_DIR): number[] {
  const s = readSaved(root, id);
  if (status(s) === "stopped") return [];
  let ns: string | undefined;
  try {
    ns = readlinkIfLink(`/proc/${s.pid}/ns/pid`);
  } catch {
    // not ours to read: as gone
  }
  if (ns === undefined) return [];
  if (ns === readlinkIfLink("/proc/self/ns/pid")) return [s.pid];
  const pids: number[] = [];
  for (const { name: d } of listDir("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkIfLink(`/proc/${d}/ns/pid`) === ns) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

export function ociContainerExists(id: string, root = STATE_DIR): boolean {
  return exists(`${dirOf(root, id)}/state.json`);
}

/** A live OCI container's cgroup, for stats, events and update; undefined when there is no such OCI container. */
export function ociCgroup(id: string, root = STATE_DIR): { live: boolean; cgroup?: CgroupPaths } | undefined {
  if (!exists(`${dirOf(root, id)}/state.json`)) return undefined;
  const s = readSaved(root, id);
  const st = status(s);
  return { live: st === "running" || st === "paused" || st === "created", ...(s.cgroup ? { cgroup: s.cgroup } : {}) };
}

/** A running OCI container's first process and cgroup, for `exec`; undefined when there is no such container. */
export function ociExecTarget(id: string, root = STATE_DIR): { pid: number; cgroup?: CgroupPaths; seccomp?: LinuxSeccomp; bundle: string } | undefined {
  if (!exists(`${dirOf(root, id)}/state.json`)) return undefined;
  const s = readSaved(root, id);
  if (status(s) !== "running") throw new UserError(`container ${id}: cannot exec into a container that is ${status(s)}`);
  return { pid: s.pid, bundle: s.bundle, ...(s.cgroup ? { cgroup: s.cgroup } : {}), ...(s.seccomp ? { seccomp: s.seccomp } : {}) };
}
