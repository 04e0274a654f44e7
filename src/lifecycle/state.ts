// The container registry: one JSON file per live container in the state
// directory, written when it starts and removed when it ends. `stats`, `update`
// and `events` find a running container here by name; later commands (create,
// start, state) keep their bundle state in the same files.
//
// Entries are untrusted: a file in the directory may be truncated, hand-edited or
// planted. Each is read with O_NOFOLLOW under a size cap and checked field by field;
// one that fails is skipped with a warning, and no name or path in it is used.
import { parseCgroupPaths, type CgroupPaths } from "../cgroups/cgroup.ts";
import type { LinuxResources, LinuxSeccomp } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { errnoOf, fsError } from "../util/fs-errors.ts";
import { joinPath } from "../util/paths.ts";
import { close, writeAll } from "../../ffi/libc.ts";
import { exists, listDir, openFile, readlinkIfLink, removeTree, renameFile } from "../../ffi/files.ts";
import { processStart, stillRunning } from "../util/process-start.ts";
import { readRegularFile, RefusedFile } from "../util/read-file.ts";
import { escapeControl } from "../util/text.ts";
import { DETACHED_SUBDIR, STATE_DIR } from "./state-dir.ts";
import { stderr } from "../util/output.ts";
import { errnoName } from "../../ffi/errno.ts";
import { checkName } from "./names.ts";
import { parseNetworkRecord, type NetworkRecord } from "../network/record.ts";

export { STATE_DIR } from "./state-dir.ts";

export interface ProcessRef {
  pid: number;
  /** /proc/PID/stat start time, so a reused pid is not mistaken for the owner. */
  start: string;
  /**
   * The PID namespace the pid belongs to (/proc/self/ns/pid). A runtime in another
   * one (a state directory shared with a container) can't be proven dead from here.
   */
  pidns?: string;
}

export interface ContainerState {
  name: string;
  status: "creating" | "running";
  /** The runtime process that holds the container (`myuts run`); the entry is live while it is. */
  owner: ProcessRef;
  /** The container's first process (the native init's image, then the payload). */
  pid?: number;
  created: string;
  bundle?: string;
  rootfs?: string;
  /**
   * The container's cgroup. Recorded before any directory is made (`created` then
   * lists the ones about to be), so a runtime killed at any point leaves an entry
   * that names everything it made.
   */
  cgroup?: CgroupPaths;
  resources?: LinuxResources;
  /** The container's seccomp section: `exec` filters its process the same way. */
  seccomp?: LinuxSeccomp;
  /**
   * Its network attachment: recorded before its namespace exists, with what each CNI
   * ADD returned, so whoever tears it down runs DEL with the same.
   */
  network?: NetworkRecord;
}

const ENTRY_FILE = /^([a-zA-Z0-9][a-zA-Z0-9_.-]{0,127})\.json$/;
/** Far above any real entry; a bigger file is not one of ours. */
const MAX_ENTRY = 1024 * 1024;
/** The kernel's PID_MAX_LIMIT. */
const PID_MAX = 4 * 1024 * 1024;

/** Why an entry can't be read, for a warning line: the errno's name, or the message. */
function unreadable(e: unknown): string {
  const n = errnoOf(e);
  return n !== undefined ? errnoName(n) : e instanceof Error ? e.message : String(e);
}

let ownPidns: string | undefined;
function pidNamespace(): string {
  try {
    ownPidns ??= readlinkIfLink("/proc/self/ns/pid") ?? "";
  } catch {
    ownPidns = "";
  }
  return ownPidns;
}

export function selfRef(): ProcessRef {
  const pidns = pidNamespace();
  return { pid: process.pid, start: processStart(process.pid) ?? "", ...(pidns ? { pidns } : {}) };
}

export function isLive(s: ContainerState): boolean {
  return stillRunning(s.owner.pid, s.owner.start);
}

/** Whether the entry's runtime is provably gone: its pid, in this PID namespace, no longer has its start time. */
function isDead(s: ContainerState): boolean {
  if (s.owner.pidns !== undefined && s.owner.pidns !== pidNamespace()) return false;
  return !isLive(s);
}

