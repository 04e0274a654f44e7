// System call numbers for the architectures myuts ships. The setup program names
// its calls by number, so the compiler picks the table of the machine that runs it.
export type Arch = "x64" | "arm64";

export const SYSCALLS = {
  write: { x64: 1, arm64: 64 },
  close: { x64: 3, arm64: 57 },
  ioctl: { x64: 16, arm64: 29 },
  socket: { x64: 41, arm64: 198 },
  execve: { x64: 59, arm64: 221 },
  chdir: { x64: 80, arm64: 49 },
  fchdir: { x64: 81, arm64: 50 },
  umask: { x64: 95, arm64: 166 },
  setsid: { x64: 112, arm64: 157 },
  setgroups: { x64: 116, arm64: 159 },
  setresuid: { x64: 117, arm64: 147 },
  setresgid: { x64: 119, arm64: 149 },
  capset: { x64: 126, arm64: 91 },
  rt_sigprocmask: { x64: 14, arm64: 135 },
  rt_sigtimedwait: { x64: 128, arm64: 137 },
  pivot_root: { x64: 155, arm64: 41 },
  prctl: { x64: 157, arm64: 167 },
  chroot: { x64: 161, arm64: 51 },
  mount: { x64: 165, arm64: 40 },
  umount2: { x64: 166, arm64: 39 },
  sethostname: { x64: 170, arm64: 161 },
  setdomainname: { x64: 171, arm64: 162 },
  openat: { x64: 257, arm64: 56 },
  prlimit64: { x64: 302, arm64: 261 },
  mkdirat: { x64: 258, arm64: 34 },
  mknodat: { x64: 259, arm64: 33 },
  fchownat: { x64: 260, arm64: 54 },
  symlinkat: { x64: 266, arm64: 36 },
  faccessat: { x64: 269, arm64: 48 },
  unshare: { x64: 272, arm64: 97 },
  setns: { x64: 308, arm64: 268 },
  dup3: { x64: 292, arm64: 24 },
  fcntl: { x64: 72, arm64: 25 },
  personality: { x64: 135, arm64: 92 },
  close_range: { x64: 436, arm64: 436 },
  openat2: { x64: 437, arm64: 437 },
  mount_setattr: { x64: 442, arm64: 442 },
  open_tree: { x64: 428, arm64: 428 },
  move_mount: { x64: 429, arm64: 429 },
  seccomp: { x64: 317, arm64: 277 },
  keyctl: { x64: 250, arm64: 219 },
} as const satisfies Record<string, Record<Arch, number>>;

export type Syscall = keyof typeof SYSCALLS;

export function hostArch(): Arch {
  return process.arch === "arm64" ? "arm64" : "x64";
}
