/*
 * myuts-init: the container's first process until the payload's execve.
 *
 * A static, freestanding executable (no libc, raw syscalls) that the runtime
 * runs from a sealed memfd. It reads a *setup program* from its channel and
 * runs it: a flat list of system calls that TypeScript compiled from the OCI
 * spec (src/setup/). It holds no policy: no paths, no parsing of the spec, no
 * messages. A failure goes back as {step, errno}; with tracing on, every step's
 * start and end time goes back too. The wire format is src/setup/encode.ts's;
 * the protocol (and its sequence diagram) is src/setup/protocol.ts's.
 *
 * Why it exists: Bun is multithreaded, so it can't setns() into a user
 * namespace, and a Bun init stage waiting for `start` would hold ~30 MiB.
 * This one waits in a few KiB, and /proc/PID/exe is a memfd, never the
 * runtime's binary.
 */
#include "syscall.h"

typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef short i16;
typedef unsigned char u8;

#if defined(__x86_64__)
#define NR_read 0
#define NR_sendto 44
#define NR_mmap 9
#define NR_clone 56
#define NR_clone3 435
#define NR_fcntl 72
#define NR_clock_gettime 228
#define NR_exit_group 231
#define NR_close 3
#define NR_wait4 61
#define NR_kill 62
#define NR_rt_sigprocmask 14
#define NR_rt_sigtimedwait 128
__asm__(".text\n.globl _start\n_start:\n  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call start_c\n  hlt\n");
#elif defined(__aarch64__)
#define NR_read 63
#define NR_sendto 206
#define NR_mmap 222
#define NR_clone 220
#define NR_clone3 435
#define NR_fcntl 25
#define NR_clock_gettime 113
#define NR_exit_group 94
#define NR_close 57
#define NR_wait4 260
#define NR_kill 129
#define NR_rt_sigprocmask 135
#define NR_rt_sigtimedwait 137
__asm__(".text\n.globl _start\n_start:\n  mov x29, xzr\n  mov x0, sp\n  bl start_c\n  brk #0\n");
#else
#error "unsupported architecture"
#endif

/* The compiler may emit calls to these even in freestanding code. */
void *memset(void *d, int c, u64 n) {
  u8 *p = d;
  while (n--) *p++ = (u8)c;
  return d;
}
void *memcpy(void *d, const void *s, u64 n) {
  u8 *p = d;
  const u8 *q = s;
  while (n--) *p++ = *q++;
  return d;
}

/* Keep in step with src/setup/encode.ts. */
#define MAGIC 0x4d595453u /* "STYM" little-endian: 'S','T','Y','M' */
#define VERSION 1
#define MAX_SLOTS 64
#define MAX_CASES 4

enum { OP_SYSCALL = 1, OP_GOTO = 2, OP_FAIL = 3, OP_SYNC = 4, OP_FORK = 5, OP_LOAD = 6, OP_PID1 = 7, OP_MONITOR = 8, OP_HOOK = 9 };
enum { ARG_IMM = 0, ARG_DATA = 1, ARG_SLOT = 2, ARG_FDPATH = 3 };
enum { ON_ALLOW = 0, ON_GOTO = 1, ON_RECORD = 2 };
enum { REC_READY = 1, REC_FAIL = 2, REC_TRACE = 3, REC_PID = 4, REC_GO = 5 };
#define FLAG_TRACE 1

struct header {
  u32 magic, version, nsteps, nrelocs, data_len, flags;
};
struct on_error {
  i16 err;
  u16 action;
  u32 target;
};
struct step {
  u16 op;
  u16 nr;
  i16 out;
  u8 kind[6];
  u32 pad;
  u64 arg[6];
  struct on_error on[MAX_CASES];
};
struct record {
  u32 kind;
  u32 step;
  i32 err;
  i32 pad;
  i64 a;
  i64 b;
};

static i32 chan = -1;
static i32 tracing;
/* The child a monitoring fork made (the step that clones the container). */
static i64 first_child;

static void send_rec(u32 kind, u32 step, i32 err, i64 a, i64 b) {
  struct record r = {kind, step, err, 0, a, b};
  const char *p = (const char *)&r;
  u64 left = sizeof r;
  while (left) {
    /* MSG_NOSIGNAL: a created container outlives the runtime that made it; no SIGPIPE for a late report. */
    i64 n = sys6(NR_sendto, chan, (i64)p, (i64)left, 0x4000 /* MSG_NOSIGNAL */, 0, 0);
    if (n == -4) continue;
    if (n <= 0) return; /* the runtime is gone; the exit code and the missing records say enough */
    p += n;
    left -= (u64)n;
  }
}

