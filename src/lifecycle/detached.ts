// Detached containers (`run -d`): what outlives the runtime that started them. Each
// has a directory under the state root's .containers/ holding its description
// (meta.json), its log (json-lines, rotated once at a size cap) and, once it has
// ended, its exit code (written by its monitor, the native init's image that is the
// container's parent). While it runs, its registry entry names the monitor as its
// owner: a monitor killed with the container leaves an entry that the next sweep
// releases like a killed runtime's.
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { joinPath } from "../util/paths.ts";
import { exists, listDir, makeDir, removeDir, removeTree, renameFile, replaceFile, stat } from "../../ffi/files.ts";
import { stillRunning } from "../util/process-start.ts";
import { selfCommand } from "../util/self.ts";
import { removeContainerRoot } from "../image/container-root.ts";
import { defaultStoreRoot } from "../image/store.ts";
import { MiB, readRegularFile, RefusedFile } from "../util/read-file.ts";
import { checkName } from "./names.ts";
import { DETACHED_SUBDIR, lockStateDir, STATE_DIR } from "./state-dir.ts";
import { isLive, readEntry, readState } from "./state.ts";

export const LOG_FILE = "ctr.log";
export const ROTATED_LOG = "ctr.log.1";
const EXIT_FILE = "exit";
const META_FILE = "meta.json";
const SPEC_FILE = "config.json";
/** docker's json-file driver has no cap by default; a container's log here stops at twice this. */
export const DEFAULT_LOG_MAX = 10 * MiB;

export interface DetachedMeta {
  name: string;
  created: string;
  /** The payload's argv, as the spec has it. */
  command: string[];
  image?: string;
  rootfs?: string;
  /** --rm: the exit command removes the container. */
  autoRemove: boolean;
  /** The log's size cap (bytes) before it rotates. */
  logMaxBytes: number;
  /** An image container's own directory in the store (its overlay's upper and work dirs), removed at its end. */
  imageRoot?: string;
  /** --restart on-failure[:max]: started again after a non-zero exit, `count` times so far. */
  restart?: { max?: number; count: number };
  /** -t: it has a terminal, which `myuts attach` reaches. */
  tty?: boolean;
  /** A foreground run -t's, until the user detaches: the runtime it dies with (a sweep removes it once that is gone). */
  foreground?: { pid: number; start: string };
  /** How it was started, beyond its spec, for a restart: --init, and a new session keyring. */
  init?: boolean;
  newKeyring?: boolean;
}

export const detachedRoot = (stateDir = STATE_DIR) => joinPath(stateDir, DETACHED_SUBDIR);
export const detachedDir = (name: string, stateDir = STATE_DIR) => joinPath(detachedRoot(stateDir), checkName(name, "container"));

/**
 * Reserves a detached container's name: refused while a running container (detached or
 * not) or a stopped detached one holds it. Under the registry's lock, as claiming is.
 */
export function reserveDetached(meta: DetachedMeta, spec?: unknown): string {
  const lock = lockStateDir({ create: true });
  if (!lock) throw new UserError(`state ${STATE_DIR}: not usable`);
  try {
    const held = readEntry(meta.name, lock.dir);
    if ("state" in held && isLive(held.state)) throw new UserError(`--name ${meta.name}: already in use by a running container`);
    try {
      makeDir(detachedRoot(lock.dir), 0o700);
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw fsError(`state ${detachedRoot(lock.dir)}`, e, "mkdir");
    }
    const dir = detachedDir(meta.name, lock.dir);
    try {
      makeDir(dir, 0o700);
    } catch (e) {
      if ((e as { code?: string }).code === "EEXIST")
        throw new UserError(`--name ${meta.name}: already in use by a container (remove it first: myuts rm ${meta.name})`);
      throw fsError(`state ${dir}`, e, "mkdir");
    }
    writeMeta(meta);
    // What a restart runs again (read back through the spec's validation).
    if (spec !== undefined) replaceFile(joinPath(dir, SPEC_FILE), Buffer.from(JSON.stringify(spec)), 0o600);
    return dir;
  } finally {
    lock.release();
  }
}

/** Whether a stopped or running detached container holds the name (a foreground run must not take it). */
export function detachedExists(name: string, stateDir = STATE_DIR): boolean {
  return exists(detachedDir(name, stateDir));
}

