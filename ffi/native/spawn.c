/*
 * The only native code in myuts. Bun is multithreaded from its first instruction,
 * and the kernel refuses CLONE_NEWUSER (and setns into a user namespace) to a
 * multithreaded caller; a child forked from Bun also must never run JavaScript.
 * So the child that starts in new namespaces is created here, with a raw clone
 * syscall, and runs only this file's code until it execve()s the init stage.
 *
 * Freestanding: no libc, no headers, raw syscalls only, so one build suits glibc
 * and musl hosts. Built by build.ts for each target architecture.
 */
typedef unsigned long u64;
typedef long i64;

#if defined(__x86_64__)
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_clone 56
#define NR_execve 59
#define NR_exit_group 231
#define NR_prctl 157
#define NR_unshare 272
static i64 sys6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f) {
  i64 ret;
  register i64 r10 __asm__("r10") = d;
  register i64 r8 __asm__("r8") = e;
  register i64 r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
#define NR_read 63
#define NR_write 64
#define NR_openat 56
#define NR_close 57
#define NR_clone 220
#define NR_execve 221
#define NR_exit_group 94
#define NR_prctl 167
#define NR_unshare 97
static i64 sys6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f) {
  register i64 x8 __asm__("x8") = n;
  register i64 x0 __asm__("x0") = a;
  register i64 x1 __asm__("x1") = b;
  register i64 x2 __asm__("x2") = c;
  register i64 x3 __asm__("x3") = d;
  register i64 x4 __asm__("x4") = e;
  register i64 x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
#else
#error "unsupported architecture"
#endif

#define SIGCHLD 17
#define PR_SET_PDEATHSIG 1
#define O_WRONLY 1
#define AT_FDCWD -100

static i64 open_wronly(const char *path) {
#if defined(__x86_64__)
  return sys6(NR_open, (i64)path, O_WRONLY, 0, 0, 0, 0);
#else
  return sys6(NR_openat, AT_FDCWD, (i64)path, O_WRONLY, 0, 0, 0);
#endif
}

/* Stages, reported to the parent as "!<stage>:<errno>\n" on err_fd. */
enum { ST_PDEATHSIG = 1, ST_SYNC = 2, ST_UNSHARE = 3, ST_TIMENS = 4, ST_EXEC = 5 };

static void fail(int err_fd, int stage, i64 err) {
  char msg[32];
  int n = 0;
  unsigned long v = (unsigned long)(-err);
  char digits[20];
  int d = 0;
  msg[n++] = '!';
  msg[n++] = (char)('0' + stage);
  msg[n++] = ':';
  do { digits[d++] = (char)('0' + v % 10); v /= 10; } while (v && d < 20);
  while (d) msg[n++] = digits[--d];
  msg[n++] = '\n';
  if (err_fd >= 0) sys6(NR_write, err_fd, (i64)msg, n, 0, 0, 0);
  sys6(NR_exit_group, 125, 0, 0, 0, 0, 0);
}

/*
 * Clones a child into the namespaces in clone_flags and returns its pid (or -errno).
 * The child: sets its parent-death signal, waits for one byte on sync_fd (the parent
 * writes id maps first), unshares unshare_flags (CLONE_NEWTIME, which applies to the
 * next execve), writes the time offsets, and execs path. It never returns.
 */
i64 myuts_spawn(u64 clone_flags, u64 unshare_flags, const char *timens, i64 timens_len,
                i64 sync_fd, i64 err_fd, i64 pdeathsig,
                const char *path, char *const *argv, char *const *envp) {
  i64 pid = sys6(NR_clone, (i64)(clone_flags | SIGCHLD), 0, 0, 0, 0, 0);
  if (pid != 0) return pid;

  i64 r;
  if (pdeathsig > 0) {
    r = sys6(NR_prctl, PR_SET_PDEATHSIG, pdeathsig, 0, 0, 0, 0);
    if (r < 0) fail((int)err_fd, ST_PDEATHSIG, r);
  }
  if (sync_fd >= 0) {
    char c;
    do r = sys6(NR_read, sync_fd, (i64)&c, 1, 0, 0, 0); while (r == -4);
    if (r != 1) sys6(NR_exit_group, 125, 0, 0, 0, 0, 0); /* the parent gave up */
    sys6(NR_close, sync_fd, 0, 0, 0, 0, 0);
  }
  if (unshare_flags) {
    r = sys6(NR_unshare, (i64)unshare_flags, 0, 0, 0, 0, 0);
    if (r < 0) fail((int)err_fd, ST_UNSHARE, r);
  }
  if (timens_len > 0) {
    i64 fd = open_wronly("/proc/self/timens_offsets");
    if (fd < 0) fail((int)err_fd, ST_TIMENS, fd);
    r = sys6(NR_write, fd, (i64)timens, timens_len, 0, 0, 0);
    if (r < 0) fail((int)err_fd, ST_TIMENS, r);
    sys6(NR_close, fd, 0, 0, 0, 0, 0);
  }
  r = sys6(NR_execve, (i64)path, (i64)argv, (i64)envp, 0, 0, 0);
  fail((int)err_fd, ST_EXEC, r);
  return r;
}
