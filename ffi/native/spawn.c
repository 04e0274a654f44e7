/*
 * The clone half of myuts's native code (the other half is init.c). Bun is
 * multithreaded from its first instruction, and the kernel refuses CLONE_NEWUSER
 * to a multithreaded caller; a child forked from Bun also must never run
 * JavaScript. So the child that starts in new namespaces is created here, with a
 * raw clone syscall, and runs only this file's code until it execs the native init
 * from its sealed memfd.
 *
 * The child always shares the parent's memory (CLONE_VM): copying Bun's page
 * tables would cost most of a millisecond. When the parent has nothing to do
 * between clone and exec, it sleeps until the exec (CLONE_VFORK, as posix_spawn
 * does). When it must act first (writing a user namespace's id maps), it runs on
 * while the child waits on sync_fd, working from a static copy of its arguments.
 *
 * Freestanding: no libc, no headers, raw syscalls only, so one build suits glibc
 * and musl hosts. Built by build.ts for each target architecture.
 */
#include "syscall.h"


#if defined(__x86_64__)
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_clone 56
#define NR_execve 59
#define NR_exit_group 231
#define NR_prctl 157
#define NR_unshare 272
#define NR_fcntl 72
#define NR_execveat 322
#define NR_capget 125
#define NR_capset 126
/* clone onto a new stack; the child calls fn(arg) and exits with its result. */
__asm__(".text\n"
        ".globl myuts_clone_on_stack\n.hidden myuts_clone_on_stack\n.type myuts_clone_on_stack,@function\n"
        "myuts_clone_on_stack:\n"
        "  and $-16, %rsi\n"
        "  sub $16, %rsi\n"
        "  mov %rcx, 8(%rsi)\n"
        "  mov %rdx, 0(%rsi)\n"
        "  xor %edx, %edx\n"
        "  xor %r10d, %r10d\n"
        "  xor %r8d, %r8d\n"
        "  mov $56, %eax\n"
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jnz 1f\n"
        "  xor %ebp, %ebp\n"
        "  pop %rax\n"
        "  pop %rdi\n"
        "  call *%rax\n"
        "  mov %eax, %edi\n"
        "  mov $231, %eax\n"
        "  syscall\n"
        "  hlt\n"
        "1: ret\n");
#elif defined(__aarch64__)
#define NR_read 63
#define NR_write 64
#define NR_openat 56
#define NR_close 57
#define NR_rt_sigaction 134
#define NR_rt_sigprocmask 135
#define NR_clone 220
#define NR_execve 221
#define NR_exit_group 94
#define NR_prctl 167
#define NR_unshare 97
#define NR_fcntl 25
#define NR_execveat 281
#define NR_capget 90
#define NR_capset 91
__asm__(".text\n"
        ".globl myuts_clone_on_stack\n.hidden myuts_clone_on_stack\n.type myuts_clone_on_stack,%function\n"
        "myuts_clone_on_stack:\n"
        "  and x1, x1, #-16\n"
        "  stp x2, x3, [x1, #-16]!\n"
        "  mov x2, xzr\n"
        "  mov x3, xzr\n"
        "  mov x4, xzr\n"
        "  mov x8, #220\n"
        "  svc #0\n"
        "  cbnz x0, 1f\n"
        "  ldp x1, x0, [sp], #16\n"
        "  blr x1\n"
        "  mov x8, #94\n"
        "  svc #0\n"
        "1: ret\n");
#else
#error "unsupported architecture"
#endif

i64 myuts_clone_on_stack(u64 flags, void *stack_top, int (*fn)(void *), void *arg);

#define SIGCHLD 17
#define CLONE_NEWUSER 0x10000000
#define CLONE_VM 0x100
#define CLONE_VFORK 0x4000
#define PR_SET_PDEATHSIG 1
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define LINUX_CAPABILITY_VERSION_3 0x20080522
#define O_WRONLY 1
#define AT_FDCWD -100
#define SIG_BLOCK 0
#define SIG_SETMASK 2
#define AT_EMPTY_PATH 0x1000
#define F_SETFD 2

