/**
 * The default seccomp profile of unprivileged containers: Docker's (moby/profiles `seccomp/default.json`), written
 * here as data and a builder. Every syscall not allowed fails with EPERM; the allow-list is Docker's, and so are its
 * rules: `personality` only with the flags programs use, `socket` without AF_ALG and AF_VSOCK, `clone` without
 * namespace flags and `clone3` as ENOSYS (so libc falls back to `clone`) unless CAP_SYS_ADMIN, and the syscalls that
 * a capability governs allowed only when the container holds it (mount/unshare/setns with CAP_SYS_ADMIN, ptrace
 * with CAP_SYS_PTRACE, …). `keyctl`, `add_key`, `request_key`, `unshare` of a user namespace, `kexec_load`,
 * `open_by_handle_at`, … are refused as under Docker.
 *
 * Pure. runc 1.1 (libseccomp 2.5) skips names its libseccomp does not know, so newer syscalls in the list are
 * harmless on older hosts, and answers syscalls newer than libseccomp with ENOSYS rather than the default EPERM.
 *
 * @example
 * buildSeccompProfile(['CAP_CHOWN'], 'x64').syscalls.length; // the allow rules for a container of these capabilities
 */

/** An OCI seccomp argument rule. */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: 'SCMP_CMP_EQ' | 'SCMP_CMP_LT' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
}

/** An OCI seccomp syscall rule. */
export interface SeccompRule {
  names: string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  errnoRet?: number;
  args?: SeccompArg[];
}

/** The OCI `linux.seccomp` section. */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls?: SeccompRule[];
  [key: string]: unknown;
}

const EPERM = 1;
const ENOSYS = 38;

/** Syscalls allowed to every container (Docker's list, whatever the architecture or capabilities). */
export const ALLOWED_SYSCALLS: readonly string[] = `
  _llseek _newselect accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown
  chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
  clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
  epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd
  eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark
  fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock
  fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
  futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat get_robust_list get_thread_area getcpu
  getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer
  getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32
  getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday getuid getuid32 getxattr getxattrat
  inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel io_destroy io_getevents io_pgetevents
  io_pgetevents_time64 io_setup io_submit ioctl ioprio_get ioprio_set ipc kill landlock_add_rule
  landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount listxattr
  listxattrat llistxattr lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier
  memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect
  mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64
  mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep
  newfstatat open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect
  poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
  pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64
  recvmsg remap_file_pages removexattr removexattrat rename renameat renameat2 restart_syscall riscv_hwprobe rmdir
  rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
  rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min sched_getaffinity
  sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
  sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
  semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list set_thread_area
  set_tid_address setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid
  setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid
  setsockopt setuid setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
  sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat
  sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime
  timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
  timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe utime
  utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
`
  .trim()
  .split(/\s+/);

/** Syscalls allowed when the container holds a capability (Docker's `includes.caps` rules). */
export const SYSCALLS_BY_CAPABILITY: Readonly<Record<string, readonly string[]>> = {
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYS_ADMIN: [
    'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'lsm_get_self_attr',
    'lsm_list_modules', 'lsm_set_self_attr', 'mount', 'mount_setattr', 'move_mount', 'open_tree', 'perf_event_open', 'quotactl',
    'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare',
  ],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['delete_module', 'init_module', 'finit_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

/** The architectures a profile covers, by Node's `process.arch`, and the syscalls only they have. */
export const ARCHITECTURES: Readonly<Record<string, { scmp: string[]; syscalls: string[] }>> = {
  x64: { scmp: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: ['arch_prctl', 'modify_ldt'] },
  arm64: { scmp: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'], syscalls: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'] },
};

/** `personality(2)` personas programs use: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query 0xffffffff. */
const PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];
/** AF_ALG (38) and AF_VSOCK (40): socket families Docker's profile refuses. */
const AF_ALG = 38;
const AF_VSOCK = 40;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET: namespace creation by clone(2). */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/**
 * Docker's default profile for a container holding `capabilities`, on the architecture `arch` (`process.arch`; an
 * unknown one gets no architecture list, which libseccomp reads as the native one only).
 */