static __attribute__((noreturn)) void die(void) {
  for (;;) sys6(NR_exit_group, 125, 0, 0, 0, 0, 0);
}

static __attribute__((noreturn)) void fail(u32 step, i32 err) {
  send_rec(REC_FAIL, step, err, 0, 0);
  die();
}

/* A failure that carries a value the runtime words (a hook's wait status). */
static __attribute__((noreturn)) void fail_with(u32 step, i32 err, i64 a) {
  send_rec(REC_FAIL, step, err, a, 0);
  die();
}

static int read_full(void *buf, u64 len) {
  char *p = buf;
  while (len) {
    i64 n = sys6(NR_read, chan, (i64)p, (i64)len, 0, 0, 0);
    if (n == -4) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (u64)n;
  }
  return 0;
}

static i64 now_ns(void) {
  i64 ts[2] = {0, 0};
  sys6(NR_clock_gettime, 0 /* CLOCK_REALTIME: the runtime's trace clock */, (i64)ts, 0, 0, 0, 0);
  return ts[0] * 1000000000L + ts[1];
}

#include "monitor.h"

/*
 * --init: this process stays PID 1 and the rest of the program (the payload's exec)
 * runs in a child. The kernel forces a loop here: reap every child that exits,
 * forward every other signal to the payload, and leave with its status once it is
 * gone (128+N when signal N killed it, as tini does). All signals are blocked, so
 * they queue even for a PID namespace's init, which the kernel spares unhandled ones.
 */
static void pid1(u32 step) {
  u64 all = ~0UL, old = 0;
  sys6(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, (i64)&all, (i64)&old, 8, 0, 0);
  i64 child = sys6(NR_clone, 17 /* SIGCHLD */, 0, 0, 0, 0, 0);
  if (child < 0) fail(step, (i32)-child);
  if (child == 0) {
    sys6(NR_rt_sigprocmask, 2, (i64)&old, 0, 8, 0, 0);
    return;
  }
  /* The payload's exec must close the runtime's channel: this process's copy goes now. */
  sys6(NR_close, chan, 0, 0, 0, 0, 0);
  for (;;) {
    i64 sig = sys6(NR_rt_sigtimedwait, (i64)&all, 0, 0, 8, 0, 0);
    if (sig == 17 /* SIGCHLD */) {
      i32 status = 0;
      i64 pid;
      while ((pid = sys6(NR_wait4, -1, (i64)&status, 1 /* WNOHANG */, 0, 0, 0)) > 0) {
        if (pid != child) continue;
        i32 code = (status & 0x7f) ? 128 + (status & 0x7f) : (status >> 8) & 0xff;
        for (;;) sys6(NR_exit_group, code, 0, 0, 0, 0, 0);
      }
    } else if (sig > 0) {
      sys6(NR_kill, child, sig, 0, 0, 0, 0);
    }
  }
}


#if defined(__x86_64__)
#define NR_socketpair 53
#define NR_dup3 292
#define NR_execve_hook 59
#define NR_nanosleep_hook 35
#elif defined(__aarch64__)
#define NR_socketpair 199
#define NR_dup3 24
#define NR_execve_hook 221
#define NR_nanosleep_hook 101
#endif

/*
 * A hook run inside the container (OCI startContainer): a child execs `path` with the
 * state on its stdin (a socket, so a hook that doesn't read can't SIGPIPE this process);
 * this process waits for it, `timeout_ms` at most (0: no limit), and fails the step with
 * its wait status unless it exited 0. A loop of waits and a value known only here.
 */
static void hook(u32 step, const char *path, char *const *argv, char *const *envp, const char *state, i64 len, i64 timeout_ms) {
  i32 sv[2];
  i64 r = sys6(NR_socketpair, 1 /* AF_UNIX */, 1 | 02000000 /* SOCK_STREAM|SOCK_CLOEXEC */, 0, (i64)sv, 0, 0);
  if (r < 0) fail(step, (i32)-r);
  i64 child = sys6(NR_clone, 17 /* SIGCHLD */, 0, 0, 0, 0, 0);
  if (child < 0) fail(step, (i32)-child);
  if (child == 0) {
    sys6(NR_dup3, sv[1], 0, 0, 0, 0, 0);
    r = sys6(NR_execve_hook, (i64)path, (i64)argv, (i64)envp, 0, 0, 0);
    for (;;) sys6(NR_exit_group, r == -2 ? 127 : 126, 0, 0, 0, 0, 0);
  }
  sys6(NR_close, sv[1], 0, 0, 0, 0, 0);
  for (i64 off = 0; off < len;) {
    i64 n = sys6(NR_sendto, sv[0], (i64)(state + off), len - off, 0x4000 /* MSG_NOSIGNAL */, 0, 0);
    if (n == -4) continue;
    if (n <= 0) break; /* a hook that doesn't read its stdin */
    off += n;
  }
  sys6(NR_close, sv[0], 0, 0, 0, 0, 0);
  i64 deadline = timeout_ms > 0 ? now_ns() + timeout_ms * 1000000L : 0;
  for (;;) {
    i32 status = 0;
    i64 pid = sys6(NR_wait4, child, (i64)&status, deadline ? 1 /* WNOHANG */ : 0, 0, 0, 0);
    if (pid == -4) continue;
    if (pid < 0) fail(step, (i32)-pid);
    if (pid == child) {
      if (status) fail_with(step, 0, status);
      return;
    }
    if (now_ns() > deadline) {
      sys6(NR_kill, child, 9, 0, 0, 0, 0);
      sys6(NR_wait4, child, (i64)&status, 0, 0, 0, 0);
      fail(step, 110 /* ETIMEDOUT */);
    }
    i64 ts[2] = {0, 10000000};
    sys6(NR_nanosleep_hook, (i64)ts, 0, 0, 0, 0, 0);
  }
}

