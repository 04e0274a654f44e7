// A pseudo-terminal for a container whose process.terminal is set, and runc's console
// socket protocol: the master end goes to the caller over a unix socket (SCM_RIGHTS).
import { ptr } from "bun:ffi";
import { ENAMETOOLONG, EPROTO, SyscallError } from "./errno.ts";
import { check, close, cstr, libc, O_CLOEXEC } from "./libc.ts";

const O_RDWR = 2;
const O_NOCTTY = 0o400;
const TIOCSPTLCK = 0x40045431;
const TIOCGPTN = 0x80045430;
const TIOCSWINSZ = 0x5414;
const TIOCGWINSZ = 0x5413;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;

export interface Pty {
  master: number;
  /** The slave's path in the runtime's /dev/pts. */
  slave: string;
}

/** A new pseudo-terminal: the master open (close-on-exec), the slave unlocked, the size set when given. */
export function openPty(size?: { rows: number; cols: number }): Pty {
  const master = check(libc().open(cstr("/dev/ptmx"), O_RDWR | O_NOCTTY | O_CLOEXEC, 0), "open", "/dev/ptmx");
  try {
    const arg = new Int32Array(1);
    check(libc().ioctl(master, BigInt(TIOCSPTLCK), ptr(arg)), "ioctl TIOCSPTLCK", "/dev/ptmx");
    check(libc().ioctl(master, BigInt(TIOCGPTN), ptr(arg)), "ioctl TIOCGPTN", "/dev/ptmx");
    if (size) {
      const ws = new Uint16Array([size.rows, size.cols, 0, 0]);
      check(libc().ioctl(master, BigInt(TIOCSWINSZ), ptr(ws)), "ioctl TIOCSWINSZ", "/dev/ptmx");
    }
    return { master, slave: `/dev/pts/${arg[0]}` };
  } catch (e) {
    close(master);
    throw e;
  }
}

/** A terminal's size, or undefined when `fd` is not a terminal (or has none set). */
export function windowSize(fd: number): { rows: number; cols: number } | undefined {
  const ws = new Uint16Array(4);
  if (Number(libc().ioctl(fd, BigInt(TIOCGWINSZ), ptr(ws))) < 0) return undefined;
  return ws[0] && ws[1] ? { rows: ws[0], cols: ws[1] } : undefined;
}

/** Sets a terminal's size; the kernel then sends SIGWINCH to its foreground process group. */
export function setWindowSize(fd: number, size: { rows: number; cols: number }): void {
  const ws = new Uint16Array([size.rows, size.cols, 0, 0]);
  check(libc().ioctl(fd, BigInt(TIOCSWINSZ), ptr(ws)), "ioctl TIOCSWINSZ");
}

/** struct sockaddr_un for `path`, and its length. */
function unixAddress(path: string, call: string): [Buffer, number] {
  const pathBytes = Buffer.from(path);
  if (pathBytes.length > 107) throw new SyscallError(call, ENAMETOOLONG, path);
  const addr = Buffer.alloc(110);
  addr.writeUInt16LE(AF_UNIX, 0);
  pathBytes.copy(addr, 2);
  return [addr, 2 + pathBytes.length + 1];
}

/** A close-on-exec stream socket connected to the unix socket at `path`. */
export function connectUnix(path: string): number {
  const sock = check(libc().socket(AF_UNIX, SOCK_STREAM | O_CLOEXEC, 0), "socket", path);
  try {
    const [addr, len] = unixAddress(path, "connect");
    check(libc().connect(sock, ptr(addr), len), "connect", path);
    return sock;
  } catch (e) {
    close(sock);
    throw e;
  }
}

/** A close-on-exec unix socket listening at `path` (which must not exist). */
export function listenUnix(path: string): number {
  const sock = check(libc().socket(AF_UNIX, SOCK_STREAM | O_CLOEXEC, 0), "socket", path);
  try {
    const [addr, len] = unixAddress(path, "bind");
    check(libc().bind(sock, ptr(addr), len), "bind", path);
    check(libc().listen(sock, 4), "listen", path);
    return sock;
  } catch (e) {
    close(sock);
    throw e;
  }
}

/** Receives one descriptor (SCM_RIGHTS) from a connected socket. */
export function receiveFd(sock: number, what: string): number {
  const data = Buffer.alloc(1);
  const iov = new BigUint64Array([BigInt(ptr(data)), 1n]);
  const cmsg = Buffer.alloc(24);
  const msg = new BigUint64Array([0n, 0n, BigInt(ptr(iov)), 1n, BigInt(ptr(cmsg)), 24n, 0n]);
  const n = Number(check(libc().recvmsg(sock, ptr(msg), MSG_CMSG_CLOEXEC), "recvmsg", what));
  if (n <= 0 || cmsg.readInt32LE(8) !== SOL_SOCKET || cmsg.readInt32LE(12) !== SCM_RIGHTS) throw new SyscallError("recvmsg", EPROTO, what);
  return cmsg.readInt32LE(16);
}

/** Connects to the unix socket at `path` and sends `fd` with `name` as the message, as runc's console socket expects. */
export function sendFd(path: string, fd: number, name: string): void {
  const sock = connectUnix(path);
  try {
    const data = Buffer.from(name);
    // struct iovec { void *base; size_t len; }
    const iov = new BigUint64Array([BigInt(ptr(data)), BigInt(data.length)]);
    // struct cmsghdr { size_t len; int level; int type; } + one int, padded to 8 bytes
    const cmsg = Buffer.alloc(24);
    cmsg.writeBigUInt64LE(20n, 0);
    cmsg.writeInt32LE(SOL_SOCKET, 8);
    cmsg.writeInt32LE(SCM_RIGHTS, 12);
    cmsg.writeInt32LE(fd, 16);
    // struct msghdr { name, namelen(+pad), iov, iovlen, control, controllen, flags(+pad) }
    const msg = new BigUint64Array([0n, 0n, BigInt(ptr(iov)), 1n, BigInt(ptr(cmsg)), 24n, 0n]);
    check(libc().sendmsg(sock, ptr(msg), MSG_NOSIGNAL), "sendmsg", path);
  } finally {
    close(sock);
  }
}
