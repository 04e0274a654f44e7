// The file operations the start path and the lifecycle commands need, straight through
// libc. node:fs would do, but loading it and its first read cost a command about as long
// as everything else it does after Bun's own start.
import { ptr } from "bun:ffi";
import { EINTR, EINVAL, ELOOP, ENOENT, ENOTDIR, SyscallError } from "./errno.ts";
import { check, close, cstr, errno, libc, O_CLOEXEC, readAll, writeAll } from "./libc.ts";

const ARM64 = process.arch === "arm64";
// The flags that differ between the two architectures are O_DIRECTORY and O_NOFOLLOW.
const O = {
  RDONLY: 0,
  WRONLY: 1,
  CREAT: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  NONBLOCK: 0o4000,
  DIRECTORY: ARM64 ? 0o40000 : 0o200000,
  NOFOLLOW: ARM64 ? 0o100000 : 0o400000,
  PATH: 0o10000000,
};
// Calls libc's headers don't offer everywhere (glibc before 2.33 has no fstatat symbol), made through syscall(2).
const NR = ARM64
  ? { newfstatat: 79, renameat: 38, mkdirat: 34, unlinkat: 35, fchmodat: 53, getdents64: 61, openat: 56 }
  : { newfstatat: 262, renameat: 264, mkdirat: 258, unlinkat: 263, fchmodat: 268, getdents64: 217, openat: 257 };
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_REMOVEDIR = 0x200;
const AT_EMPTY_PATH = 0x1000;

const F_OK = 0;

function open(path: string, flags: number, mode = 0): number {
  return check(libc().open(cstr(path), flags | O_CLOEXEC, mode), "open", path);
}

/** A whole (small) file. */
export function readBytes(path: string): Buffer {
  const fd = open(path, O.RDONLY);
  try {
    return readAll(fd, 1 << 24);
  } finally {
    close(fd);
  }
}

/** A whole (small) file as text. */
export function readText(path: string): string {
  return readBytes(path).toString("utf8");
}

/** Writes a (small) file that must exist, such as a /proc control file, in one write. */
export function writeText(path: string, content: string): void {
  const fd = open(path, O.WRONLY);
  try {
    writeAll(fd, Buffer.from(content));
  } finally {
    close(fd);
  }
}

export function exists(path: string): boolean {
  return libc().access(cstr(path), F_OK) === 0;
}

/** Throws ENOENT, ENOTDIR, EACCES… as a SyscallError naming the path. */
export function checkDirectory(path: string): void {
  close(open(path, O.PATH | O.DIRECTORY));
}

