/**
 * The OCI runtime spec of a container, built from kukeon's ContainerSpec and the image's config. Pure: no I/O, same
 * inputs → same spec (so an unchanged container is recognised by comparing bytes).
 *
 * containerd does not apply the image config itself: entrypoint, cmd, env, working directory and user are merged
 * here. runc needs at least `process.args`, an absolute `process.cwd`, `root.path`, a /proc mount and a mount
 * namespace (without one, its mounts land in the host and the task cannot be deleted).
 *
 * Unprivileged containers get Docker's default capability set and seccomp profile (./seccomp.ts), no new privileges,
 * masked and read-only /proc paths, a read-only /sys and the default device allow-list, each changed where the
 * container's security settings say so (issue 11: user, capabilities, read-only root, seccomp, sysctls); privileged
 * ones (the daemon's own container) get every capability the host can grant, every device, a writable /sys, no
 * seccomp and nothing masked.
 */
import { ErrorKind, KukeError } from '../../errors.js';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, effectiveCapabilities, SECCOMP_DEFAULT, SECCOMP_UNCONFINED } from '../../model/security.js';
import type { ContainerSpec, ImageConfig, MountSpec, ResourceLimits } from '../ports.js';
import { buildSeccompProfile, profileFromFile, type SeccompProfile } from './seccomp.js';

/** The `ociVersion` written into specs (what containerd 1.6's own client writes). */
export const OCI_VERSION = '1.0.2-dev';

export { ALL_CAPABILITIES, DEFAULT_CAPABILITIES };

/**
 * /proc and /sys paths hidden from unprivileged containers: Docker's list (moby oci/defaults.go, with its advisories
 * GHSA-6fw5-f8r9-fgfm for /proc/interrupts and GHSA-jq35-85cj-fj4p for powercap). Docker also masks each CPU's
 * thermal_throttle directory that exists on the host: the runtime finds those ({@link SpecOptions.hostMaskedPaths}).
 */
export const MASKED_PATHS: readonly string[] = [
  '/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/sched_debug',
  '/proc/scsi', '/proc/timer_list', '/proc/timer_stats', '/sys/devices/virtual/powercap', '/sys/firmware',
];
/** /proc paths read-only for unprivileged containers. */
export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** The PATH of a container whose image sets none. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** An OCI mount. */
export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** An OCI namespace entry (`path` joins an existing one). */
export interface OciNamespace {
  type: 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';
  path?: string;
}

/** The OCI runtime spec fields kukeon writes. */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: ProcessUser;
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
    rlimits?: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  linux: {
    namespaces: OciNamespace[];
    cgroupsPath: string;
    resources: {
      devices: { allow: boolean; access: string }[];
      memory?: { limit: number };
      cpu?: { shares?: number; quota?: number; period?: number };
      pids?: { limit: number };
    };
    maskedPaths?: string[];
    readonlyPaths?: string[];
    sysctl?: Record<string, string>;
    seccomp?: SeccompProfile;
  };
}

/** The identity of a container's process: `additionalGids` holds the primary gid too (as containerd writes it). */
export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

/** Options of {@link buildOciSpec}. */
export interface SpecOptions {
  /** Capabilities the host can grant (default: all). Privileged containers get exactly these. */
  available?: readonly string[];
  /**
   * The process's identity, resolved by the runtime from the image's /etc/passwd and /etc/group (./image-user.ts).
   * Absent: the container's (or else the image's) user must be numeric or root.
   */
  user?: ProcessUser;
  /** Host-dependent paths masked besides {@link MASKED_PATHS} (each CPU's thermal_throttle, as Docker does). */
  hostMaskedPaths?: readonly string[];
  /** The parsed JSON of the file a container's `seccompProfile` names, read by the runtime. */
  seccompFile?: unknown;
}

