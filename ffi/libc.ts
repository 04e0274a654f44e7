// The one place that declares libc symbols. Every wrapper throws a SyscallError
// carrying the call's name and errno, so callers can name the flag or path.
import { dlopen, FFIType, ptr, read, type Pointer } from "bun:ffi";
import { EINTR, SyscallError } from "./errno.ts";

const { i32, u32, i64, u64, ptr: P, u64: usize } = FFIType;

const symbols = {
  __errno_location: { args: [], returns: P },
  sethostname: { args: [P, usize], returns: i32 },
  setdomainname: { args: [P, usize], returns: i32 },
  mount: { args: [P, P, P, u64, P], returns: i32 },
  umount2: { args: [P, i32], returns: i32 },
  syscall: { args: [i64, i64, i64, i64, i64, i64], returns: i64 },
  chdir: { args: [P], returns: i32 },
  chroot: { args: [P], returns: i32 },
  mknod: { args: [P, u32, u64], returns: i32 },
  execve: { args: [P, P, P], returns: i32 },
  prctl: { args: [i32, u64, u64, u64, u64], returns: i32 },
  socket: { args: [i32, i32, i32], returns: i32 },
  ioctl: { args: [i32, u64, P], returns: i32 },
  close: { args: [i32], returns: i32 },
  pipe2: { args: [P, i32], returns: i32 },
  read: { args: [i32, P, usize], returns: i64 },
  write: { args: [i32, P, usize], returns: i64 },
  waitpid: { args: [i32, P, i32], returns: i32 },
  kill: { args: [i32, i32], returns: i32 },
  fcntl: { args: [i32, i32, i64], returns: i32 },
  umask: { args: [u32], returns: u32 },
  isatty: { args: [i32], returns: i32 },
  ttyname_r: { args: [i32, P, usize], returns: i32 },
  memfd_create: { args: [P, u32], returns: i32 },
  statvfs: { args: [P, P], returns: i32 },
  unshare: { args: [i32], returns: i32 },
  getxattr: { args: [P, P, P, usize], returns: i64 },
  open: { args: [P, i32, u32], returns: i32 },
  openat: { args: [i32, P, i32, u32], returns: i32 },
  mkdirat: { args: [i32, P, u32], returns: i32 },
  access: { args: [P, i32], returns: i32 },
  mkdir: { args: [P, u32], returns: i32 },
  symlink: { args: [P, P], returns: i32 },
  readlink: { args: [P, P, usize], returns: i64 },
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

/** Opens libc once; call early in any stage that later changes its root. */
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

export function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
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

const nullable = (s: string | undefined | null): Buffer | null => (s == null ? null : cstr(s));

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
export const O_CLOEXEC = 0o2000000;
export const F_SETFD = 2;
export const FD_CLOEXEC = 1;
export const WNOHANG = 1;
export const PR_SET_PDEATHSIG = 1;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAPBSET_DROP = 24;
export const PR_SET_KEEPCAPS = 8;

const SYS = process.arch === "arm64"
  ? { pivot_root: 41, close_range: 436, setgroups: 159, setresuid: 147, setresgid: 149, rt_sigaction: 134, rt_sigprocmask: 135, capset: 91, flock: 32 }
  : { pivot_root: 155, close_range: 436, setgroups: 116, setresuid: 117, setresgid: 119, rt_sigaction: 13, rt_sigprocmask: 14, capset: 126, flock: 73 };

// --- wrappers ---
export function sethostname(name: string): void {
  const b = Buffer.from(name);
  check(libc().sethostname(b, b.length), "sethostname", name);
}

export function setdomainname(name: string): void {
  const b = Buffer.from(name);
  check(libc().setdomainname(b, b.length), "setdomainname", name);
}

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void {
  const r = libc().mount(nullable(source), cstr(target), nullable(fstype), BigInt(flags), nullable(data ?? null));
  check(r, "mount", target);
}

export function umount2(target: string, flags: number): void {
  check(libc().umount2(cstr(target), flags), "umount2", target);
}

export function pivotRoot(newRoot: string, putOld: string): void {
  const a = cstr(newRoot);
  const b = cstr(putOld);
  check(libc().syscall(SYS.pivot_root, ptr(a), ptr(b), 0, 0, 0), "pivot_root", newRoot);
}

/** Marks every descriptor from `first` up close-on-exec, so nothing leaks into the payload. */
export function cloexecFrom(first: number): void {
  const CLOSE_RANGE_CLOEXEC = 4;
  check(libc().syscall(SYS.close_range, first, 0xffffffff, CLOSE_RANGE_CLOEXEC, 0, 0), "close_range");
}

export function chdir(path: string): void {
  check(libc().chdir(cstr(path)), "chdir", path);
}

export function chroot(path: string): void {
  check(libc().chroot(cstr(path)), "chroot", path);
}

export function mknod(path: string, mode: number, major: number, minor: number): void {
  // glibc's makedev() layout
  const dev = (BigInt(major & 0xfff) << 8n) | BigInt(minor & 0xff) | (BigInt(minor & ~0xff) << 12n) | (BigInt(major & ~0xfff) << 32n);
  check(libc().mknod(cstr(path), mode, dev), "mknod", path);
}

// The credential calls below are raw syscalls on purpose: libc's wrappers signal
// every thread to change them all (several ms in a Bun process), but only the
// calling thread matters here: it execve()s next, and the others die with the exec.

/** Sets this thread's supplementary groups. */
export function setgroupsThread(gids: readonly number[]): void {
  const arr = new Uint32Array(gids.length || 1);
  gids.forEach((g, i) => (arr[i] = g));
  check(libc().syscall(SYS.setgroups, gids.length, ptr(arr), 0, 0, 0), "setgroups");
}

/** Sets this thread's real, effective and saved gid. */
export function setresgidThread(gid: number): void {
  check(libc().syscall(SYS.setresgid, gid, gid, gid, 0, 0), "setresgid", String(gid));
}

/** Sets this thread's real, effective and saved uid. */
export function setresuidThread(uid: number): void {
  check(libc().syscall(SYS.setresuid, uid, uid, uid, 0, 0), "setresuid", String(uid));
}

/**
 * Gives this thread default signal handling: every disposition SIG_DFL (Bun ignores
 * SIGPIPE and SIGXFSZ, and ignored signals survive execve) and nothing blocked.
 */
export function resetSignals(): void {
  const dfl = new BigUint64Array(4); // struct kernel_sigaction: handler SIG_DFL, no flags, empty mask
  for (let sig = 1; sig <= 64; sig++) {
    if (sig === 9 || sig === 19) continue;
    libc().syscall(SYS.rt_sigaction, sig, ptr(dfl), 0, 8, 0);
  }
  const empty = new BigUint64Array(1);
  const SIG_SETMASK = 2;
  libc().syscall(SYS.rt_sigprocmask, SIG_SETMASK, ptr(empty), 0, 8, 0);
}

/** Sets this thread's effective, permitted and inheritable capabilities (64-bit masks). */
export function capsetThread(effective: bigint, permitted: bigint, inheritable: bigint): void {
  const header = new Uint32Array([0x20080522, 0]); // _LINUX_CAPABILITY_VERSION_3, this thread
  const lo = (v: bigint) => Number(v & 0xffffffffn);
  const hi = (v: bigint) => Number(v >> 32n);
  const data = new Uint32Array([lo(effective), lo(permitted), lo(inheritable), hi(effective), hi(permitted), hi(inheritable)]);
  check(libc().syscall(SYS.capset, ptr(header), ptr(data), 0, 0, 0), "capset");
}

/** Replaces the process image; only returns by throwing. */
export function execve(path: string, argv: readonly string[], env: readonly string[]): never {
  const keep: Buffer[] = [];
  const a = cstrArray(argv, keep);
  const e = cstrArray(env, keep);
  libc().execve(cstr(path), a, e);
  throw new SyscallError("execve", errno(), path);
}

export function prctl(option: number, arg2: number, arg3 = 0): void {
  check(libc().prctl(option, BigInt(arg2), BigInt(arg3), 0n, 0n), "prctl");
}

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

/** Reads until EOF, `max` bytes, or (with `untilNewline`) a chunk ending a line. Retries EINTR. */
function readUntil(fd: number, max: number, untilNewline: boolean): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
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
    if (total >= max || (untilNewline && buf[n - 1] === 10)) break;
  }
  return Buffer.concat(chunks);
}

