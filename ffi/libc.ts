// The one place that declares libc symbols. Every wrapper throws a SyscallError
// carrying the call's name and errno, so callers can name the flag or path.
import { dlopen, FFIType, ptr, read, type Pointer } from "bun:ffi";
import { encodeEscaped, hasEscapes } from "./bytes.ts";
import { EINTR, ENODATA, SyscallError } from "./errno.ts";

const { i32, u32, i64, u64, ptr: P, u64: usize } = FFIType;

const symbols = {
  __errno_location: { args: [], returns: P },
  close: { args: [i32], returns: i32 },
  pipe2: { args: [P, i32], returns: i32 },
  read: { args: [i32, P, usize], returns: i64 },
  write: { args: [i32, P, usize], returns: i64 },
  waitpid: { args: [i32, P, i32], returns: i32 },
  kill: { args: [i32, i32], returns: i32 },
  fcntl: { args: [i32, i32, i64], returns: i32 },
  isatty: { args: [i32], returns: i32 },
  ttyname_r: { args: [i32, P, usize], returns: i32 },
  memfd_create: { args: [P, u32], returns: i32 },
  socketpair: { args: [i32, i32, i32, P], returns: i32 },
  getxattr: { args: [P, P, P, usize], returns: i64 },
  open: { args: [P, i32, u32], returns: i32 },
  access: { args: [P, i32], returns: i32 },
  readlink: { args: [P, P, usize], returns: i64 },
  _exit: { args: [i32], returns: FFIType.void },
  flock: { args: [i32, i32], returns: i32 },
  ioctl: { args: [i32, u64, P], returns: i32 },
  socket: { args: [i32, i32, i32], returns: i32 },
  connect: { args: [i32, P, u32], returns: i32 },
  sendmsg: { args: [i32, P, i32], returns: i64 },
  recvmsg: { args: [i32, P, i32], returns: i64 },
  bind: { args: [i32, P, u32], returns: i32 },
  listen: { args: [i32, i32], returns: i32 },
  // syscall(2) is variadic; declared with the number and all six arguments, the unused ones 0.
  syscall: { args: [i64, i64, i64, i64, i64, i64, i64], returns: i64 },
  unshare: { args: [i32], returns: i32 },
  setns: { args: [i32, i32], returns: i32 },
  mknod: { args: [P, u32, u64], returns: i32 },
  lsetxattr: { args: [P, P, P, usize, i32], returns: i32 },
  lgetxattr: { args: [P, P, P, usize], returns: i64 },
  llistxattr: { args: [P, P, usize], returns: i64 },
} as const;

/** Where this process's libc lives: musl's is its dynamic loader, glibc's is libc.so.6. */
function libcPath(): string {
  const compiled = typeof MYUTS_LIBC === "string" ? MYUTS_LIBC : "";
  if (compiled === "glibc") return "libc.so.6";
  if (compiled === "musl") return muslPath();
  const maps = (require("node:fs") as typeof import("node:fs")).readFileSync("/proc/self/maps", "utf8");
  return /ld-musl-[^/\s]*\.so/.test(maps) ? muslPath() : "libc.so.6";
}

function muslPath(): string {
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  return `/lib/ld-musl-${arch}.so.1`;
}

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | undefined;

/** Opens libc once. */
export function libc(): Lib {
  lib ??= dlopen(libcPath(), symbols).symbols;
  return lib;
}

export function errno(): number {
  const loc = libc().__errno_location();
  return loc ? read.i32(loc, 0) : 0;
}

/** Throws when a libc call returned -1. */
export function check(ret: number | bigint, syscall: string, target?: string): number {
  const n = Number(ret);
  if (n === -1) throw new SyscallError(syscall, errno(), target);
  return n;
}

/** A NUL-terminated C string; bytes that weren't UTF-8 come back as they were (ffi/bytes.ts). */
export function cstr(s: string): Buffer {
  if (!hasEscapes(s)) return Buffer.from(`${s}\0`, "utf8");
  const b = encodeEscaped(s);
  const out = Buffer.alloc(b.length + 1);
  out.set(b);
  return out;
}

/** A NULL-terminated char* array; `keep` holds the strings alive until the call returns. */
export function cstrArray(strs: readonly string[], keep: Buffer[]): BigUint64Array {
  const arr = new BigUint64Array(strs.length + 1);
  strs.forEach((s, i) => {
    const b = cstr(s);
    keep.push(b);
    arr[i] = BigInt(ptr(b));
  });
  return arr;
}

