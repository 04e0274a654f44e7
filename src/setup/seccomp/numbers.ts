// System call numbers by name, for seccomp profiles, which name their calls.
// Generated from the kernel UAPI headers (linux-libc-dev 6.x): asm/unistd_64.h for x64,
// asm-generic/unistd.h with arm64's __ARCH_WANT_* switches for arm64; the calls from 451 on
// (newer than those headers, numbered alike on every architecture) added by hand from the kernel's tables.
//
// Kept as text, read on first use: a start under the default profile, whose filter was
// compiled with the binary, never needs the table, and building ~700 properties when the
// module loads cost about 0.4 ms of every start. Each list is the calls in number order:
// a number sets the next call's number, which otherwise is one more than the previous one.
import type { Arch } from "../syscalls.ts";

const TABLES: Record<Arch, readonly string[]> = {
  x64: [
    "0 read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction rt_sigprocmask",
    "rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select sched_yield mremap msync mincore madvise",
    "shmget shmat shmctl dup dup2 pause nanosleep getitimer alarm setitimer getpid sendfile socket connect accept",
    "sendto recvfrom sendmsg recvmsg shutdown bind listen getsockname getpeername socketpair setsockopt getsockopt",
    "clone fork vfork execve exit wait4 kill uname semget semop semctl shmdt msgget msgsnd msgrcv msgctl fcntl",
    "flock fsync fdatasync truncate ftruncate getdents getcwd chdir fchdir rename mkdir rmdir creat link unlink",
    "symlink readlink chmod fchmod chown fchown lchown umask gettimeofday getrlimit getrusage sysinfo times ptrace",
    "getuid syslog getgid setuid setgid geteuid getegid setpgid getppid getpgrp setsid setreuid setregid getgroups",
    "setgroups setresuid getresuid setresgid getresgid getpgid setfsuid setfsgid getsid capget capset rt_sigpending",
    "rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend sigaltstack utime mknod uselib personality ustat statfs fstatfs",
    "sysfs getpriority setpriority sched_setparam sched_getparam sched_setscheduler sched_getscheduler",
    "sched_get_priority_max sched_get_priority_min sched_rr_get_interval mlock munlock mlockall munlockall vhangup",
    "modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex setrlimit chroot sync acct settimeofday mount umount2",
    "swapon swapoff reboot sethostname setdomainname iopl ioperm create_module init_module delete_module",
    "get_kernel_syms query_module quotactl nfsservctl getpmsg putpmsg afs_syscall tuxcall security gettid readahead",
    "setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr",
    "lremovexattr fremovexattr tkill time futex sched_setaffinity sched_getaffinity set_thread_area io_setup",
    "io_destroy io_getevents io_submit io_cancel get_thread_area lookup_dcookie epoll_create epoll_ctl_old",
    "epoll_wait_old remap_file_pages getdents64 set_tid_address restart_syscall semtimedop fadvise64 timer_create",
    "timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres",
    "clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes vserver mbind set_mempolicy get_mempolicy",
    "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr kexec_load waitid add_key request_key",
    "keyctl ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat",
    "mknodat fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat",
    "pselect6 ppoll unshare set_robust_list get_robust_list splice tee sync_file_range vmsplice move_pages",
    "utimensat epoll_pwait signalfd timerfd_create eventfd fallocate timerfd_settime timerfd_gettime accept4",
    "signalfd4 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open",
    "recvmmsg fanotify_init fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs",
    "sendmmsg setns getcpu process_vm_readv process_vm_writev kcmp finit_module sched_setattr sched_getattr",
    "renameat2 seccomp getrandom memfd_create kexec_file_load bpf execveat userfaultfd membarrier mlock2",
    "copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free statx io_pgetevents rseq 424",
    "pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount",
    "fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr",
    "quotactl_fd landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret process_mrelease",
    "futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue",
    "statmount listmount lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal setxattrat getxattrat",
    "listxattrat removexattrat open_tree_attr file_getattr file_setattr",
  ],
  arm64: [
    "0 io_setup io_destroy io_submit io_cancel io_getevents setxattr lsetxattr fsetxattr getxattr lgetxattr",
    "fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr getcwd lookup_dcookie eventfd2",
    "epoll_create1 epoll_ctl epoll_pwait dup dup3 fcntl inotify_init1 inotify_add_watch inotify_rm_watch ioctl",
    "ioprio_set ioprio_get flock mknodat mkdirat unlinkat symlinkat linkat renameat umount2 mount pivot_root",
    "nfsservctl statfs fstatfs truncate ftruncate fallocate faccessat chdir fchdir chroot fchmod fchmodat fchownat",
    "fchown openat close vhangup pipe2 quotactl getdents64 lseek read write readv writev pread64 pwrite64 preadv",
    "pwritev sendfile pselect6 ppoll signalfd4 vmsplice splice tee readlinkat newfstatat fstat sync fsync fdatasync",
    "sync_file_range timerfd_create timerfd_settime timerfd_gettime utimensat acct capget capset personality exit",
    "exit_group waitid set_tid_address unshare futex set_robust_list get_robust_list nanosleep getitimer setitimer",
    "kexec_load init_module delete_module timer_create timer_gettime timer_getoverrun timer_settime timer_delete",
    "clock_settime clock_gettime clock_getres clock_nanosleep syslog ptrace sched_setparam sched_setscheduler",
    "sched_getscheduler sched_getparam sched_setaffinity sched_getaffinity sched_yield sched_get_priority_max",
    "sched_get_priority_min sched_rr_get_interval restart_syscall kill tkill tgkill sigaltstack rt_sigsuspend",
    "rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigreturn setpriority getpriority",
    "reboot setregid setgid setreuid setuid setresuid getresuid setresgid getresgid setfsuid setfsgid times setpgid",
    "getpgid getsid setsid getgroups setgroups uname sethostname setdomainname getrlimit setrlimit getrusage umask",
    "prctl getcpu gettimeofday settimeofday adjtimex getpid getppid getuid geteuid getgid getegid gettid sysinfo",
    "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr msgget msgctl msgrcv msgsnd semget",
    "semctl semtimedop semop shmget shmctl shmat shmdt socket socketpair bind listen accept connect getsockname",
    "getpeername sendto recvfrom setsockopt getsockopt shutdown sendmsg recvmsg readahead brk munmap mremap add_key",
    "request_key keyctl clone execve mmap fadvise64 swapon swapoff mprotect msync mlock munlock mlockall munlockall",
    "mincore madvise remap_file_pages mbind get_mempolicy set_mempolicy migrate_pages move_pages rt_tgsigqueueinfo",
    "perf_event_open accept4 recvmmsg arch_specific_syscall 260 wait4 prlimit64 fanotify_init fanotify_mark",
    "name_to_handle_at open_by_handle_at clock_adjtime syncfs setns sendmmsg process_vm_readv process_vm_writev",
    "kcmp finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create bpf execveat",
    "userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free statx",
    "io_pgetevents rseq kexec_file_load 424 pidfd_send_signal io_uring_setup io_uring_enter io_uring_register",
    "open_tree move_mount fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd",
    "faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule",
    "landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2",
    "map_shadow_stack futex_wake futex_wait futex_requeue statmount listmount lsm_get_self_attr lsm_set_self_attr",
    "lsm_list_modules mseal setxattrat getxattrat listxattrat removexattrat open_tree_attr file_getattr",
    "file_setattr",
  ],
};