/** Reads until EOF or `max` bytes. */
export function readAll(fd: number, max = 1 << 20): Buffer {
  return readUntil(fd, max, false);
}

/**
 * Reads one line; the rest of the stream stays unread as long as the writer sends
 * nothing more before the reader answers (the spec pipe's protocol).
 */
export function readLine(fd: number, max = 1 << 24): string {
  return readUntil(fd, max, true).toString("utf8");
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

export const LOCK_EX = 2;
export const LOCK_UN = 8;

/**
 * flock(2), waiting through signals. A raw syscall (like the credential calls): the
 * registry's lock is off the start path, and every libc symbol declared above is
 * one more trampoline compiled in each process.
 */
export function flock(fd: number, op: number): void {
  for (;;) {
    if (Number(libc().syscall(SYS.flock, fd, op, 0, 0, 0)) === 0) return;
    const e = errno();
    if (e !== EINTR) throw new SyscallError("flock", e);
  }
}

export function kill(pid: number, sig: number): boolean {
  return libc().kill(pid, sig) === 0;
}

export function umask(mask: number): number {
  return libc().umask(mask);
}

export function isatty(fd: number): boolean {
  return libc().isatty(fd) === 1;
}

export function ttyname(fd: number): string | undefined {
  const buf = Buffer.alloc(256);
  if (libc().ttyname_r(fd, buf, buf.length) !== 0) return undefined;
  return buf.toString("utf8", 0, buf.indexOf(0));
}

export function memfdCreate(name: string): number {
  const MFD_CLOEXEC = 1;
  return check(libc().memfd_create(cstr(name), MFD_CLOEXEC), "memfd_create", name);
}

/**
 * The MS_* flags a mount currently has (from statvfs f_flag), limited to the ones a
 * bind remount must repeat: in a user namespace the kernel refuses to clear them.
 */
export function mountFlagsOf(path: string): number {
  const buf = new BigUint64Array(14); // struct statvfs on 64-bit glibc and musl; f_flag is field 9
  check(libc().statvfs(cstr(path), buf), "statvfs", path);
  const f = Number(buf[9]!);
  const ST_RELATIME = 4096;
  return (f & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.NOATIME | MS.NODIRATIME)) | (f & ST_RELATIME ? MS.RELATIME : 0);
}