// --- constants (asm-generic values, identical on x86_64 and arm64) ---
export const CLONE = {
  NEWTIME: 0x80,
  NEWNS: 0x20000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOSYMFOLLOW: 256,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  MOVE: 8192,
  REC: 16384,
  SILENT: 32768,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;

export const MNT_DETACH = 2;
export const SIGKILL = 9;
export const O_CLOEXEC = 0o2000000;
export const F_SETFD = 2;
export const FD_CLOEXEC = 1;
export const WNOHANG = 1;

export function close(fd: number): void {
  libc().close(fd);
}

/** A pipe; both ends close-on-exec unless `inheritable`. */
export function pipe(inheritable = false): [number, number] {
  const fds = new Int32Array(2);
  check(libc().pipe2(fds, inheritable ? 0 : O_CLOEXEC), "pipe2");
  return [fds[0]!, fds[1]!];
}

export function setCloexec(fd: number): void {
  check(libc().fcntl(fd, F_SETFD, BigInt(FD_CLOEXEC)), "fcntl");
}

/** Reads until EOF or `max` bytes. Retries EINTR. */
export function readAll(fd: number, max = 1 << 20): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(Math.min(max, 65536));
  let total = 0;
  for (;;) {
    const n = Number(libc().read(fd, buf, Math.min(buf.length, max - total)));
    if (n === -1) {
      const e = errno();
      if (e === EINTR) continue;
      throw new SyscallError("read", e);
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    total += n;
    if (total >= max) break;
  }
  return Buffer.concat(chunks);
}

export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) {
    const view = data.subarray(off);
    const n = Number(libc().write(fd, view, view.length));
    if (n === -1) {
      const e = errno();
      if (e === EINTR) continue;
      throw new SyscallError("write", e);
    }
    off += n;
  }
}

export type WaitResult = { pid: number; status: number } | undefined;

/** waitpid with WNOHANG: undefined while the child runs. */
export function waitNoHang(pid: number): WaitResult {
  const st = new Int32Array(1);
  const r = libc().waitpid(pid, st, WNOHANG);
  if (r === -1) throw new SyscallError("waitpid", errno(), String(pid));
  return r === 0 ? undefined : { pid: r, status: st[0]! };
}

/** waitpid until `pid` exits (EINTR retried); its wait status. */
export function waitBlocking(pid: number): number {
  const st = new Int32Array(1);
  for (;;) {
    if (libc().waitpid(pid, st, 0) !== -1) return st[0]!;
    const e = errno();
    if (e !== EINTR) throw new SyscallError("waitpid", e, String(pid));
  }
}

/**
 * Ends the process now, without Bun's teardown (about as long as a container's
 * whole setup). Only for output written synchronously (src/util/output.ts).
 */
export function exitNow(code: number): never {
  libc()._exit(code);
  throw new Error("_exit returned");
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_UN = 8;

/** flock(2), waiting through signals. */
export function flock(fd: number, op: number): void {
  for (;;) {
    if (libc().flock(fd, op) === 0) return;
    const e = errno();
    if (e !== EINTR) throw new SyscallError("flock", e);
  }
}

/**
 * A new network namespace, its lo up, held by the descriptor returned (close-on-exec).
 * Namespaces are per thread: this thread enters the new one only to open it, then
 * returns to the one it was in (`back`, an open descriptor of its own namespace).
 */
export function openNewNetns(back: number): number {
  check(libc().unshare(CLONE.NEWNET), "unshare", "CLONE_NEWNET");
  let fd = -1;
  try {
    loopbackUp();
    fd = check(libc().open(cstr("/proc/thread-self/ns/net"), O_CLOEXEC, 0), "open", "/proc/thread-self/ns/net");
  } finally {
    // Always back, whatever failed: the runtime's own sockets and children live there.
    const r = libc().setns(back, CLONE.NEWNET);
    if (r !== 0 && fd !== -1) libc().close(fd);
    check(r, "setns", "the runtime's network namespace");
  }
  return fd;
}

/** This thread's network namespace's lo, brought up: SIOCSIFFLAGS with IFF_UP on an AF_INET socket. */
function loopbackUp(): void {
  const AF_INET = 2;
  const SOCK_DGRAM_CLOEXEC = 2 | O_CLOEXEC;
  const SIOCSIFFLAGS = 0x8914;
  const IFF_UP = 1;
  const fd = check(libc().socket(AF_INET, SOCK_DGRAM_CLOEXEC, 0), "socket", "lo");
  try {
    // struct ifreq: the name (16 bytes), then ifr_flags.
    const ifr = Buffer.alloc(40);
    ifr.write("lo");
    ifr.writeInt16LE(IFF_UP, 16);
    check(libc().ioctl(fd, SIOCSIFFLAGS, ptr(ifr)), "ioctl", "SIOCSIFFLAGS lo");
  } finally {
    libc().close(fd);
  }
}

export function kill(pid: number, sig: number): boolean {
  return libc().kill(pid, sig) === 0;
}

export function isatty(fd: number): boolean {
  return libc().isatty(fd) === 1;
}

export function ttyname(fd: number): string | undefined {
  const buf = Buffer.alloc(256);
  if (libc().ttyname_r(fd, buf, buf.length) !== 0) return undefined;
  return buf.toString("utf8", 0, buf.indexOf(0));
}

export function memfdCreate(name: string, sealable = false): number {
  const MFD_CLOEXEC = 1,
    MFD_ALLOW_SEALING = 2;
  return check(libc().memfd_create(cstr(name), MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0)), "memfd_create", name);
}