export function buildSeccompProfile(capabilities: readonly string[], arch: string = process.arch): SeccompProfile {
  const has = (cap: string) => capabilities.includes(cap);
  const byCaps = Object.entries(SYSCALLS_BY_CAPABILITY).flatMap(([cap, names]) => (has(cap) ? names : []));
  const platform = ARCHITECTURES[arch];
  const allowed = [...new Set([...ALLOWED_SYSCALLS, ...(platform?.syscalls ?? []), ...byCaps])];
  const allow = (names: string[], args?: SeccompArg[]): SeccompRule => ({ names, action: 'SCMP_ACT_ALLOW', ...(args ? { args } : {}) });
  const syscalls: SeccompRule[] = [
    allow(allowed),
    ...PERSONAS.map((value) => allow(['personality'], [{ index: 0, value, op: 'SCMP_CMP_EQ' }])),
    // Separate rules are ORed: every family but AF_ALG and AF_VSOCK.
    allow(['socket'], [{ index: 0, value: AF_ALG, op: 'SCMP_CMP_LT' }]),
    allow(['socket'], [{ index: 0, value: AF_ALG + 1, op: 'SCMP_CMP_EQ' }]),
    allow(['socket'], [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_GT' }]),
  ];
  if (!has('CAP_SYS_ADMIN')) {
    syscalls.push(
      allow(['clone'], [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]),
      // clone3 passes its flags in a struct that seccomp cannot read: ENOSYS makes libc use clone, which it can.
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    );
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM, ...(platform ? { architectures: [...platform.scmp] } : {}), syscalls };
}

/** Docker's condition on a rule of a profile file (`includes`, `excludes`). */
interface Condition {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

/** A rule of a profile file, in Docker's format (a superset of the OCI one). */
interface FileRule {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  includes?: Condition;
  excludes?: Condition;
}

/** Docker's architecture names of Node's. */
const DOCKER_ARCH: Record<string, string[]> = { x64: ['amd64', 'x86', 'x32'], arm64: ['arm64', 'arm'] };

/**
 * A profile read from a file, for a container holding `capabilities`: an OCI `linux.seccomp` as is, or Docker's format
 * (`archMap`, rules with `includes`/`excludes` on capabilities and architectures) turned into one, as Docker does.
 * Throws an Error saying what is wrong (the caller adds the file's path).
 */
export function profileFromFile(json: unknown, capabilities: readonly string[], arch: string = process.arch): SeccompProfile {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('is not a JSON object');
  const p = json as { defaultAction?: unknown; defaultErrnoRet?: unknown; architectures?: unknown; archMap?: unknown; syscalls?: unknown };
  if (typeof p.defaultAction !== 'string' || !/^SCMP_ACT_[A-Z_]+$/.test(p.defaultAction)) throw new Error('has no defaultAction (e.g. SCMP_ACT_ERRNO)');
  const dockerArches = DOCKER_ARCH[arch] ?? [];
  const applies = (rule: FileRule) => {
    const inc = rule.includes ?? {};
    const exc = rule.excludes ?? {};
    if (inc.caps && !inc.caps.every((c) => capabilities.includes(c))) return false;
    if (inc.arches && !inc.arches.some((a) => dockerArches.includes(a))) return false;
    if (exc.caps?.some((c) => capabilities.includes(c))) return false;
    return !exc.arches?.some((a) => dockerArches.includes(a));
  };
  const rules = p.syscalls ?? [];
  if (!Array.isArray(rules)) throw new Error('has syscalls that are not a list');
  const syscalls: SeccompRule[] = (rules as FileRule[]).filter(applies).map((r, i) => {
    const names = r.names ?? (r.name ? [r.name] : []);
    if (names.length === 0 || typeof r.action !== 'string') throw new Error(`has a rule (syscalls[${i}]) without names or action`);
    return { names, action: r.action as SeccompRule['action'], ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}), ...(r.args?.length ? { args: r.args } : {}) };
  });
  const archMap = Array.isArray(p.archMap) ? (p.archMap as { architecture: string; subArchitectures?: string[] }[]) : [];
  const native = ARCHITECTURES[arch]?.scmp[0];
  const mapped = archMap.find((a) => a.architecture === native);
  const architectures = Array.isArray(p.architectures) ? (p.architectures as string[]) : mapped ? [mapped.architecture, ...(mapped.subArchitectures ?? [])] : undefined;
  return {
    defaultAction: p.defaultAction,
    ...(typeof p.defaultErrnoRet === 'number' ? { defaultErrnoRet: p.defaultErrnoRet } : {}),
    ...(architectures ? { architectures } : {}),
    syscalls,
  };
}