const file = (dir: string, name: string) => joinPath(dir, `${name}.json`);
const warnLine = (msg: string) => stderr(`myuts: warning: ${escapeControl(msg)}\n`);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isPid = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0 && (v as number) <= PID_MAX;
const optString = (v: unknown) => v === undefined || (typeof v === "string" && !v.includes("\0") && v.length <= 4096);

/** An entry's fields, checked one by one; throws the first thing wrong with them. */
export function parseEntry(text: string, expectedName: string): ContainerState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error("not valid JSON");
  }
  if (!isObject(v)) throw new Error(`not a JSON object (${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v})`);
  if (typeof v.name !== "string" || v.name !== expectedName) throw new Error("its name does not match its file name");
  if (v.status !== "creating" && v.status !== "running") throw new Error("status is neither creating nor running");
  const owner = v.owner;
  if (!isObject(owner) || !isPid(owner.pid) || typeof owner.start !== "string" || !/^\d{1,20}$/.test(owner.start))
    throw new Error("owner is not a {pid, start} pair");
  if (owner.pidns !== undefined && (typeof owner.pidns !== "string" || !/^pid:\[\d{1,20}\]$/.test(owner.pidns)))
    throw new Error("owner.pidns is not a PID namespace");
  if (v.pid !== undefined && !isPid(v.pid)) throw new Error("pid is not a process id");
  if (typeof v.created !== "string" || v.created.length > 64) throw new Error("created is not a time");
  if (!optString(v.bundle) || !optString(v.rootfs)) throw new Error("bundle or rootfs is not a path");
  if (v.resources !== undefined && !isObject(v.resources)) throw new Error("resources is not an object");
  if (v.seccomp !== undefined && !isObject(v.seccomp)) throw new Error("seccomp is not an object");
  const cgroup = optionalField("cgroup", v.cgroup, parseCgroupPaths);
  const network = optionalField("network", v.network, parseNetworkRecord);
  return {
    name: v.name,
    status: v.status,
    owner: { pid: owner.pid, start: owner.start, ...(owner.pidns !== undefined ? { pidns: owner.pidns as string } : {}) },
    ...(v.pid !== undefined ? { pid: v.pid as number } : {}),
    created: v.created,
    ...(v.bundle !== undefined ? { bundle: v.bundle as string } : {}),
    ...(v.rootfs !== undefined ? { rootfs: v.rootfs as string } : {}),
    ...(cgroup ? { cgroup } : {}),
    ...(v.resources !== undefined ? { resources: v.resources as LinuxResources } : {}),
    ...(v.seccomp !== undefined ? { seccomp: v.seccomp as unknown as LinuxSeccomp } : {}),
    ...(network ? { network } : {}),
  };
}