struct kernel_sigaction {
  u64 handler;
  u64 flags;
  u64 restorer;
  u64 mask;
};

struct cap_header {
  unsigned int version;
  int pid;
};
struct cap_data {
  unsigned int effective, permitted, inheritable;
};

struct spawn_args {
  u64 clone_flags;
  u64 unshare_flags;
  const char *timens;
  i64 timens_len;
  i64 sync_fd;
  i64 err_fd;
  i64 pdeathsig;
  i64 exec_fd;
  i64 keep_fd;
  char *const *argv;
  char *const *envp;
  u64 saved_mask;
};

static i64 open_wronly(const char *path) {
#if defined(__x86_64__)
  return sys6(NR_open, (i64)path, O_WRONLY, 0, 0, 0, 0);
#else
  return sys6(NR_openat, AT_FDCWD, (i64)path, O_WRONLY, 0, 0, 0);
#endif
}

/* Stages, reported on err_fd as the init's FAIL record with step SPAWN_STEP|stage (src/setup/protocol.ts). */
enum { ST_PDEATHSIG = 1, ST_SYNC = 2, ST_UNSHARE = 3, ST_TIMENS = 4, ST_EXEC = 5, ST_CAPS = 6, ST_CHANNEL = 7 };
#define SPAWN_STEP 0xffffff00u
#define REC_FAIL 2

/*
 * A new user namespace's creator holds every capability in it, but execve keeps
 * them only for uid 0 inside. The init stage may run under another mapped (or an
 * unmapped) uid, so the capabilities ride across the exec as ambient ones; the init
 * stage clears them before it execs the payload.
 */
static i64 keep_caps_across_exec(void) {
  struct cap_header h = {LINUX_CAPABILITY_VERSION_3, 0};
  struct cap_data d[2];
  i64 r = sys6(NR_capget, (i64)&h, (i64)d, 0, 0, 0, 0);
  if (r < 0) return r;
  d[0].inheritable = d[0].permitted;
  d[1].inheritable = d[1].permitted;
  r = sys6(NR_capset, (i64)&h, (i64)d, 0, 0, 0, 0);
  if (r < 0) return r;
  for (int cap = 0; cap < 64; cap++) {
    if (sys6(NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0, 0) < 0) break; /* past the last cap */
  }
  return 0;
}

static int fail(int err_fd, int stage, i64 err) {
  struct { unsigned int kind, step; int err, pad; i64 a, b; } rec = {REC_FAIL, SPAWN_STEP | (unsigned)stage, (int)-err, 0, 0, 0};
  if (err_fd >= 0) sys6(NR_write, err_fd, (i64)&rec, sizeof rec, 0, 0, 0);
  sys6(NR_exit_group, 125, 0, 0, 0, 0, 0);
  return 125;
}

