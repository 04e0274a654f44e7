// Kernel ABI constants the setup program passes as immediates. Where they differ
// between architectures, both are here and the compiler picks by its target.
export { SIGKILL } from "../../ffi/libc.ts";
import type { Arch } from "./syscalls.ts";

export const AT_FDCWD = -100;
export const AT_EMPTY_PATH = 0x1000;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_RECURSIVE = 0x8000;
export const F_OK = 0;

const OPEN = {
  x64: { DIRECTORY: 0o200000, NOFOLLOW: 0o400000 },
  arm64: { DIRECTORY: 0o40000, NOFOLLOW: 0o100000 },
} as const;

export function openFlags(arch: Arch) {
  return { RDONLY: 0, WRONLY: 1, RDWR: 2, CREAT: 0o100, CLOEXEC: 0o2000000, PATH: 0o10000000, ...OPEN[arch] };
}

export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_IN_ROOT = 0x10;

export const PR = {
  SET_PDEATHSIG: 1,
  SET_KEEPCAPS: 8,
  CAPBSET_DROP: 24,
  SET_CHILD_SUBREAPER: 36,
  SET_NO_NEW_PRIVS: 38,
  CAP_AMBIENT: 47,
  CAP_AMBIENT_RAISE: 2,
  CAP_AMBIENT_CLEAR_ALL: 4,
} as const;

export const CLOSE_RANGE_CLOEXEC = 4;
export const SIG_BLOCK = 0;
export const SIG_SETMASK = 2;
/** What `myuts start` sends a created container. */
export const SIGCONT = 18;
export const S_IFCHR = 0o020000;
/** File types mknod takes, by the letters of the OCI spec's linux.devices ("u" is an unbuffered character device). */
export const S_IF_OF_DEVICE: Record<string, number> = { c: 0o020000, u: 0o020000, b: 0o060000, p: 0o010000 };
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const SIOCSIFFLAGS = 0x8914;
export const TIOCSCTTY = 0x540e;
export const O_NOCTTY = 0o400;
export const IFF_UP = 1;
export const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** The kernel's dev_t encoding for mknod (new_encode_dev). */
export function makedev(major: number, minor: number): number {
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** Flag names for `--dry-run`: the set bits of `value` that `names` knows. */
export function flagNames(value: number, names: Record<string, number>): string {
  const parts: string[] = [];
  let rest = value;
  for (const [n, bit] of Object.entries(names)) {
    if (bit && (value & bit) === bit) {
      parts.push(n);
      rest &= ~bit;
    }
  }
  if (rest) parts.push(`0x${rest.toString(16)}`);
  return parts.join("|") || "0";
}
