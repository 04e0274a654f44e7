/*
 * The monitor of a detached container (`myuts run -d`), part of init.c's single
 * translation unit. It is the container's parent, so it alone can learn how the
 * container ended; and it holds the read ends of the container's stdout and
 * stderr, so the output outlives the runtime that started it. A loop the kernel
 * forces: copy output into the log as it comes, reap children, and finish once
 * the container is gone and its output drained. Paths, the size cap and the exit
 * command come from the runtime; nothing here decides them.
 *
 * The log is json-lines, one record per line of output (longer lines split at
 * LINE_MAX bytes), as docker's json-file driver writes it:
 *   {"time":"2026-12-07T11:19:06.123456789Z","stream":"stdout","log":"hello\n"}
 * Past the size cap the log is renamed to the second path and a new one begun.
 */

#if defined(__x86_64__)
#define NR_write 1
#define NR_openat 257
#define NR_lseek 8
#define NR_renameat2 316
#define NR_ppoll 271
#define NR_signalfd4 289
#define NR_execve 59
#define NR_accept4 288
#define NR_sendmsg 46
#define NR_prctl_mon 157
#define O_NOFOLLOW 0400000
#elif defined(__aarch64__)
#define NR_write 64
#define NR_openat 56
#define NR_lseek 62
#define NR_renameat2 276
#define NR_ppoll 73
#define NR_signalfd4 74
#define NR_execve 221
#define NR_accept4 242
#define NR_sendmsg 211
#define NR_prctl_mon 167
#define O_NOFOLLOW 0100000
#endif
#define O_WRONLY 1
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_APPEND 02000
#define O_CLOEXEC 02000000
#define AT_FDCWD (-100)
#define LINE_MAX 16384
#define POLLIN 1

struct pollfd {
  i32 fd;
  i16 events, revents;
};

static char mon_in[65536];
/* A record: a line escaped (at most 6 bytes per byte) and the JSON around it. */
static char mon_rec[LINE_MAX * 6 + 128];

struct stream {
  i32 fd;
  const char *name;
  char line[LINE_MAX];
  u32 len;
};

struct log {
  const char *path, *rotated;
  i32 fd;
  i64 size, max;
};

static void write_all(i32 fd, const char *p, u64 n) {
  while (n) {
    i64 w = sys6(NR_write, fd, (i64)p, (i64)n, 0, 0, 0);
    if (w == -4) continue;
    if (w <= 0) return; /* a full disk drops output rather than stopping the container */
    p += w;
    n -= (u64)w;
  }
}

static void log_open(struct log *l, i32 trunc) {
  l->fd = (i32)sys6(NR_openat, AT_FDCWD, (i64)l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (trunc ? O_TRUNC : 0), 0600, 0, 0);
  i64 end = l->fd >= 0 ? sys6(NR_lseek, l->fd, 0, 2 /* SEEK_END */, 0, 0, 0) : 0;
  l->size = end > 0 ? end : 0;
}

