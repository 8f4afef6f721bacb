/**
 * The OCI runtime spec of a container, built from kukeon's ContainerSpec and the image's config. Pure. containerd
 * does not apply the image config itself: entrypoint, cmd, env and working directory are merged here.
 *
 * Unprivileged containers get the default capability set, no new privileges, masked /proc paths and a device
 * allow-list; privileged ones (the daemon's own container) get every capability and device and a writable /sys.
 */
import { ErrorKind, KukeError } from '../../errors.js';
import type { ContainerSpec, ImageConfig } from '../ports.js';

/** The default capabilities (Docker's and containerd's set). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability runc 1.1 knows. */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

const MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
  '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** `KEY=VALUE` lists merged by key, later entries winning, order of first appearance kept. */
export function mergeEnv(...lists: string[][]): string[] {
  const out = new Map<string, string>();
  for (const list of lists) for (const entry of list) out.set(entry.split('=', 1)[0]!, entry);
  return [...out.values()];
}

/** The process arguments: entrypoint + cmd, overridden as Docker does (a new entrypoint drops the image's cmd). */
export function processArgs(spec: Pick<ContainerSpec, 'command' | 'args'>, image: ImageConfig): string[] {
  const entrypoint = spec.command ?? image.entrypoint;
  const cmd = spec.args ?? (spec.command ? [] : image.cmd);
  return [...entrypoint, ...cmd];
}

/** Capability names in the order of their numbers (CAP_CHOWN is 0). */
const CAPABILITY_NUMBERS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/**
 * The capabilities in a bounding-set mask (`CapBnd:` of /proc/<pid>/status, hex). A privileged container can only
 * get what the host's runtime holds: asking for more makes runc fail ("unable to apply caps").
 */
export function capabilitiesFromMask(hexMask: string): string[] {
  const mask = BigInt(`0x${hexMask.trim()}`);
  return CAPABILITY_NUMBERS.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** Options of {@link buildOciSpec}. */
export interface SpecOptions {
  /** Capabilities the host can grant (default: all). Privileged containers get exactly these. */
  available?: readonly string[];
}

/** Builds the spec. */
export function buildOciSpec(spec: ContainerSpec, image: ImageConfig, options: SpecOptions = {}): Record<string, unknown> {
  const args = processArgs(spec, image);
  if (args.length === 0) {
    throw new KukeError(ErrorKind.InvalidArgument, `container ${spec.id}: nothing to run (no command, and the image ${spec.image} has no entrypoint or cmd)`, {
      hint: 'set command/args in the manifest',
    });
  }
  const privileged = spec.privileged === true;
  const available = options.available ?? ALL_CAPABILITIES;
  const caps = (privileged ? ALL_CAPABILITIES : DEFAULT_CAPABILITIES).filter((c) => available.includes(c));
  const env = mergeEnv(image.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'].filter(() => !image.env.some((e) => e.startsWith('PATH='))), spec.env ?? []);
  const namespaces: Record<string, string>[] = [{ type: 'mount' }, { type: 'ipc' }];
  if (!spec.hostPid) namespaces.push({ type: 'pid' });
  if (spec.network.mode === 'new') namespaces.push({ type: 'network' }, { type: 'uts' });
  if (spec.network.mode === 'join') {
    namespaces.push({ type: 'network', path: spec.network.path });
    // A cell's containers share the root's network, IPC and hostname (as a pod's do).
    const proc = /^\/proc\/(\d+)\/ns\/net$/.exec(spec.network.path);
    if (proc) {
      namespaces.splice(1, 1, { type: 'ipc', path: `/proc/${proc[1]}/ns/ipc` });
      namespaces.push({ type: 'uts', path: `/proc/${proc[1]}/ns/uts` });
    } else namespaces.push({ type: 'uts' });
  }
  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  ];
  for (const m of spec.mounts ?? []) {
    if (m.type === 'tmpfs') mounts.push({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.options ?? [])] });
    else {
      if (!m.source) throw new KukeError(ErrorKind.InvalidArgument, `container ${spec.id}: bind mount on ${m.target} has no source`);
      mounts.push({ destination: m.target, type: 'bind', source: m.source, options: ['rbind', m.readOnly ? 'ro' : 'rw', ...(m.options ?? [])] });
    }
  }
  const r = spec.resources ?? {};
  const resources: Record<string, unknown> = {
    devices: privileged ? [{ allow: true, access: 'rwm' }] : [{ allow: false, access: 'rwm' }],
    ...(r.memoryBytes ? { memory: { limit: r.memoryBytes } } : {}),
    ...(r.cpuShares || r.cpuQuotaUs ? { cpu: { ...(r.cpuShares ? { shares: r.cpuShares } : {}), ...(r.cpuQuotaUs ? { quota: r.cpuQuotaUs, period: r.cpuPeriodUs ?? 100000 } : {}) } } : {}),
    ...(r.pidsMax ? { pids: { limit: r.pidsMax } } : {}),
  };
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env,
      cwd: spec.workingDir ?? (image.workingDir || '/'),
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      ...(privileged ? {} : { rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }] }),
      noNewPrivileges: !privileged,
    },
    root: { path: 'rootfs', readonly: false },
    // Only the owner of a UTS namespace names it; containers that join the root's share its hostname.
    ...(spec.hostname && spec.network.mode === 'new' ? { hostname: spec.hostname } : {}),
    mounts,
    linux: {
      namespaces,
      cgroupsPath: spec.cgroupsPath,
      resources,
      ...(privileged ? {} : { maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS }),
    },
  };
}
