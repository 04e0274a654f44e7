// OCI containers that outlive the command that made them (`create`, `start`, `state`,
// `kill`, `delete`): one directory per container under the state root, holding its
// state. A created container is its own first process, waiting in the native init's
// image for SIGCONT: no myuts process stays behind.
import { prepareIdmappedMounts, type PreparedIdmaps } from "./idmap-mounts.ts";
import { ensureDefaultProfile } from "./apparmor.ts";
import { networkRequest } from "./network.ts";
import { NETWORK_ANNOTATION } from "../network/request.ts";
import { close, kill as sendSignal } from "../../ffi/libc.ts";
import type { Pty } from "../../ffi/terminal.ts";
import { openConsole, sendConsole } from "./console.ts";
import { SIGCONT } from "../setup/abi.ts";
import type { ValidSpec } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs } from "../util/node.ts";
import { MiB, readRegularFile, RefusedFile } from "../util/read-file.ts";
import { Tracer } from "../util/trace.ts";
import { checkName } from "./names.ts";
import { keyringName, planRun } from "./run.ts";
import { sendListener } from "./seccomp-agent.ts";
import { launch } from "./start.ts";
import { lockStateDir, STATE_DIR } from "./state-dir.ts";
import { planUserNamespace, writeUserNamespaceMaps } from "./userns.ts";
import { loadNative } from "../../ffi/native.ts";
import { Cgroup, type CgroupPaths, parseCgroupPaths } from "../cgroups/cgroup.ts";
import { wantsCgroup } from "../cgroups/policy.ts";
import { joinTraced } from "../cgroups/hooks.ts";
import { stderr } from "../util/output.ts";
import { escapeControl } from "../util/text.ts";
import { setOomScoreAdj } from "./oom-score.ts";
import { hasHooks, hooksProblem, runCreateHooks, runLaterHooks, type HookState } from "./hooks.ts";
import type { Hooks, LinuxSeccomp } from "../spec/types.ts";

const warn = (msg: string) => stderr(`myuts: warning: ${escapeControl(msg)}\n`);

export type Status = "creating" | "created" | "running" | "paused" | "stopped";