/** `KEY=VALUE` lists merged by key, later lists winning, the order of first appearance kept. */
export function mergeEnv(...lists: readonly (readonly string[])[]): string[] {
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

/**
 * The uid/gid of a user without the image's files: empty or `root` is 0:0, `<uid>:<gid>` numeric. Anything else
 * needs the image's /etc/passwd, read by the runtime (./image-user.ts): InvalidArgument when it was not.
 */
export function processUser(user: string, context: string): ProcessUser {
  const value = user.trim();
  if (value === '' || value === 'root' || value === 'root:root') return { uid: 0, gid: 0, additionalGids: [0] };
  const m = /^(\d+):(\d+)$/.exec(value);
  if (!m) throw new KukeError(ErrorKind.Internal, `${context}: the user "${value}" was not resolved in the image's /etc/passwd`);
  return { uid: Number(m[1]), gid: Number(m[2]), additionalGids: [Number(m[2])] };
}

/**
 * The capabilities in a bounding-set mask (`CapBnd:` of /proc/<pid>/status, hex). A privileged container can only
 * get what the host's runtime holds: asking for more makes runc fail ("unable to apply caps").
 */
export function capabilitiesFromMask(hexMask: string): string[] {
  const mask = BigInt(`0x${hexMask.trim()}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/**
 * The namespaces: always a new mount namespace; pid unless hostPid; network new, joined by path, or the host's.
 * A container joining a cell's `/proc/<pid>/ns/net` also joins that process's IPC and UTS namespaces (one hostname
 * and one IPC space per cell, as in a pod). The host network mode keeps the host's UTS namespace too.
 */
export function namespacesFor(spec: Pick<ContainerSpec, 'network' | 'hostPid'>): OciNamespace[] {
  const out: OciNamespace[] = [{ type: 'mount' }];
  if (!spec.hostPid) out.push({ type: 'pid' });
  const network = spec.network;
  if (network.mode === 'host') {
    out.push({ type: 'ipc' });
    return out;
  }
  if (network.mode === 'new') {
    out.push({ type: 'network' }, { type: 'ipc' }, { type: 'uts' });
    return out;
  }
  if (!network.path.startsWith('/')) throw new KukeError(ErrorKind.InvalidArgument, `network namespace path ${network.path} is not absolute`);
  out.push({ type: 'network', path: network.path });
  const owner = /^\/proc\/(\d+)\/ns\/net$/.exec(network.path)?.[1];
  if (owner) out.push({ type: 'ipc', path: `/proc/${owner}/ns/ipc` }, { type: 'uts', path: `/proc/${owner}/ns/uts` });
  else out.push({ type: 'ipc' }, { type: 'uts' });
  return out;
}

/** The mounts every container gets. */
export function defaultMounts(privileged: boolean): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  ];
}

/** The user's mounts (binds and tmpfs), in order, after the default ones. */
export function userMounts(mounts: readonly MountSpec[], context: string): OciMount[] {
  return mounts.map((m) => {
    if (!m.target.startsWith('/')) throw new KukeError(ErrorKind.InvalidArgument, `${context}: mount target ${m.target} is not absolute`);
    if (m.type === 'tmpfs') {
      return { destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.readOnly ? ['ro'] : []), ...(m.options ?? [])] };
    }
    if (!m.source?.startsWith('/')) throw new KukeError(ErrorKind.InvalidArgument, `${context}: bind mount on ${m.target} needs an absolute source`);
    return { destination: m.target, type: 'bind', source: m.source, options: ['rbind', m.readOnly ? 'ro' : 'rw', ...(m.options ?? [])] };
  });
}

/** The cgroup resources: the device rule and the limits that are set. */
export function resourcesFor(r: ResourceLimits, privileged: boolean): OciSpec['linux']['resources'] {
  // Deny-all still leaves runc's default device set (null, zero, random, tty, …) usable.
  const out: OciSpec['linux']['resources'] = { devices: [{ allow: privileged, access: 'rwm' }] };
  if (r.memoryBytes) out.memory = { limit: r.memoryBytes };
  if (r.cpuShares || r.cpuQuotaUs) {
    out.cpu = { ...(r.cpuShares ? { shares: r.cpuShares } : {}), ...(r.cpuQuotaUs ? { quota: r.cpuQuotaUs, period: r.cpuPeriodUs ?? 100_000 } : {}) };
  }
  if (r.pidsMax) out.pids = { limit: r.pidsMax };
  return out;
}

/**
 * The seccomp profile of an unprivileged container: Docker's default for the capabilities it holds, none when
 * `unconfined`, or the profile the runtime read from the path given.
 */
export function seccompFor(profile: string | undefined, caps: readonly string[], file: unknown, context: string): SeccompProfile | undefined {
  if (profile === undefined || profile === SECCOMP_DEFAULT) return buildSeccompProfile(caps);
  if (profile === SECCOMP_UNCONFINED) return undefined;
  if (file === undefined) throw new KukeError(ErrorKind.Internal, `${context}: the seccomp profile ${profile} was not read`);
  try {
    return profileFromFile(file, caps);
  } catch (err) {
    throw new KukeError(ErrorKind.InvalidArgument, `${context}: the seccomp profile ${profile} ${(err as Error).message}`, { hint: "give an OCI or Docker seccomp profile (Docker's default.json format)" });
  }
}

/** Builds the spec. InvalidArgument when there is nothing to run or an input cannot be expressed. */
export function buildOciSpec(spec: ContainerSpec, image: ImageConfig, options: SpecOptions = {}): OciSpec {
  const context = `container ${spec.id}`;
  const args = processArgs(spec, image);
  if (args.length === 0) {
    throw new KukeError(ErrorKind.InvalidArgument, `${context}: nothing to run (no command, and the image ${spec.image} has no entrypoint or cmd)`, {
      hint: 'set command/args in the manifest',
    });
  }
  if (!spec.cgroupsPath.startsWith('/')) throw new KukeError(ErrorKind.InvalidArgument, `${context}: cgroup path ${spec.cgroupsPath} is not absolute`);
  const cwd = spec.workingDir || image.workingDir || '/';
  if (!cwd.startsWith('/')) throw new KukeError(ErrorKind.InvalidArgument, `${context}: working directory ${cwd} is not absolute`);
  const privileged = spec.privileged === true;
  const available = options.available ?? ALL_CAPABILITIES;
  // What the host cannot grant is left out of the defaults; a capability asked for by name is kept, so runc's refusal
  // says which one is missing instead of the container running without it.
  const asked = spec.capabilities?.add ?? [];
  const caps = (privileged ? [...ALL_CAPABILITIES] : effectiveCapabilities(spec.capabilities)).filter((c) => available.includes(c) || asked.includes(c));
  const sysctls = Object.entries(spec.sysctls ?? {});
  const seccomp = privileged ? undefined : seccompFor(spec.seccompProfile, caps, options.seccompFile, context);
  const namespaces = namespacesFor(spec);
  // Only a container that owns a new UTS namespace can name it; members of a cell share the root's hostname.
  const ownsUts = namespaces.some((n) => n.type === 'uts' && !n.path);
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: options.user ?? processUser(spec.user ?? image.user, context),
      args,
      env: mergeEnv(image.env.some((e) => e.startsWith('PATH=')) ? [] : [DEFAULT_PATH], image.env, spec.env ?? []),
      cwd,
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      ...(privileged ? {} : { rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }] }),
      noNewPrivileges: !privileged && spec.noNewPrivileges !== false,
    },
    // Relative to the bundle: the shim mounts the snapshot's mounts there.
    root: { path: 'rootfs', readonly: spec.readOnlyRootFilesystem === true },
    ...(spec.hostname && ownsUts ? { hostname: spec.hostname } : {}),
    mounts: [...defaultMounts(privileged), ...userMounts(spec.mounts ?? [], context)],
    linux: {
      namespaces,
      cgroupsPath: spec.cgroupsPath,
      resources: resourcesFor(spec.resources ?? {}, privileged),
      ...(privileged ? {} : { maskedPaths: [...MASKED_PATHS, ...(options.hostMaskedPaths ?? [])], readonlyPaths: [...READONLY_PATHS] }),
      ...(sysctls.length ? { sysctl: Object.fromEntries(sysctls.sort(([a], [b]) => a.localeCompare(b))) } : {}),
      ...(seccomp ? { seccomp } : {}),
    },
  };
}