export function isDirectory(path: string): boolean {
  const fd = libc().open(cstr(path), O.PATH | O.DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  close(fd);
  return true;
}

/** The link's target, or undefined when the path is missing or not a symlink. */
export function readlinkIfLink(path: string): string | undefined {
  const buf = Buffer.alloc(4096);
  const n = Number(libc().readlink(cstr(path), buf, buf.length));
  if (n >= 0) return buf.toString("utf8", 0, n);
  const e = errno();
  if (e === EINVAL || e === ENOENT || e === ENOTDIR) return undefined;
  throw new SyscallError("readlink", e, path);
}

function sys(nr: number, a: number, b: number, c: number, d: number, name: string, target?: string): number {
  for (;;) {
    const r = Number(libc().syscall(nr, a, b, c, d, 0, 0));
    if (r !== -1) return r;
    const e = errno();
    if (e !== EINTR) throw new SyscallError(name, e, target);
  }
}

export type FileType = "file" | "directory" | "symlink" | "fifo" | "character device" | "block device" | "socket" | "unknown";

/** File types by number: a mode's S_IFMT bits shifted down, which are also a directory entry's d_type. */
const TYPES: Record<number, FileType> = { 1: "fifo", 2: "character device", 4: "directory", 6: "block device", 8: "file", 10: "symlink", 12: "socket" };

export interface FileStat {
  type: FileType;
  /** The permission bits (and setuid, setgid, sticky). */
  mode: number;
  uid: number;
  nlink: number;
  dev: bigint;
  ino: bigint;
  size: number;
  /** Last modification, in ms since the epoch. */
  mtimeMs: number;
}

/** struct stat as the kernel fills it: x86_64's own layout, or the generic one arm64 uses. */
function statAt(dirfd: number, path: string, flags: number, name: string, target: string): FileStat {
  const buf = new DataView(new ArrayBuffer(160));
  const p = cstr(path);
  sys(NR.newfstatat, dirfd, ptr(p), ptr(buf), flags, name, target);
  const mode = buf.getUint32(ARM64 ? 16 : 24, true);
  return {
    type: TYPES[(mode >> 12) & 0xf] ?? "unknown",
    mode: mode & 0o7777,
    uid: buf.getUint32(ARM64 ? 24 : 28, true),
    nlink: ARM64 ? buf.getUint32(20, true) : Number(buf.getBigUint64(16, true)),
    dev: buf.getBigUint64(0, true),
    ino: buf.getBigUint64(8, true),
    size: Number(buf.getBigInt64(48, true)),
    // st_mtime and its nanoseconds sit at the same offsets in both layouts.
    mtimeMs: Number(buf.getBigInt64(88, true)) * 1000 + Number(buf.getBigUint64(96, true)) / 1e6,
  };
}

/** The path itself, a symlink not followed. */
export function lstat(path: string): FileStat {
  return statAt(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, "lstat", path);
}

/** What the path names, a symlink followed. */
export function stat(path: string): FileStat {
  return statAt(AT_FDCWD, path, 0, "stat", path);
}

/** What an open descriptor is. */
export function fstat(fd: number, what = `descriptor ${fd}`): FileStat {
  return statAt(fd, "", AT_EMPTY_PATH, "fstat", what);
}

export interface OpenOptions {
  write?: boolean;
  create?: boolean;
  /** With `create`: fail with EEXIST rather than open what is there. */
  exclusive?: boolean;
  truncate?: boolean;
  /** A symlink as the last component fails with ELOOP. */
  noFollow?: boolean;
  /** A FIFO can't hang the open. */
  nonBlock?: boolean;
  directory?: boolean;
}

/** A close-on-exec descriptor; throws a SyscallError naming the path. */
export function openFile(path: string, o: OpenOptions = {}, mode = 0o666): number {
  const flags =
    (o.write ? O.WRONLY : O.RDONLY) |
    (o.create ? O.CREAT : 0) |
    (o.exclusive ? O.EXCL : 0) |
    (o.truncate ? O.TRUNC : 0) |
    (o.noFollow ? O.NOFOLLOW : 0) |
    (o.nonBlock ? O.NONBLOCK : 0) |
    (o.directory ? O.DIRECTORY : 0);
  return open(path, flags, mode);
}

/** Writes `data` to a file that must not exist yet, not even as a symlink (mode as given, less the umask). */
export function createFile(path: string, data: Uint8Array, mode: number): void {
  const fd = openFile(path, { write: true, create: true, exclusive: true }, mode);
  try {
    writeAll(fd, data);
  } finally {
    close(fd);
  }
}

/** Creates or truncates `path` and writes `data`. */
export function replaceFile(path: string, data: Uint8Array, mode = 0o644): void {
  const fd = openFile(path, { write: true, create: true, truncate: true }, mode);
  try {
    writeAll(fd, data);
  } finally {
    close(fd);
  }
}

export function makeDir(path: string, mode: number): void {
  sys(NR.mkdirat, AT_FDCWD, ptr(cstr(path)), mode, 0, "mkdir", path);
}

export function removeDir(path: string): void {
  sys(NR.unlinkat, AT_FDCWD, ptr(cstr(path)), AT_REMOVEDIR, 0, "rmdir", path);
}

export function removeFile(path: string): void {
  sys(NR.unlinkat, AT_FDCWD, ptr(cstr(path)), 0, 0, "unlink", path);
}

/** rename(2): replaces `to` atomically. */
export function renameFile(from: string, to: string): void {
  const a = cstr(from);
  const b = cstr(to);
  sys(NR.renameat, AT_FDCWD, ptr(a), AT_FDCWD, ptr(b), "rename", `${from} to ${to}`);
}

/** chmod(2), following a symlink. */
export function changeMode(path: string, mode: number): void {
  sys(NR.fchmodat, AT_FDCWD, ptr(cstr(path)), mode, 0, "chmod", path);
}

/** An open directory's entries but "." and "..", with their types as the directory records them. */
function entriesOf(fd: number, what: string): { name: string; type: FileType }[] {
  const out: { name: string; type: FileType }[] = [];
  const buf = Buffer.alloc(32768);
  for (;;) {
    const n = sys(NR.getdents64, fd, ptr(buf), buf.length, 0, "getdents64", what);
    if (n === 0) return out;
    // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[]
    for (let at = 0; at < n; ) {
      const reclen = buf.readUInt16LE(at + 16);
      const type = buf[at + 18]!;
      const end = buf.indexOf(0, at + 19);
      const name = buf.toString("utf8", at + 19, end);
      if (name !== "." && name !== "..") out.push({ name, type: TYPES[type] ?? "unknown" });
      at += reclen;
    }
  }
}

/** A directory's entries but "." and "..", with their types as the directory records them (a symlink is a symlink). */
export function listDir(path: string): { name: string; type: FileType }[] {
  const fd = openFile(path, { directory: true });
  try {
    return entriesOf(fd, path);
  } finally {
    close(fd);
  }
}

const missing = (e: unknown) => e instanceof SyscallError && e.errno === ENOENT;

/** Empties the directory open at `fd`, each entry removed relative to it: a directory renamed or swapped for a symlink meanwhile can't lead elsewhere. */
function emptyDir(fd: number, what: string): void {
  for (const { name, type } of entriesOf(fd, what)) {
    const at = `${what}/${name}`;
    const n = cstr(name);
    let sub = -1;
    // A filesystem that doesn't record types says "unknown": opening it as a directory tells.
    if (type === "directory" || type === "unknown") {
      try {
        sub = sys(NR.openat, fd, ptr(n), O.RDONLY | O.DIRECTORY | O.NOFOLLOW | O_CLOEXEC, 0, "open", at);
      } catch (e) {
        if (missing(e)) continue;
        const errno = e instanceof SyscallError ? e.errno : 0;
        if (type === "directory" || (errno !== ENOTDIR && errno !== ELOOP)) throw e;
      }
    }
    if (sub !== -1) {
      try {
        emptyDir(sub, at);
      } finally {
        close(sub);
      }
    }
    try {
      sys(NR.unlinkat, fd, ptr(n), sub !== -1 ? AT_REMOVEDIR : 0, 0, sub !== -1 ? "rmdir" : "unlink", at);
    } catch (e) {
      if (!missing(e)) throw e;
    }
  }
}

/** rm -rf: what is missing is no error; a symlink is removed, never followed. */
export function removeTree(path: string): void {
  let fd: number;
  try {
    fd = openFile(path, { directory: true, noFollow: true });
  } catch (e) {
    if (missing(e)) return;
    const n = e instanceof SyscallError ? e.errno : 0;
    // Not a directory (ENOTDIR), or a symlink (ELOOP): the name itself goes.
    if (n !== ENOTDIR && n !== ELOOP) throw e;
    try {
      removeFile(path);
    } catch (e2) {
      if (!missing(e2)) throw e2;
    }
    return;
  }
  try {
    emptyDir(fd, path);
  } finally {
    close(fd);
  }
  try {
    removeDir(path);
  } catch (e) {
    if (!missing(e)) throw e;
  }
}