static char *put_num(char *p, u64 v, int width) {
  char d[20];
  int n = 0;
  do {
    d[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v || n < width);
  while (n) *p++ = d[--n];
  return p;
}

/* RFC 3339 in UTC with nanoseconds, from the days since 1970 (Hinnant's civil_from_days). */
static char *put_time(char *p) {
  i64 ts[2] = {0, 0};
  sys6(NR_clock_gettime, 0 /* CLOCK_REALTIME */, (i64)ts, 0, 0, 0, 0);
  i64 days = ts[0] / 86400, secs = ts[0] % 86400;
  i64 z = days + 719468, era = z / 146097, doe = z - era * 146097;
  i64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  i64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  i64 d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
  p = put_num(p, (u64)y, 4), *p++ = '-', p = put_num(p, (u64)m, 2), *p++ = '-', p = put_num(p, (u64)d, 2), *p++ = 'T';
  p = put_num(p, (u64)(secs / 3600), 2), *p++ = ':', p = put_num(p, (u64)(secs / 60 % 60), 2), *p++ = ':', p = put_num(p, (u64)(secs % 60), 2);
  *p++ = '.', p = put_num(p, (u64)ts[1], 9), *p++ = 'Z';
  return p;
}

static char *put_str(char *p, const char *s) {
  while (*s) *p++ = *s++;
  return p;
}

static void emit(struct log *l, struct stream *s) {
  static const char hex[] = "0123456789abcdef";
  char *p = put_str(mon_rec, "{\"time\":\"");
  p = put_time(p);
  p = put_str(put_str(put_str(p, "\",\"stream\":\""), s->name), "\",\"log\":\"");
  for (u32 i = 0; i < s->len; i++) {
    u8 c = (u8)s->line[i];
    if (c == '"' || c == '\\') *p++ = '\\', *p++ = (char)c;
    else if (c == '\n') *p++ = '\\', *p++ = 'n';
    else if (c == '\t') *p++ = '\\', *p++ = 't';
    else if (c == '\r') *p++ = '\\', *p++ = 'r';
    else if (c < 0x20 || c == 0x7f) p = put_str(p, "\\u00"), *p++ = hex[c >> 4], *p++ = hex[c & 15];
    else *p++ = (char)c;
  }
  p = put_str(p, "\"}\n");
  s->len = 0;
  if (l->fd < 0) return;
  write_all(l->fd, mon_rec, (u64)(p - mon_rec));
  l->size += p - mon_rec;
  if (l->max > 0 && l->size >= l->max) {
    sys6(NR_close, l->fd, 0, 0, 0, 0, 0);
    sys6(NR_renameat2, AT_FDCWD, (i64)l->path, AT_FDCWD, (i64)l->rotated, 0, 0);
    log_open(l, 1);
  }
}

/* A terminal container's attached client (`myuts attach`): it gets the output as it comes. */
static i32 client = -1;

static void drop_client(void) {
  if (client >= 0) sys6(NR_close, client, 0, 0, 0, 0, 0);
  client = -1;
}

/* Copies what is there; returns 0 at end of file. */
static int pump(struct log *l, struct stream *s) {
  i64 n = sys6(NR_read, s->fd, (i64)mon_in, sizeof mon_in, 0, 0, 0);
  if (n == -4 || n == -11) return 1;
  if (n > 0 && client >= 0) {
    /* MSG_DONTWAIT|MSG_NOSIGNAL: a client that stops reading is dropped, never waited for. */
    i64 w = sys6(NR_sendto, client, (i64)mon_in, n, 0x40 | 0x4000, 0, 0);
    if (w < n) drop_client();
  }
  if (n <= 0) {
    if (s->len) emit(l, s);
    sys6(NR_close, s->fd, 0, 0, 0, 0, 0);
    s->fd = -1;
    return 0;
  }
  for (i64 i = 0; i < n; i++) {
    s->line[s->len++] = mon_in[i];
    if (mon_in[i] == '\n' || s->len == LINE_MAX) emit(l, s);
  }
  return 1;
}

/* A new client takes over: it gets the terminal's master (SCM_RIGHTS), to type into and resize. */
static void accept_client(i32 listen_fd, i32 master) {
  i32 c = (i32)sys6(NR_accept4, listen_fd, 0, 0, O_CLOEXEC, 0, 0);
  if (c < 0) return;
  drop_client();
  char byte = 'm';
  struct { u64 base, len; } iov = {(u64)&byte, 1};
  struct { u64 len; i32 level, type; i32 fd, pad; } cm = {20, 1 /* SOL_SOCKET */, 1 /* SCM_RIGHTS */, master, 0};
  struct { u64 name; u32 namelen, pad; u64 iov, iovlen, control, controllen; i32 flags, pad2; } msg = {0, 0, 0, (u64)&iov, 1, (u64)&cm, 24, 0, 0};
  if (sys6(NR_sendmsg, c, (i64)&msg, 0x4000, 0, 0, 0) != 1) {
    sys6(NR_close, c, 0, 0, 0, 0, 0);
    return;
  }
  client = c;
}

/*
 * fds: stdout's read end | stderr's << 16; for a terminal, the master | the attach
 * socket (listening) << 16 | a descriptor of the terminal's other end << 32, held so the
 * master doesn't hang up before the container opens its end (closed once it has ended). paths: the log, NUL, the rotated log.
 * exit_path gets the exit code (128+N after signal N) in decimal; then, with argv,
 * this process becomes the runtime's exit command (it cleans up after the container).
 * `first` is this process's first child: the step that clones the container, not it.
 */
static __attribute__((noreturn)) void monitor(i64 fds, const char *paths, i64 max, const char *exit_path, char *const *argv, char *const *envp, i64 first) {
  static struct stream out, err;
  struct log l = {paths, paths, -1, 0, max};
  while (*l.rotated) l.rotated++;
  l.rotated++;
  i32 slave = (i32)((fds >> 32) & 0xffff), listen_fd = -1;
  out.fd = (i32)(fds & 0xffff), out.name = "stdout";
  err.fd = (i32)((fds >> 16) & 0xffff), err.name = "stderr";
  if (slave) listen_fd = err.fd, err.fd = -1;
  log_open(&l, 0);

  u64 all = ~0UL, chld = 1UL << (17 - 1);
  sys6(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, (i64)&all, 0, 8, 0, 0);
  i32 sfd = (i32)sys6(NR_signalfd4, -1, (i64)&chld, 8, O_CLOEXEC | 04000 /* SFD_NONBLOCK */, 0, 0);
  i32 code = 125, children = 1, first_pass = 1;
  i64 drained_by = 0;
  for (;;) {
    if (!children) {
      /* The container is gone: what it wrote drains, for two seconds at most (a process
       * outside its PID namespace may hold a pipe open). */
      if ((out.fd < 0 && err.fd < 0) || now_ns() > drained_by) break;
    }
    struct pollfd p[5] = {{out.fd, POLLIN, 0}, {err.fd, POLLIN, 0}, {children ? sfd : -1, POLLIN, 0}, {listen_fd, POLLIN, 0}, {client, POLLIN, 0}};
    i64 tick[2] = {0, first_pass ? 0 : 200000000};
    i64 r = sys6(NR_ppoll, (i64)p, 5, children && sfd >= 0 && !first_pass ? 0 : (i64)tick, 0, 8, 0);
    if (r < 0 && r != -4) break;
    /* A client first: one that connected before the payload ran gets its first bytes too. */
    if (p[3].revents) accept_client(listen_fd, out.fd);
    if (p[0].revents) pump(&l, &out);
    if (p[1].revents) pump(&l, &err);
    if (p[4].revents) {
      /* The client types into the master itself; from the socket come only its leaving and
       * 'D': it detached, so a monitor that was to die with its runtime (a foreground
       * run -t) now outlives it. */
      char buf[256];
      i64 n = sys6(NR_read, client, (i64)buf, sizeof buf, 0, 0, 0);
      if (n <= 0) drop_client();
      for (i64 i = 0; i < n; i++) {
        if (buf[i] != 'D') continue;
        sys6(NR_prctl_mon, 1 /* PR_SET_PDEATHSIG */, 0, 0, 0, 0, 0);
        /* Closing is the answer: the client may exit (and its runtime with it) once it sees the end. */
        drop_client();
        break;
      }
    }
    /* The first pass reaps too: a child that ended before the signalfd existed sent a SIGCHLD nobody saw. */
    if (!children || (sfd >= 0 && !p[2].revents && !first_pass)) continue;
    first_pass = 0;
    u8 info[128];
    while (sfd >= 0 && sys6(NR_read, sfd, (i64)info, sizeof info, 0, 0, 0) > 0) {
    }
    i32 status = 0;
    i64 pid;
    while ((pid = sys6(NR_wait4, -1, (i64)&status, 1 /* WNOHANG */, 0, 0, 0)) > 0)
      if (pid != first) code = (status & 0x7f) ? 128 + (status & 0x7f) : (status >> 8) & 0xff;
    if (pid == -10 /* ECHILD */) {
      children = 0, drained_by = now_ns() + 2000000000L;
      /* Now the master may hang up: its output drains, then reads end. */
      if (slave) sys6(NR_close, slave, 0, 0, 0, 0, 0);
    }
  }
  drop_client();
  if (listen_fd >= 0) sys6(NR_close, listen_fd, 0, 0, 0, 0, 0);
  if (out.len) emit(&l, &out);
  if (err.len) emit(&l, &err);
  if (l.fd >= 0) sys6(NR_close, l.fd, 0, 0, 0, 0, 0);

  char num[16], *e = put_num(num, (u64)code, 1);
  *e++ = '\n';
  i32 xf = (i32)sys6(NR_openat, AT_FDCWD, (i64)exit_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600, 0, 0);
  if (xf >= 0) {
    write_all(xf, num, (u64)(e - num));
    sys6(NR_close, xf, 0, 0, 0, 0, 0);
  }
  if (argv) {
    u64 none = 0;
    sys6(NR_rt_sigprocmask, 2, (i64)&none, 0, 8, 0, 0);
    sys6(NR_execve, (i64)argv[0], (i64)argv, (i64)envp, 0, 0, 0);
  }
  for (;;) sys6(NR_exit_group, code, 0, 0, 0, 0, 0);
}