const parsed: Partial<Record<Arch, ReadonlyMap<string, number>>> = {};

/** Name → number for the architecture's native ABI. */
export function syscallNumbers(arch: Arch): ReadonlyMap<string, number> {
  let table = parsed[arch];
  if (!table) {
    const m = new Map<string, number>();
    let next = 0;
    for (const word of TABLES[arch].join(" ").split(" ")) {
      if (/^\d+$/.test(word)) next = Number(word);
      else m.set(word, next++);
    }
    parsed[arch] = table = m;
  }
  return table;
}

/**
 * Names that exist only on other architectures (i386 from asm/unistd_32.h, then arm,
 * powerpc, s390, mips and riscv). Profiles written for every architecture list them;
 * they are skipped here, not refused as unknown.
 */
const OTHER_ARCH =
  "_llseek _newselect bdflush break chown32 clock_adjtime64 clock_getres_time64 clock_gettime64 clock_nanosleep_time64 clock_settime64 fadvise64_64 fchown32 fcntl64 fstat64 fstatat64 fstatfs64 ftime ftruncate64 futex_time64 getegid32 geteuid32 getgid32 getgroups32 getresgid32 getresuid32 getuid32 gtty idle io_pgetevents_time64 ipc lchown32 lock lstat64 mmap2 mpx mq_timedreceive_time64 mq_timedsend_time64 nice oldfstat oldlstat oldolduname oldstat olduname ppoll_time64 prof profil pselect6_time64 readdir recvmmsg_time64 rt_sigtimedwait_time64 sched_rr_get_interval_time64 semtimedop_time64 sendfile64 setfsgid32 setfsuid32 setgid32 setgroups32 setregid32 setresgid32 setresuid32 setreuid32 setuid32 sgetmask sigaction signal sigpending sigprocmask sigreturn sigsuspend socketcall ssetmask stat64 statfs64 stime stty timer_gettime64 timer_settime64 timerfd_gettime64 timerfd_settime64 truncate64 ugetrlimit ulimit umount utimensat_time64 vm86 vm86old waitpid " +
  "breakpoint cacheflush set_tls usr26 usr32 arm_fadvise64_64 arm_sync_file_range sync_file_range2 " +
  "spu_run spu_create subpage_prot switch_endian sys_debug_setcontext multiplexer rtas swapcontext " +
  "pciconfig_iobase pciconfig_read pciconfig_write s390_pci_mmio_read s390_pci_mmio_write " +
  "s390_runtime_instr s390_guarded_storage s390_sthyi cachectl sysmips riscv_flush_icache riscv_hwprobe " +
  "get_thread_area set_thread_area arch_prctl modify_ldt ioperm iopl epoll_ctl_old epoll_wait_old " +
  "oldumount sys_kexec_load recv send syscall timerfd";

let otherArch: ReadonlySet<string> | undefined;

/** A name that exists only on other architectures (a profile for every architecture lists it). */
export function isOtherArchName(name: string): boolean {
  otherArch ??= new Set(OTHER_ARCH.split(" "));
  return otherArch.has(name);
}
