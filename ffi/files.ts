// The file operations the start path needs, straight through libc. node:fs would do,
// but loading it costs each of the two processes of a container start about a
// millisecond, more than all of these calls together.
import { ptr } from "bun:ffi";
import { EEXIST, EINVAL, ENOENT, ENOSYS, ENOTDIR, EPERM, SyscallError } from "./errno.ts";
import { check, close, cstr, errno, libc, O_CLOEXEC, readAll, writeAll } from "./libc.ts";

const O = process.arch === "arm64"
  ? { RDONLY: 0, WRONLY: 1, CREAT: 0o100, DIRECTORY: 0o40000, PATH: 0o10000000 }
  : { RDONLY: 0, WRONLY: 1, CREAT: 0o100, DIRECTORY: 0o200000, PATH: 0o10000000 };

export const X_OK = 1;
const SYS_openat2 = 437; // the same on x86_64 and arm64
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_IN_ROOT = 0x10;
const F_OK = 0;

function open(path: string, flags: number, mode = 0): number {
  return check(libc().open(cstr(path), flags | O_CLOEXEC, mode), "open", path);
}

/** A whole (small) file as text. */
export function readText(path: string): string {
  const fd = open(path, O.RDONLY);
  try {
    return readAll(fd).toString("utf8");
  } finally {
    close(fd);
  }
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

export function accessible(path: string, mode: number): boolean {
  return libc().access(cstr(path), mode) === 0;
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

/** mkdir -p */
export function mkdirAll(path: string, mode = 0o755): void {
  if (libc().mkdir(cstr(path), mode) === 0) return;
  const e = errno();
  if (e === EEXIST) return;
  if (e !== ENOENT) throw new SyscallError("mkdir", e, path);
  const parent = path.slice(0, path.replace(/\/+$/, "").lastIndexOf("/"));
  if (!parent || parent === path) throw new SyscallError("mkdir", e, path);
  mkdirAll(parent, mode);
  if (libc().mkdir(cstr(path), mode) !== 0 && errno() !== EEXIST) throw new SyscallError("mkdir", errno(), path);
}

/** Creates an empty file if none is there (a bind-mount target). */
export function touch(path: string, mode = 0o644): void {
  close(open(path, O.WRONLY | O.CREAT, mode));
}

/** Creates a symlink; one already there is left alone. */
export function symlink(target: string, path: string): void {
  if (libc().symlink(cstr(target), cstr(path)) === 0) return;
  const e = errno();
  if (e !== EEXIST) throw new SyscallError("symlink", e, path);
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

/** An O_PATH descriptor of a directory. */
export function openDirectory(path: string): number {
  return open(path, O.PATH | O.DIRECTORY);
}

/**
 * An O_PATH descriptor of `path` resolved as if `rootFd` were "/": symlinks and ".."
 * can't leave it, and the kernel resolves it in one step, so a component swapped for
 * a symlink by another process can't redirect it. Undefined on kernels without
 * openat2 (before 5.6) or where a seccomp filter refuses it.
 */
export function openInRoot(rootFd: number, path: string): number | undefined {
  const how = new BigUint64Array([BigInt(O.PATH | O_CLOEXEC), 0n, BigInt(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)]);
  const p = cstr(path);
  const fd = Number(libc().syscall(SYS_openat2, rootFd, ptr(p), ptr(how), how.byteLength, 0));
  if (fd >= 0) return fd;
  const e = errno();
  // Old kernels lack it; some seccomp profiles refuse it with EPERM.
  if (e === ENOSYS || e === EPERM) return undefined;
  throw new SyscallError("openat2", e, path);
}

/**
 * Opens (O_PATH) `path` inside the root, creating what is missing (directories, and
 * the last component as a directory or an empty file) through descriptors that were
 * themselves resolved inside the root: nothing can be created outside it. `canonical`
 * gives the path with its symlinks resolved inside the root, so that a dangling one
 * gets its target created. Undefined where openat2 isn't available.
 */
export function openOrCreateInRoot(rootFd: number, path: string, dir: boolean, canonical: () => string): number | undefined {
  try {
    return openInRoot(rootFd, path);
  } catch (e) {
    if (!(e instanceof SyscallError) || e.errno !== ENOENT) throw e;
  }
  const parts = canonical().split("/").filter((p) => p && p !== ".");
  let prefix = "";
  for (const [i, part] of parts.entries()) {
    const parent = openInRoot(rootFd, prefix || "/");
    if (parent === undefined) return undefined;
    try {
      const last = i === parts.length - 1;
      const name = cstr(part);
      if (!last || dir) {
        if (libc().mkdirat(parent, name, 0o755) !== 0 && errno() !== EEXIST) throw new SyscallError("mkdir", errno(), `${prefix}/${part}`);
      } else {
        const fd = libc().openat(parent, name, O.WRONLY | O.CREAT | O_CLOEXEC, 0o644);
        if (fd < 0 && errno() !== EEXIST) throw new SyscallError("open", errno(), `${prefix}/${part}`);
        if (fd >= 0) close(fd);
      }
    } finally {
      close(parent);
    }
    prefix = `${prefix}/${part}`;
  }
  return openInRoot(rootFd, path);
}