/** An optional field through its own parser; its errors are prefixed with the field's name. */
function optionalField<T>(name: string, v: unknown, parse: (v: unknown) => T): T | undefined {
  if (v === undefined) return undefined;
  try {
    return parse(v);
  } catch (e) {
    throw new Error(`${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

type EntryRead = { state: ContainerState } | { missing: true } | { invalid: string };

/** One entry, as a state, missing, or the reason it can't be used. */
export function readEntry(name: string, dir = STATE_DIR): EntryRead {
  const f = file(dir, name);
  let text: string;
  try {
    text = readRegularFile(f, MAX_ENTRY, { noFollow: true }).toString("utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return { missing: true };
    return { invalid: e instanceof RefusedFile ? e.message : (e as { code?: string }).code === "ELOOP" ? "a symbolic link" : unreadable(e) };
  }
  try {
    return { state: parseEntry(text, name) };
  } catch (e) {
    return { invalid: e instanceof Error ? e.message : String(e) };
  }
}

/** A usable entry, or undefined; a broken one gets one warning line. */
export function readState(name: string, dir = STATE_DIR, warn: (msg: string) => void = warnLine): ContainerState | undefined {
  const r = readEntry(name, dir);
  if ("invalid" in r) {
    warn(`registry entry ${file(dir, name)}: ${r.invalid}; skipped`);
    return undefined;
  }
  return "state" in r ? r.state : undefined;
}

/** The state of a live container, or a one-line error. */
export function liveState(name: string, dir = STATE_DIR): ContainerState {
  const s = readState(checkName(name, "container"), dir);
  if (!s || !isLive(s)) throw new UserError(`container ${name}: no such running container`);
  return s;
}

/** Writes an entry atomically (a temporary file renamed over it), so readers never see half a file. */
function writeEntry(s: ContainerState, dir: string): void {
  const tmp = joinPath(dir, `.${s.name}.${process.pid}.tmp`);
  const fd = openFile(tmp, { write: true, create: true, truncate: true, noFollow: true }, 0o600);
  try {
    writeAll(fd, Buffer.from(JSON.stringify(s)));
  } finally {
    close(fd);
  }
  renameFile(tmp, file(dir, s.name));
}

/**
 * Registers a new container; refuses a name a live container holds. Call with the
 * registry locked and swept: a dead holder's entry is gone by then, unless its
 * cgroup could not be removed, which keeps the name taken.
 */
export function claimName(s: ContainerState, dir = STATE_DIR, detached = false): void {
  // A detached container's directory holds its name until `rm`, running or not (its own start reserved it).
  if (!detached && exists(joinPath(dir, DETACHED_SUBDIR, s.name)))
    throw new UserError(`--name ${s.name}: already in use by a container (remove it first: myuts rm ${s.name})`);
  const old = readEntry(s.name, dir);
  if ("state" in old) {
    if (isLive(old.state)) throw new UserError(`--name ${s.name}: already in use by a running container (runtime pid ${old.state.owner.pid})`);
    throw new UserError(
      `--name ${s.name}: taken by ${file(dir, s.name)}, whose runtime is gone but whose cgroup could not be removed yet (or which another PID namespace holds); try again, or pick another name`,
    );
  }
  if ("invalid" in old) throw new UserError(`--name ${s.name}: ${file(dir, s.name)} is not a valid registry entry (${old.invalid}); remove it by hand`);
  try {
    writeEntry(s, dir);
  } catch (e) {
    throw fsError(`state ${file(dir, s.name)}`, e);
  }
}

/** Rewrites this runtime's own entry. */
export function saveState(s: ContainerState, dir = STATE_DIR): void {
  writeEntry(s, dir);
}

export function removeState(name: string, dir = STATE_DIR): void {
  removeTree(file(dir, checkName(name)));
}

/** The names of the entries in the directory (files that can't be entries are ignored). */
function entryNames(dir = STATE_DIR): string[] {
  let names: string[];
  try {
    names = listDir(dir).map((e) => e.name);
  } catch {
    return [];
  }
  return names.flatMap((n) => ENTRY_FILE.exec(n)?.[1] ?? []);
}

export function listStates(dir = STATE_DIR, warn: (msg: string) => void = warnLine): ContainerState[] {
  return entryNames(dir).flatMap((n) => readState(n, dir, warn) ?? []);
}

/**
 * Removes the entries of runtimes that died without cleaning up (SIGKILL), after
 * `release` has freed what each held (its cgroup: killed and removed). An entry whose
 * release reports a problem stays, so a later start tries again. Call with the
 * registry locked: an owner's pid and start time prove it dead, and the lock keeps
 * anyone from claiming the name meanwhile.
 */
export function sweepStale(dir: string, release: (s: ContainerState) => string[], warn: (msg: string) => void = warnLine): ContainerState[] {
  const swept: ContainerState[] = [];
  for (const s of listStates(dir, warn)) {
    if (!isDead(s)) continue;
    const problems = release(s);
    if (problems.length) {
      warn(`container ${s.name} (runtime pid ${s.owner.pid}, gone): ${problems.join("; ")}; its entry stays for the next start`);
      continue;
    }
    removeTree(file(dir, s.name));
    swept.push(s);
  }
  sweepTemporaries(dir);
  return swept;
}

/** A runtime killed while it rewrote its entry leaves the temporary file (".NAME.PID.tmp"): gone with its writer. */
function sweepTemporaries(dir: string): void {
  let names: string[];
  try {
    names = listDir(dir).map((e) => e.name);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^\.[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}\.(\d{1,10})\.tmp$/.exec(n);
    if (m && processStart(Number(m[1])) === undefined) removeTree(joinPath(dir, n));
  }
}