static i32 parse_fd(const char *s) {
  i32 v = 0;
  if (!s || !*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
  }
  return v;
}

/* "/proc/self/fd/N": a descriptor the kernel resolved inside the root, named for mount(2). */
static char *fd_path(char *buf, i64 fd) {
  static const char prefix[] = "/proc/self/fd/";
  char digits[20];
  int n = 0, i = 0;
  u64 v = fd < 0 ? 0 : (u64)fd;
  for (; prefix[i]; i++) buf[i] = prefix[i];
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) buf[i++] = digits[--n];
  buf[i] = 0;
  return buf;
}

/* A step's arguments as the system call takes them: numbers, pointers into the data block, slots' values. */
static void resolve(const struct step *s, char *data, const i64 *slot, char paths[6][32], i64 *a) {
  for (int i = 0; i < 6; i++) {
    u64 v = s->arg[i];
    switch (s->kind[i]) {
    case ARG_DATA: a[i] = (i64)(data + v); break;
    case ARG_SLOT: a[i] = v < MAX_SLOTS ? slot[v] : -1; break;
    case ARG_FDPATH: a[i] = (i64)fd_path(paths[i], v < MAX_SLOTS ? slot[v] : -1); break;
    default: a[i] = (i64)v;
    }
  }
}

struct program {
  u32 nsteps;
  struct step *steps;
  char *data;
};