/** Seals a memfd against every change: no write, no resize, no further seals. */
export function sealMemfd(fd: number): void {
  const F_ADD_SEALS = 1033,
    F_SEAL_SEAL = 1,
    F_SEAL_SHRINK = 2,
    F_SEAL_GROW = 4,
    F_SEAL_WRITE = 8;
  check(libc().fcntl(fd, F_ADD_SEALS, BigInt(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)), "fcntl F_ADD_SEALS");
}

/** A connected pair of stream sockets, both close-on-exec. */
export function socketpair(): [number, number] {
  const AF_UNIX = 1,
    SOCK_STREAM = 1,
    SOCK_CLOEXEC = O_CLOEXEC;
  const fds = new Int32Array(2);
  check(libc().socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), "socketpair");
  return [fds[0]!, fds[1]!];
}

/** Whether a file carries file capabilities (security.capability), as newuidmap may instead of setuid. */
export function hasFileCaps(path: string): boolean {
  return Number(libc().getxattr(cstr(path), cstr("security.capability"), null, 0)) > 0;
}

export type { Pointer };

/** Numbered alike on x86-64 and arm64 (the generic table, from 424 on). */
const NR_PIDFD_OPEN = 434;
const NR_PIDFD_GETFD = 438;

/** A copy of another process's descriptor `fd` (close-on-exec), through a pidfd. */
export function pidfdGetfd(pid: number, fd: number): number {
  const pidfd = Number(check(libc().syscall(NR_PIDFD_OPEN, pid, 0, 0, 0, 0, 0), "pidfd_open"));
  try {
    return Number(check(libc().syscall(NR_PIDFD_GETFD, pidfd, fd, 0, 0, 0, 0), "pidfd_getfd"));
  } finally {
    close(pidfd);
  }
}

/** mknod(2): a device node, FIFO or (char 0:0) overlayfs whiteout. */
export function mknod(path: string, mode: number, dev: bigint): void {
  check(libc().mknod(cstr(path), mode, dev), "mknod", path);
}

/** lgetxattr(2) on the link itself: the value, or undefined when the file has no such attribute. */
export function lgetxattr(path: string, name: string): Uint8Array | undefined {
  const size = Number(libc().lgetxattr(cstr(path), cstr(name), null, 0));
  if (size < 0) {
    if (errno() === ENODATA) return undefined;
    check(-1, "lgetxattr", path);
  }
  const buf = Buffer.alloc(size);
  const n = Number(check(libc().lgetxattr(cstr(path), cstr(name), buf, size), "lgetxattr", path));
  return new Uint8Array(buf.subarray(0, n));
}

/** llistxattr(2): the names of a file's (not a link's target's) extended attributes. */
export function llistxattr(path: string): string[] {
  const size = Number(check(libc().llistxattr(cstr(path), null, 0), "llistxattr", path));
  if (!size) return [];
  const buf = Buffer.alloc(size);
  const n = Number(check(libc().llistxattr(cstr(path), buf, size), "llistxattr", path));
  return buf
    .subarray(0, n)
    .toString("utf8")
    .split("\0")
    .filter((s) => s.length > 0);
}

/** lsetxattr(2) on the link itself, never its target. */
export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  const v = Buffer.from(value);
  check(libc().lsetxattr(cstr(path), cstr(name), v, v.length, 0), "lsetxattr", path);
}
