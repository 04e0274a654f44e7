// Linux errno numbers are the asm-generic ones on both x86_64 and arm64.
// The names and texts are built when a message first needs them, not when every
// command loads this module.
let names: Record<number, [string, string]> | undefined;
const errnoTable = (): Record<number, [string, string]> =>
  (names ??= {
    1: ["EPERM", "Operation not permitted"],
    2: ["ENOENT", "No such file or directory"],
    3: ["ESRCH", "No such process"],
    4: ["EINTR", "Interrupted system call"],
    5: ["EIO", "Input/output error"],
    6: ["ENXIO", "No such device or address"],
    7: ["E2BIG", "Argument list too long"],
    8: ["ENOEXEC", "Exec format error"],
    9: ["EBADF", "Bad file descriptor"],
    10: ["ECHILD", "No child processes"],
    11: ["EAGAIN", "Resource temporarily unavailable"],
    12: ["ENOMEM", "Cannot allocate memory"],
    13: ["EACCES", "Permission denied"],
    14: ["EFAULT", "Bad address"],
    15: ["ENOTBLK", "Block device required"],
    16: ["EBUSY", "Device or resource busy"],
    17: ["EEXIST", "File exists"],
    18: ["EXDEV", "Invalid cross-device link"],
    19: ["ENODEV", "No such device"],
    20: ["ENOTDIR", "Not a directory"],
    21: ["EISDIR", "Is a directory"],
    22: ["EINVAL", "Invalid argument"],
    23: ["ENFILE", "Too many open files in system"],
    24: ["EMFILE", "Too many open files"],
    25: ["ENOTTY", "Inappropriate ioctl for device"],
    26: ["ETXTBSY", "Text file busy"],
    27: ["EFBIG", "File too large"],
    28: ["ENOSPC", "No space left on device"],
    29: ["ESPIPE", "Illegal seek"],
    30: ["EROFS", "Read-only file system"],
    31: ["EMLINK", "Too many links"],
    32: ["EPIPE", "Broken pipe"],
    34: ["ERANGE", "Numerical result out of range"],
    36: ["ENAMETOOLONG", "File name too long"],
    38: ["ENOSYS", "Function not implemented"],
    39: ["ENOTEMPTY", "Directory not empty"],
    40: ["ELOOP", "Too many levels of symbolic links"],
    95: ["EOPNOTSUPP", "Operation not supported"],
    61: ["ENODATA", "No data available"],
    88: ["ENOTSOCK", "Socket operation on non-socket"],
    71: ["EPROTO", "Protocol error"],
    91: ["EPROTOTYPE", "Protocol wrong type for socket"],
    98: ["EADDRINUSE", "Address already in use"],
    104: ["ECONNRESET", "Connection reset by peer"],
    110: ["ETIMEDOUT", "Connection timed out"],
    111: ["ECONNREFUSED", "Connection refused"],
    122: ["EDQUOT", "Disk quota exceeded"],
  });

export const ENOENT = 2;
export const ENODATA = 61;
export const EINTR = 4;
export const EACCES = 13;
export const ENOEXEC = 8;
export const EINVAL = 22;
export const EPROTO = 71;
export const ECONNREFUSED = 111;
export const ETIMEDOUT = 110;
export const EPERM = 1;
export const EEXIST = 17;
export const ENOTDIR = 20;
export const ENOSYS = 38;
export const EBADF = 9;
export const EISDIR = 21;
export const ELOOP = 40;
export const EPIPE = 32;
export const ENAMETOOLONG = 36;

export function errnoName(errno: number): string {
  return errnoTable()[errno]?.[0] ?? `E${errno}`;
}

export function errnoText(errno: number): string {
  const e = errnoTable()[errno];
  return e ? `${e[0]} (${e[1]})` : `errno ${errno}`;
}

/** Maps Node/Bun error codes ("ENOENT") back to numbers, for errors raised by node:fs. */
export function errnoFromCode(code: string | undefined): number | undefined {
  if (!code) return undefined;
  for (const [n, [name]] of Object.entries(errnoTable())) if (name === code) return Number(n);
  return undefined;
}

/** A failed system call: which one, on what, and the errno. */
export class SyscallError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly target?: string,
  ) {
    super(`${syscall}${target ? ` ${target}` : ""}: ${errnoText(errno)}`);
    this.name = "SyscallError";
  }
  get code(): string {
    return errnoName(this.errno);
  }
}