/** Whether a file carries file capabilities (security.capability), as newuidmap may instead of setuid. */
export function hasFileCaps(path: string): boolean {
  return Number(libc().getxattr(cstr(path), cstr("security.capability"), null, 0)) > 0;
}

/** unshare(2): only the calling thread's namespaces change (Bun is multithreaded); execve carries them on. */
export function unshare(flags: number): void {
  check(libc().unshare(flags), "unshare");
}

/** Brings an interface up (SIOCGIFFLAGS / SIOCSIFFLAGS on a datagram socket). */
export function linkUp(ifname: string): void {
  const AF_INET = 2, SOCK_DGRAM = 2, SOCK_CLOEXEC = O_CLOEXEC;
  const SIOCGIFFLAGS = 0x8913n, SIOCSIFFLAGS = 0x8914n, IFF_UP = 1;
  const fd = check(libc().socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket");
  try {
    const ifr = Buffer.alloc(40);
    ifr.write(ifname, 0, 15, "utf8");
    check(libc().ioctl(fd, SIOCGIFFLAGS, ifr), "ioctl SIOCGIFFLAGS", ifname);
    ifr.writeInt16LE(ifr.readInt16LE(16) | IFF_UP, 16);
    check(libc().ioctl(fd, SIOCSIFFLAGS, ifr), "ioctl SIOCSIFFLAGS", ifname);
  } finally {
    libc().close(fd);
  }
}

export type { Pointer };
