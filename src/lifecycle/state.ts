// The container registry: one JSON file per live container under /run/myuts,
// written when it starts and removed when it ends. `stats`, `update` and
// `events` find a running container here by name; later commands (create, start,
// state) keep their bundle state in the same files.
import { fs, os, path } from "../util/node.ts";
import type { CgroupPaths } from "../cgroups/cgroup.ts";
import type { LinuxResources } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { describeFsError } from "../util/fs-errors.ts";

/**
 * Root keeps state in /run/myuts; anyone else in their own runtime directory, as
 * rootless runc and podman do ($XDG_RUNTIME_DIR, else a per-uid temp directory).
 */
export const STATE_DIR = stateDir();

function stateDir(): string {
  const uid = process.geteuid?.() ?? 0;
  if (uid === 0) return "/run/myuts";
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg?.startsWith("/")) return path().join(xdg, "myuts");
  return path().join(os().tmpdir(), `myuts-${uid}`);
}

export interface ProcessRef {
  pid: number;
  /** /proc/PID/stat start time, so a reused pid is not mistaken for the owner. */
  start: string;
}

export interface ContainerState {
  name: string;
  status: "creating" | "running";
  /** The runtime process that holds the container (`myuts run`); the entry is live while it is. */
  owner: ProcessRef;
  /** The container's first process (the init stage, then the payload). */
  pid?: number;
  created: string;
  bundle?: string;
  rootfs?: string;
  cgroup?: CgroupPaths;
  resources?: LinuxResources;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export function checkName(name: string, flag = "--name"): string {
  if (!NAME.test(name)) throw new UserError(`${flag} ${JSON.stringify(name)}: use letters, digits, '_', '.' and '-' (at most 128, starting with a letter or digit)`);
  return name;
}

/**
 * A default name: the runtime's pid (unique among live containers, which is all a
 * name must be) and the time, in hex. Cheap on the start path, unlike the first
 * use of the system's random generator.
 */
export function randomName(): string {
  return `${process.pid.toString(16)}${(Date.now() % 0x1000000).toString(16).padStart(6, "0")}`;
}

export function processStart(pid: number): string | undefined {
  try {
    const stat = fs().readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

export function selfRef(): ProcessRef {
  return { pid: process.pid, start: processStart(process.pid) ?? "" };
}

export function isLive(s: ContainerState): boolean {
  return processStart(s.owner.pid) === s.owner.start;
}

const file = (dir: string, name: string) => path().join(dir, `${name}.json`);

export function readState(name: string, dir = STATE_DIR): ContainerState | undefined {
  try {
    return JSON.parse(fs().readFileSync(file(dir, name), "utf8")) as ContainerState;
  } catch {
    return undefined;
  }
}

/** The state of a live container, or a one-line error. */
export function liveState(name: string, dir = STATE_DIR): ContainerState {
  const s = readState(checkName(name, "container"), dir);
  if (!s || !isLive(s)) throw new UserError(`container ${name}: no such running container`);
  return s;
}

/** Registers a new container; refuses a name a live container holds, replaces a dead one's entry. */
export function claimName(s: ContainerState, dir = STATE_DIR): void {
  try {
    fs().mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new UserError(`state ${dir}: ${describeFsError(e)}`);
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs().writeFileSync(file(dir, s.name), JSON.stringify(s), { flag: "wx", mode: 0o600 });
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw new UserError(`state ${file(dir, s.name)}: ${describeFsError(e)}`);
    }
    const old = readState(s.name, dir);
    if (old && isLive(old)) throw new UserError(`--name ${s.name}: already in use by a running container (runtime pid ${old.owner.pid})`);
    fs().rmSync(file(dir, s.name), { force: true });
  }
  throw new UserError(`--name ${s.name}: could not register the container (state file keeps reappearing)`);
}

/** Rewrites an entry atomically, so readers never see half a file. */
export function saveState(s: ContainerState, dir = STATE_DIR): void {
  const tmp = file(dir, `.${s.name}.${process.pid}`);
  fs().writeFileSync(tmp, JSON.stringify(s), { mode: 0o600 });
  fs().renameSync(tmp, file(dir, s.name));
}

export function removeState(name: string, dir = STATE_DIR): void {
  fs().rmSync(file(dir, name), { force: true });
}

export function listStates(dir = STATE_DIR): ContainerState[] {
  let names: string[];
  try {
    names = fs().readdirSync(dir).filter((n) => n.endsWith(".json") && !n.startsWith("."));
  } catch {
    return [];
  }
  return names.map((n) => readState(n.slice(0, -5), dir)).filter((s): s is ContainerState => s !== undefined);
}

/** Removes the entries of runtimes that died without cleaning up (SIGKILL); returns them. */
export function sweepStale(dir = STATE_DIR): ContainerState[] {
  const stale = listStates(dir).filter((s) => !isLive(s));
  for (const s of stale) removeState(s.name, dir);
  return stale;
}