/** What a container's directory records (state.json). */
interface Saved {
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

const dirOf = (root: string, id: string) => `${root}/${checkName(id, "container id")}`;

/** The process's start time and whether it still runs (a zombie has ended). */
function processInfo(pid: number): { start: string; running: boolean } | undefined {
  try {
    const stat = fs().readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { start: f[19] ?? "", running: f[0] !== "Z" && f[0] !== "X" };
  } catch {
    return undefined;
  }
}

function alive(s: Saved): boolean {
  const p = processInfo(s.pid);
  return p !== undefined && p.start === s.pidStart && p.running;
}

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

function writeSaved(root: string, s: Saved): void {
  const dir = dirOf(root, s.id);
  const tmp = `${dir}/.state.${process.pid}`;
  fs().writeFileSync(tmp, JSON.stringify(s), { mode: 0o600, flag: "wx" });
  fs().renameSync(tmp, `${dir}/state.json`);
}

/** Runs `fn` with the state root locked: concurrent commands see each other's changes whole. */
function locked<T>(root: string, create: boolean, fn: () => T): T {
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

export interface CreateRequest {
  id: string;
  bundle: string;
  root?: string;
  pidFile?: string;
  /** runc's --console-socket: where the terminal's master end goes when process.terminal is set. */
  consoleSocket?: string;
  /** runc's --no-pivot: MS_MOVE and chroot instead of pivot_root. */
  noPivot?: boolean;
  /** A new session keyring (unless runc's --no-new-keyring). */
  newKeyring?: boolean;
  /** runc's --preserve-fds: descriptors 3 to 3+N-1 reach the payload. */
  preserveFds?: number;
  trace: boolean;
  origin: number;
}

/**
 * Builds the container and leaves its first process waiting for `start`, then returns.
 * A cgroup (limits, cgroupsPath) is recorded in the state before it is made, joined at
 * the first sync step, and removed by `delete`.
 */
export async function createContainer(spec: ValidSpec, r: CreateRequest): Promise<void> {
  const root = r.root ?? STATE_DIR;
  if (spec.process.terminal && r.consoleSocket === undefined) {
    throw new UserError("create: process.terminal needs --console-socket: the socket that receives the terminal's master end");
  }
  if (!spec.process.terminal && r.consoleSocket !== undefined) throw new UserError("create: --console-socket needs process.terminal in the spec");
  // Attaching and detaching need a runtime that lives as long as the container: only `run` has one.
  if (networkRequest(spec)) throw new UserError(`create: annotation ${NETWORK_ANNOTATION}: networks are attached by myuts run only`);
  const t = new Tracer(r.trace, r.origin, "create");
  if (spec.process.apparmorProfile) t.step("AppArmor: load the default profile if needed", () => ensureDefaultProfile(spec.process.apparmorProfile));
  const dir = dirOf(root, r.id);
  const cgroupPlan = wantsCgroup(spec) ? Cgroup.plan(spec, r.id) : undefined;
  const base: Saved = {
    id: r.id,
    status: "creating",
    pid: 0,
    pidStart: "",
    bundle: r.bundle,
    created: new Date().toISOString(),
    annotations: spec.annotations ?? {},
    ...(cgroupPlan ? { cgroup: cgroupPlan.paths } : {}),
    ...(hasHooks(spec.hooks, ["poststart", "poststop"]) ? { hooks: { poststart: spec.hooks?.poststart, poststop: spec.hooks?.poststop } } : {}),
    ...(spec.linux.seccomp ? { seccomp: spec.linux.seccomp } : {}),
  };
  locked(root, true, () => {
    try {
      fs().mkdirSync(dir, 0o700);
    } catch (e) {
      if ((e as { code?: string }).code === "EEXIST") throw new UserError(`container ${r.id}: already exists`);
      throw fsError(`container ${r.id}: ${dir}`, e, "mkdir");
    }
    writeSaved(root, base);
  });
  let cgroup: Cgroup | undefined;
  let pty: Pty | undefined;
  let createdPid = 0;
  let idmaps: PreparedIdmaps | undefined;
  try {
    await t.stepAsync("load the native pieces", loadNative);
    // The namespaces that hold idmapped mounts' mappings; they end once the mounts exist.
    idmaps = await prepareIdmappedMounts(spec, t, r.preserveFds);
    if (cgroupPlan) cgroup = t.step("create the cgroup and apply its limits", () => Cgroup.fromPlan(cgroupPlan, warn));
    if (spec.process.terminal) pty = t.step("open the terminal", () => openConsole("create", spec.process));
    const plan = planRun(spec, {
      t,
      detached: true,
      terminal: pty?.slave,
      noPivot: r.noPivot,
      keyring: r.newKeyring ? keyringName(r.id) : undefined,
      preserveFds: r.preserveFds,
      hookState: (pid) => JSON.stringify(hookState(base, "created", pid)),
      cgroupDir: cgroup?.birthDir(),
      idmapped: idmaps,
    });
    const ids = plan.userns ? planUserNamespace(spec) : undefined;
    const oomScoreAdj = spec.process.oomScoreAdj;
    await launch(plan, t, {
      idMaps: (child) => ids && writeUserNamespaceMaps(child, ids),
      ready: (pid) => {
        if (cgroup) joinTraced(cgroup, pid, t, `join the cgroup (pid ${pid})`, "the container's process was born in its cgroup (CLONE_INTO_CGROUP)");
        if (oomScoreAdj !== undefined) setOomScoreAdj(pid, oomScoreAdj);
      },
      hooksStep: (pid) => t.step("createRuntime and createContainer hooks", () => runCreateHooks(spec.hooks, hookState(base, "creating", pid))),
      seccompListener: (pid, fd) =>
        sendListener(spec.linux.seccomp!, { id: r.id, bundle: r.bundle, status: "creating", annotations: spec.annotations }, pid, fd),
      created: (pid) => {
        createdPid = pid;
        const info = processInfo(pid);
        locked(root, false, () => writeSaved(root, { ...base, status: "created", pid, pidStart: info?.start ?? "" }));
        // runc's pid file: the number alone, no newline.
        if (r.pidFile) fs().writeFileSync(r.pidFile, String(pid));
      },
    });
    if (pty) sendConsole("create", r.consoleSocket!, pty.master, createdPid);
  } catch (e) {
    // Created, but something after failed: it must not wait on.
    if (createdPid) sendSignal(createdPid, 9);
    for (const p of cgroup?.destroy() ?? []) warn(`cgroup cleanup: ${p}`);
    fs().rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    idmaps?.release();
    if (pty) close(pty.master);
  }
}

function hookState(s: Saved, status: string, pid: number): HookState {
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
  if (force && !fs().existsSync(dirOf(root, id))) return;
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
    fs().rmSync(dirOf(root, id), { recursive: true, force: true });
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
    names = fs()
      .readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith("."))
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
  let ns: string;
  try {
    ns = fs().readlinkSync(`/proc/${s.pid}/ns/pid`);
  } catch {
    return [];
  }
  if (ns === fs().readlinkSync("/proc/self/ns/pid")) return [s.pid];
  const pids: number[] = [];
  for (const d of fs().readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs().readlinkSync(`/proc/${d}/ns/pid`) === ns) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

export function ociContainerExists(id: string, root = STATE_DIR): boolean {
  return fs().existsSync(`${dirOf(root, id)}/state.json`);
}

/** A live OCI container's cgroup, for stats, events and update; undefined when there is no such OCI container. */
export function ociCgroup(id: string, root = STATE_DIR): { live: boolean; cgroup?: CgroupPaths } | undefined {
  if (!fs().existsSync(`${dirOf(root, id)}/state.json`)) return undefined;
  const s = readSaved(root, id);
  const st = status(s);
  return { live: st === "running" || st === "paused" || st === "created", ...(s.cgroup ? { cgroup: s.cgroup } : {}) };
}

/** A running OCI container's first process and cgroup, for `exec`; undefined when there is no such container. */
export function ociExecTarget(id: string, root = STATE_DIR): { pid: number; cgroup?: CgroupPaths; seccomp?: LinuxSeccomp; bundle: string } | undefined {
  if (!fs().existsSync(`${dirOf(root, id)}/state.json`)) return undefined;
  const s = readSaved(root, id);
  if (status(s) !== "running") throw new UserError(`container ${id}: cannot exec into a container that is ${status(s)}`);
  return { pid: s.pid, bundle: s.bundle, ...(s.cgroup ? { cgroup: s.cgroup } : {}), ...(s.seccomp ? { seccomp: s.seccomp } : {}) };
}