export function writeMeta(meta: DetachedMeta): void {
  const dir = detachedDir(meta.name);
  const tmp = joinPath(dir, `.${META_FILE}.${process.pid}`);
  replaceFile(tmp, Buffer.from(JSON.stringify(meta)), 0o600);
  renameFile(tmp, joinPath(dir, META_FILE));
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");
const optString = (v: unknown) => v === undefined || (typeof v === "string" && v.length <= 4096 && !v.includes("\0"));

/** A detached container's description, read back as untrusted input; undefined when there is none. */
export function readMeta(name: string): DetachedMeta | undefined {
  const file = joinPath(detachedDir(name), META_FILE);
  let v: Partial<DetachedMeta> | null;
  try {
    v = JSON.parse(readRegularFile(file, MiB, { noFollow: true }).toString("utf8"));
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return undefined;
    if (e instanceof RefusedFile || e instanceof SyntaxError) throw new UserError(`container ${name}: ${file} is damaged (${e.message})`);
    throw fsError(`container ${name}: ${file}`, e, "open");
  }
  const ok =
    v !== null &&
    typeof v === "object" &&
    v.name === name &&
    typeof v.created === "string" &&
    isStrings(v.command) &&
    typeof v.autoRemove === "boolean" &&
    Number.isSafeInteger(v.logMaxBytes) &&
    (v.logMaxBytes as number) >= 0 &&
    optString(v.image) &&
    optString(v.rootfs) &&
    optString(v.imageRoot) &&
    (v.init === undefined || typeof v.init === "boolean") &&
    (v.tty === undefined || typeof v.tty === "boolean") &&
    (v.foreground === undefined ||
      (typeof v.foreground === "object" && v.foreground !== null && Number.isSafeInteger(v.foreground.pid) && typeof v.foreground.start === "string")) &&
    (v.newKeyring === undefined || typeof v.newKeyring === "boolean") &&
    (v.restart === undefined ||
      (typeof v.restart === "object" &&
        v.restart !== null &&
        Number.isSafeInteger(v.restart.count) &&
        v.restart.count >= 0 &&
        (v.restart.max === undefined || (Number.isSafeInteger(v.restart.max) && v.restart.max >= 0))));
  if (!ok) throw new UserError(`container ${name}: ${file} is damaged (fields missing or of the wrong type)`);
  return v as DetachedMeta;
}

/** The spec a detached container was started with (for a restart): parsed, not yet validated. */
export function readSpec(name: string): unknown {
  const file = joinPath(detachedDir(name), SPEC_FILE);
  try {
    return JSON.parse(readRegularFile(file, 16 * MiB, { noFollow: true }).toString("utf8"));
  } catch (e) {
    if (e instanceof RefusedFile || e instanceof SyntaxError) throw new UserError(`container ${name}: ${file} is damaged (${e.message})`);
    throw fsError(`container ${name}: ${file}`, e, "open");
  }
}

const STOPPED_FILE = "stopped";

/** stop and rm -f: what ends the container is the user's doing, so --restart leaves it stopped (as docker). */
export function markStopped(name: string): void {
  try {
    replaceFile(joinPath(detachedDir(name), STOPPED_FILE), new Uint8Array(), 0o600);
  } catch {
    // gone meanwhile
  }
}

export function wasStopped(name: string): boolean {
  return exists(joinPath(detachedDir(name), STOPPED_FILE));
}

/** The names of the detached containers, in order. */
export function detachedNames(stateDir = STATE_DIR): string[] {
  try {
    return listDir(detachedRoot(stateDir))
      .map((e) => e.name)
      .filter((n) => /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(n))
      .sort();
  } catch {
    return [];
  }
}

/** The exit code the monitor recorded, and when; undefined while there is none. */
export function exitOf(name: string): { code: number; at: Date } | undefined {
  const file = joinPath(detachedDir(name), EXIT_FILE);
  try {
    const text = readRegularFile(file, 64, { noFollow: true }).toString("utf8");
    if (!/^\d{1,3}\n$/.test(text)) return undefined;
    return { code: Number(text.trim()), at: new Date(stat(file).mtimeMs) };
  } catch {
    return undefined;
  }
}

export const exitFile = (name: string) => joinPath(detachedDir(name), EXIT_FILE);
/** A terminal container's: where `myuts attach` connects to its monitor. */
export const attachSocket = (name: string) => joinPath(detachedDir(name), "attach.sock");

/**
 * What the monitor runs once the container has ended: this program's cleanup command.
 * The compiled binary runs as itself; from source, Bun runs the entry script.
 */
export function exitCommand(name: string, env: Record<string, string | undefined>): { argv: string[]; env: string[] } {
  const argv = [...selfCommand(), "cleanup", name];
  // What the cleanup needs: PATH for iptables and the CNI plugins, the state and store locations.
  const keep = ["PATH", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "HOME", "MYUTS_STORE", "CNI_PATH"];
  return { argv, env: keep.flatMap((k) => (env[k] !== undefined && !env[k]!.includes("\0") ? [`${k}=${env[k]}`] : [])) };
}

/** Removes a stopped detached container's directory (its log and exit code with it). */
export function removeDetached(name: string): void {
  const lock = lockStateDir({ create: false });
  try {
    removeTree(detachedDir(name, lock?.dir ?? STATE_DIR));
    try {
      removeDir(detachedRoot(lock?.dir ?? STATE_DIR));
    } catch {
      // other containers' directories are there
    }
    lock?.removeIfEmpty();
  } finally {
    lock?.release();
  }
}

/**
 * A foreground run -t whose runtime was killed took its container with it (the monitor
 * dies with the runtime, the container with the monitor), and the sweep frees what its
 * registry entry names: its directory goes here, with its image root. Call with the
 * registry locked, after the registry's own sweep.
 */
export function sweepAbandoned(stateDir: string, warn: (msg: string) => void): void {
  for (const name of detachedNames(stateDir)) {
    let meta: DetachedMeta | undefined;
    try {
      meta = readMeta(name);
    } catch {
      continue;
    }
    const owner = meta?.foreground;
    if (!meta || !owner || stillRunning(owner.pid, owner.start)) continue;
    const entry = readState(name, stateDir, () => {});
    if (entry && isLive(entry)) continue;
    try {
      if (meta.imageRoot) removeContainerRoot(joinPath(defaultStoreRoot(), "containers"), meta.imageRoot);
    } catch (e) {
      warn(e instanceof Error ? e.message : String(e));
    }
    removeTree(detachedDir(name, stateDir));
  }
  try {
    removeDir(detachedRoot(stateDir));
  } catch {
    // other containers' directories are there (or none ever was)
  }
}