/* Reads a program from the channel; pointer arrays (argv, envp) hold data-relative offsets until here. */
static void load(struct program *p) {
  struct header h;
  if (read_full(&h, sizeof h) || h.magic != MAGIC || h.version != VERSION) die();
  tracing = h.flags & FLAG_TRACE;
  u64 size = (u64)h.nsteps * sizeof(struct step) + (u64)h.nrelocs * 4 + h.data_len;
  i64 mem = sys6(NR_mmap, 0, (i64)size + 1, 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
  if (mem < 0 && mem > -4096) die();
  if (read_full((void *)mem, size)) die();
  p->nsteps = h.nsteps;
  p->steps = (struct step *)mem;
  u32 *relocs = (u32 *)(p->steps + h.nsteps);
  p->data = (char *)(relocs + h.nrelocs);
  for (u32 i = 0; i < h.nrelocs; i++) {
    if (relocs[i] + 8 > h.data_len) die();
    u64 *q = (u64 *)(p->data + relocs[i]);
    *q += (u64)p->data;
  }
}

void start_c(i64 *sp) {
  char **argv = (char **)(sp + 1);
  struct program prog;
  i64 slot[MAX_SLOTS];
  char paths[6][32];
  u32 rec_step = 0;
  i32 rec_err = 0;

  chan = sp[0] >= 2 ? parse_fd(argv[1]) : -1;
  if (chan < 0) die();
  /* The payload's execve closes the channel: that EOF tells the runtime it runs. */
  sys6(NR_fcntl, chan, 2 /* F_SETFD */, 1 /* FD_CLOEXEC */, 0, 0, 0);

  load(&prog);
  for (int i = 0; i < MAX_SLOTS; i++) slot[i] = -1;

  struct step *steps = prog.steps;
  char *data = prog.data;
  u32 pc = 0;
  while (pc < prog.nsteps) {
    struct step *s = &steps[pc];
    u32 here = pc++;
    switch (s->op) {
    case OP_GOTO:
      pc = (u32)s->arg[0];
      continue;
    case OP_FAIL:
      if (rec_err) fail(rec_step, rec_err);
      fail(here, (i32)s->arg[0]);
    case OP_SYNC: {
      /* arg 0: a slot whose value the runtime needs (a descriptor's number), or none. */
      struct record go;
      send_rec(REC_READY, here, 0, s->arg[0] < MAX_SLOTS ? slot[s->arg[0]] : 0, 0);
      if (read_full(&go, sizeof go) || go.kind != REC_GO) die();
      continue;
    }
    case OP_FORK: {
      /* The container's first process is this one's child, cloned into the new namespaces
       * (arg 0) or forked after setns, which moves only children into a PID namespace.
       * CLONE_PARENT makes it the runtime's child, so the runtime waits for it directly.
       * With arg 1 (a step + 1), the parent goes on there instead of exiting: the monitor
       * of a detached container, which its children's CLONE_PARENT makes their parent. */
      i64 t0 = tracing ? now_ns() : 0;
      u64 parent_at = s->arg[1];
      u64 flags = (u64)s->arg[0] | (parent_at ? 0 : 0x8000 /* CLONE_PARENT */);
      i64 pid = -38 /* ENOSYS */;
      /* Born in its cgroup (arg 2, a slot + 1): no attach later, whose first write after a quiet
       * spell waits out an RCU grace period. Where that fails (no clone3 or CLONE_INTO_CGROUP
       * before 5.7, a cgroup the caller may not enter), the plain clone, and the runtime
       * attaches it as it always could, with its own error if that fails too. */
      if (s->arg[2] && s->arg[2] <= MAX_SLOTS) {
        /* clone3 refuses an exit signal with CLONE_PARENT: the child then takes this process's own (SIGCHLD). */
        u64 args[11] = {flags | 0x200000000ULL /* CLONE_INTO_CGROUP */, 0, 0, 0, parent_at ? 17 /* SIGCHLD */ : 0, 0, 0, 0, 0, 0, (u64)slot[s->arg[2] - 1]};
        pid = sys6(NR_clone3, (i64)args, sizeof args, 0, 0, 0, 0);
      }
      if (pid < 0) pid = sys6(NR_clone, (i64)flags | 17 /* SIGCHLD */, 0, 0, 0, 0, 0);
      if (pid < 0) fail(here, (i32)-pid);
      if (pid > 0) {
        if (tracing) send_rec(REC_TRACE, here, 0, t0, now_ns());
        send_rec(REC_PID, here, 0, pid, 0);
        if (!parent_at) for (;;) sys6(NR_exit_group, 0, 0, 0, 0, 0, 0);
        sys6(NR_close, chan, 0, 0, 0, 0, 0);
        chan = -1;
        first_child = pid;
        pc = (u32)(parent_at - 1);
      }
      continue;
    }
    case OP_PID1:
      pid1(here);
      continue;
    case OP_LOAD:
      /* The rest comes as a program of its own: the runtime compiles it while this one runs. */
      load(&prog);
      steps = prog.steps;
      data = prog.data;
      pc = 0;
      rec_err = 0;
      for (int i = 0; i < MAX_SLOTS; i++) slot[i] = -1;
      continue;
    case OP_HOOK: {
      i64 a[6];
      resolve(s, data, slot, paths, a);
      hook(here, (const char *)a[0], (char *const *)a[1], (char *const *)a[2], (const char *)a[3], a[4], a[5]);
      continue;
    }
    case OP_MONITOR: {
      i64 a[6];
      resolve(s, data, slot, paths, a);
      monitor(a[0], (const char *)a[1], a[2], (const char *)a[3], (char *const *)a[4], (char *const *)a[5], first_child);
    }
    case OP_SYSCALL:
      break;
    default:
      fail(here, 22 /* EINVAL: a program this init doesn't understand */);
    }

    i64 a[6];
    resolve(s, data, slot, paths, a);
    i64 t0 = tracing ? now_ns() : 0;
    i64 r = sys6(s->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (tracing) send_rec(REC_TRACE, here, r < 0 && r > -4096 ? (i32)-r : 0, t0, now_ns());
    if (s->out >= 0 && s->out < MAX_SLOTS) slot[s->out] = r;
    if (r >= 0 || r <= -4096) continue;
    i32 err = (i32)-r;
    int handled = 0;
    for (int i = 0; i < MAX_CASES && !handled; i++) {
      struct on_error *c = &s->on[i];
      if (c->err != err && c->err != -1 /* any errno */) continue;
      handled = 1;
      if (c->action == ON_GOTO) pc = c->target;
      if (c->action == ON_RECORD) {
        if (!rec_err) rec_step = here, rec_err = err;
        pc = c->target;
      }
    }
    if (!handled) fail(here, err);
  }
  /* A program ends with execve; running off its end is a compiler bug. */
  fail(prog.nsteps, 22);
}
