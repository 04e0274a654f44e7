/*
 * The spawn half of myuts's native code (the other half is init.c). Bun is
 * multithreaded, and a child forked from it must never run JavaScript: this helper
 * creates the child with a raw clone and runs only this file's code until the
 * child execs the native init from its sealed memfd. The init, single-threaded and
 * tiny, then clones the container into its namespaces (which the kernel refuses to a
 * multithreaded caller for a user namespace).
 *
 * The child shares the parent's memory and the parent sleeps until the exec
 * (CLONE_VM|CLONE_VFORK, as posix_spawn does): copying Bun's page tables would cost
 * most of a millisecond.
 *
 * Freestanding: no libc, no headers, raw syscalls only, so one build suits glibc
 * and musl hosts. Built by build.ts for each target architecture.
 */
#include "syscall.h"

#if defined(__x86_64__)
#define NR_write 1
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_fcntl 72
#define NR_prctl 157
#define NR_exit_group 231
#define NR_execveat 322
#define NR_dup3 292
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
#define NR_write 64
#define NR_rt_sigaction 134
#define NR_rt_sigprocmask 135
#define NR_fcntl 25
#define NR_prctl 167
#define NR_exit_group 94
#define NR_execveat 281
#define NR_dup3 24
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
#endif

i64 myuts_clone_on_stack(u64 flags, void *stack_top, int (*fn)(void *), void *arg);

#define SIGCHLD 17
#define CLONE_VM 0x100
#define CLONE_VFORK 0x4000
#define PR_SET_PDEATHSIG 1
#define SIG_BLOCK 0
#define SIG_SETMASK 2
#define AT_EMPTY_PATH 0x1000
#define F_SETFD 2
#define F_DUPFD_CLOEXEC 1030
#define NR_close_range 436 /* the same on x86-64 and arm64 */
#define CLOSE_RANGE_CLOEXEC 4

struct kernel_sigaction {
  u64 handler;
  u64 flags;
  u64 restorer;
  u64 mask;
};

struct spawn_args {
  i64 err_fd;
  i64 pdeathsig;
  i64 exec_fd;
  i64 keep_fd;
  char *const *argv;
  char *const *envp;
  u64 saved_mask;
  /* Descriptors for the child's 0 to 4 (-1: keep the parent's 0 to 2, or nothing). 3 and 4
   * carry a detached container's output pipes to its monitor. */
  i64 stdio[5];
  /* The first descriptor made close-on-exec: 3, or past the ones runc's --preserve-fds passes on. */
  i64 keep_from;
};

/* Stages, reported on err_fd as the init's FAIL record with step SPAWN_STEP|stage (src/setup/protocol.ts). */
enum { ST_PDEATHSIG = 1, ST_EXEC = 5, ST_CHANNEL = 7, ST_STDIO = 8 };
#define SPAWN_STEP 0xffffff00u
#define REC_FAIL 2

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
  /* Bun's handlers live in memory this child shares; none may run here. */
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
  /* The container's stdio when the caller gave its own (dup3 leaves the copies inheritable).
   * Each source first moves above the targets, so no dup3 overwrites a later source. */
  i64 moved[5];
  for (int i = 0; i < 5; i++) {
    moved[i] = a->stdio[i];
    if (moved[i] < 0 || moved[i] == i) continue;
    moved[i] = sys6(NR_fcntl, a->stdio[i], F_DUPFD_CLOEXEC, 5, 0, 0, 0);
    if (moved[i] < 0) return fail((int)a->err_fd, ST_STDIO, moved[i]);
  }
  for (int i = 0; i < 5; i++) {
    if (moved[i] < 0 || moved[i] == i) continue;
    r = sys6(NR_dup3, moved[i], i, 0, 0, 0, 0);
    if (r < 0) return fail((int)a->err_fd, ST_STDIO, r);
  }
  /* Nothing the runtime inherited from its caller reaches the init (a host directory
   * descriptor would let a container's working directory escape: CVE-2024-21626). */
  r = sys6(NR_close_range, a->keep_from, ~0U, CLOSE_RANGE_CLOEXEC, 0, 0, 0);
  if (r < 0) return fail((int)a->err_fd, ST_CHANNEL, r);
  /* The init's end of the channel is close-on-exec in the parent; here it must survive one exec. */
  if (a->keep_fd >= 0) {
    r = sys6(NR_fcntl, a->keep_fd, F_SETFD, 0, 0, 0, 0);
    if (r < 0) return fail((int)a->err_fd, ST_CHANNEL, r);
  }
  r = sys6(NR_execveat, a->exec_fd, (i64)"", (i64)a->argv, (i64)a->envp, AT_EMPTY_PATH, 0);
  return fail((int)a->err_fd, ST_EXEC, r);
}

static char child_stack[64 * 1024] __attribute__((aligned(16)));

/*
 * Spawns a child and returns its pid (or -errno). The child resets signal handling,
 * sets its parent-death signal, keeps keep_fd open across the exec, and execs the
 * file open at exec_fd (the init's memfd). The parent sleeps until that exec.
 */
i64 myuts_spawn(i64 err_fd, i64 pdeathsig, i64 exec_fd, i64 keep_fd, char *const *argv, char *const *envp, i64 in, i64 out, i64 err, i64 keep_from, i64 fd3, i64 fd4) {
  struct spawn_args a = {err_fd, pdeathsig, exec_fd, keep_fd, argv, envp, 0, {in, out, err, fd3, fd4}, keep_from < 3 ? 3 : keep_from};
  u64 all = ~0UL;
  i64 pid;
  sys6(NR_rt_sigprocmask, SIG_BLOCK, (i64)&all, (i64)&a.saved_mask, 8, 0, 0);
  pid = myuts_clone_on_stack(CLONE_VM | CLONE_VFORK | SIGCHLD, child_stack + sizeof child_stack, child, &a);
  sys6(NR_rt_sigprocmask, SIG_SETMASK, (i64)&a.saved_mask, 0, 8, 0, 0);
  return pid;
}
