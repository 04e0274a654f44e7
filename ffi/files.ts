// The file operations the start path needs, straight through libc. node:fs would do,
// but loading it costs the runtime about a millisecond on every container start,
// more than all of these calls together.
import { EINVAL, ENOENT, ENOTDIR, SyscallError } from "./errno.ts";
import { check, close, cstr, errno, libc, O_CLOEXEC, readAll, writeAll } from "./libc.ts";

const O =
  process.arch === "arm64" ? { RDONLY: 0, WRONLY: 1, DIRECTORY: 0o40000, PATH: 0o10000000 } : { RDONLY: 0, WRONLY: 1, DIRECTORY: 0o200000, PATH: 0o10000000 };

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