/* The child, up to execve. It must not return into the caller's frames. */
static int child(void *p) {
  struct spawn_args *a = (struct spawn_args *)p;
  i64 r;
  /* Bun's handlers live in memory this child may share; none may run here. */
  for (int sig = 1; sig <= 64; sig++) {
    struct kernel_sigaction dfl = {0, 0, 0, 0};
    if (sig == 9 || sig == 19) continue;
    sys6(NR_rt_sigaction, sig, (i64)&dfl, 0, 8, 0, 0);
  }
  sys6(NR_rt_sigprocmask, SIG_SETMASK, (i64)&a->saved_mask, 0, 8, 0, 0);
  if (a->pdeathsig > 0) {
    r = sys6(NR_prctl, PR_SET_PDEATHSIG, a->pdeathsig, 0, 0, 0, 0);
    if (r < 0) return fail((int)a->err_fd, ST_PDEATHSIG, r);
  }
  if (a->sync_fd >= 0) {
    char c;
    do r = sys6(NR_read, a->sync_fd, (i64)&c, 1, 0, 0, 0); while (r == -4);
    if (r != 1) sys6(NR_exit_group, 125, 0, 0, 0, 0, 0); /* the parent gave up */
    sys6(NR_close, a->sync_fd, 0, 0, 0, 0, 0);
  }
  if (a->clone_flags & CLONE_NEWUSER) {
    r = keep_caps_across_exec();
    if (r < 0) return fail((int)a->err_fd, ST_CAPS, r);
  }
  if (a->unshare_flags) {
    r = sys6(NR_unshare, (i64)a->unshare_flags, 0, 0, 0, 0, 0);
    if (r < 0) return fail((int)a->err_fd, ST_UNSHARE, r);
  }
  if (a->timens_len > 0) {
    i64 fd = open_wronly("/proc/self/timens_offsets");
    if (fd < 0) return fail((int)a->err_fd, ST_TIMENS, fd);
    r = sys6(NR_write, fd, (i64)a->timens, a->timens_len, 0, 0, 0);
    if (r < 0) return fail((int)a->err_fd, ST_TIMENS, r);
    sys6(NR_close, fd, 0, 0, 0, 0, 0);
  }
  /* The init's end of the channel is close-on-exec in the parent; here it must survive one exec. */
  if (a->keep_fd >= 0) {
    r = sys6(NR_fcntl, a->keep_fd, F_SETFD, 0, 0, 0, 0);
    if (r < 0) return fail((int)a->err_fd, ST_CHANNEL, r);
  }
  r = sys6(NR_execveat, a->exec_fd, (i64)"", (i64)a->argv, (i64)a->envp, AT_EMPTY_PATH, 0);
  return fail((int)a->err_fd, ST_EXEC, r);
}

/*
 * The child's stack, and its copy of the arguments when the parent doesn't wait
 * for the exec. One spawn at a time per process, which is all myuts ever does.
 */
static char child_stack[64 * 1024] __attribute__((aligned(16)));
static struct spawn_args child_args;

/*
 * Clones a child into the namespaces in clone_flags and returns its pid (or -errno).
 * The child: resets signal handling, sets its parent-death signal, waits for one byte
 * on sync_fd if asked (the parent writes id maps first), unshares unshare_flags
 * (CLONE_NEWTIME applies at the next execve), writes the time offsets, keeps keep_fd
 * open across the exec, and execs the file open at exec_fd (the init's memfd).
 *
 * The child shares the parent's memory until its exec. Without sync_fd the parent
 * sleeps until then (CLONE_VFORK); with it the parent runs on, so the caller must
 * keep argv and envp alive until the exec.
 */
i64 myuts_spawn(u64 clone_flags, u64 unshare_flags, const char *timens, i64 timens_len,
                i64 sync_fd, i64 err_fd, i64 pdeathsig, i64 exec_fd, i64 keep_fd,
                char *const *argv, char *const *envp) {
  struct spawn_args a = {clone_flags, unshare_flags, timens, timens_len, sync_fd, err_fd, pdeathsig, exec_fd, keep_fd, argv, envp, 0};
  u64 all = ~0UL;
  u64 flags = clone_flags | CLONE_VM | SIGCHLD;
  i64 pid;
  sys6(NR_rt_sigprocmask, SIG_BLOCK, (i64)&all, (i64)&a.saved_mask, 8, 0, 0);
  if (sync_fd < 0) {
    pid = myuts_clone_on_stack(flags | CLONE_VFORK, child_stack + sizeof child_stack, child, &a);
  } else {
    child_args = a;
    pid = myuts_clone_on_stack(flags, child_stack + sizeof child_stack, child, &child_args);
  }
  sys6(NR_rt_sigprocmask, SIG_SETMASK, (i64)&a.saved_mask, 0, 8, 0, 0);
  return pid;
}
