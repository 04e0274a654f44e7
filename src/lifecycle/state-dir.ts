// Where the registry lives, and the lock every change to it takes. The directory
// decides what later starts kill and delete, so it must be the caller's own: one
// planted by another user (a shared /tmp) or a symlink to elsewhere is refused.
import { close, flock, LOCK_EX, LOCK_UN } from "../../ffi/libc.ts";
import { changeMode, type FileStat, fstat, lstat, makeDir, openFile, removeDir } from "../../ffi/files.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs, os, path } from "../util/node.ts";

/**
 * Root keeps state in /run/myuts; anyone else in their runtime directory, as
 * rootless runc and podman do ($XDG_RUNTIME_DIR/myuts), else /tmp/myuts-<uid>.
 */
export const STATE_DIR = stateDirPath(process.geteuid?.() ?? 0, process.env.XDG_RUNTIME_DIR);

/** Where detached containers keep their directories (lifecycle/detached.ts), inside the state directory. */
export const DETACHED_SUBDIR = ".containers";

export function stateDirPath(uid: number, xdgRuntimeDir: string | undefined): string {
  if (uid === 0) return "/run/myuts";
  if (xdgRuntimeDir?.startsWith("/")) return path().join(xdgRuntimeDir, "myuts");
  return path().join(os().tmpdir(), `myuts-${uid}`);
}

const errCode = (e: unknown) => (e as { code?: string } | null)?.code;

/** Why `dir` may not hold this user's registry, or undefined when it may. */
function unsafeStateDir(dir: string, st: FileStat, uid: number): string | undefined {
  if (st.type === "symlink") return "is a symbolic link; refusing to follow it";
  if (st.type !== "directory") return "is not a directory";
  if (st.uid !== uid) return `is owned by uid ${st.uid}, not by you (uid ${uid}); refusing to use it (remove it, or set XDG_RUNTIME_DIR)`;
  if ((st.mode & 0o077) !== 0) return `has mode ${st.mode.toString(8).padStart(4, "0")}, open to other users; refusing to use it (chmod 700 ${dir})`;
  return undefined;
}

/** The registry, locked: nothing else sweeps or claims until `release`. */
export interface StateLock {
  readonly dir: string;
  /** Removes the directory if it is empty (rmdir only: a file someone put there keeps it). */
  removeIfEmpty(): void;
  release(): void;
}

/**
 * Opens and locks the registry. With `create`, makes it (mode 0700) when missing;
 * without, returns undefined when there is none. Throws a UserError naming the
 * directory when it isn't this user's private directory.
 */
export function lockStateDir(opts: { create: boolean }, dir = STATE_DIR, uid = process.geteuid?.() ?? 0): StateLock | undefined {
  // A start that finds the directory just removed (empty, by a run that ended) tries again.
  for (let attempt = 0; ; attempt++) {
    if (opts.create) {
      try {
        makeDir(dir, 0o700);
        // Whatever the umask took away; /tmp's sticky bit keeps others from swapping it meanwhile.
        changeMode(dir, 0o700);
      } catch (e) {
        // A --root whose parents don't exist yet (containerd's shim passes /run/containerd/runc/NS): made as runc does.
        if (errCode(e) === "ENOENT" && attempt === 0) {
          try {
            fs().mkdirSync(path().dirname(dir), { recursive: true, mode: 0o711 });
          } catch (e2) {
            throw fsError(`state directory ${dir}`, e2, "mkdir");
          }
          continue;
        }
        if (errCode(e) !== "EEXIST") throw fsError(`state directory ${dir}`, e, "mkdir");
      }
    }
    // lstat first for a clear message; O_NOFOLLOW and fstat then make sure the
    // directory checked is the one opened.
    let st: FileStat;
    try {
      st = lstat(dir);
    } catch (e) {
      if (errCode(e) === "ENOENT" && !opts.create) return undefined;
      if (errCode(e) === "ENOENT" && attempt < 5) continue;
      throw fsError(`state directory ${dir}`, e);
    }
    const bad = unsafeStateDir(dir, st, uid);
    if (bad) throw new UserError(`state directory ${dir}: ${bad}`);
    let fd: number;
    try {
      fd = openFile(dir, { directory: true, noFollow: true });
    } catch (e) {
      if (errCode(e) === "ENOENT" && attempt < 5) continue;
      throw fsError(`state directory ${dir}`, e, "open");
    }
    let removed: boolean;
    try {
      const opened = fstat(fd, dir);
      const again = unsafeStateDir(dir, opened, uid);
      if (again) throw new UserError(`state directory ${dir}: ${again}`);
      if (opened.ino !== st.ino || opened.dev !== st.dev) throw new UserError(`state directory ${dir}: replaced while being opened; try again`);
      flock(fd, LOCK_EX);
      // Removed (empty) by another run between our open and our lock: start over.
      removed = fstat(fd, dir).nlink === 0;
    } catch (e) {
      close(fd);
      throw e;
    }
    if (!removed) return lockHandle(dir, fd);
    close(fd);
    if (attempt >= 5) throw new UserError(`state directory ${dir}: keeps disappearing; try again`);
  }
}

function lockHandle(dir: string, fd: number): StateLock {
  let open = true;
  return {
    dir,
    removeIfEmpty() {
      try {
        removeDir(dir);
      } catch {
        // ENOTEMPTY: another container's entry (or any file) is there; ENOENT: gone already
      }
    },
    release() {
      if (!open) return;
      open = false;
      try {
        flock(fd, LOCK_UN);
      } finally {
        close(fd);
      }
    },
  };
}
