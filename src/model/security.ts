/**
 * The security settings of a container (issue 11), as Docker and Podman users spell them: which values are valid,
 * how they are normalised before they are recorded, and what they amount to (the capability set a container gets).
 * Pure, shared by the manifest parser (./manifest.ts), the template checks (./template-check.ts), the CLI flags
 * (src/cli/security-flags.ts) and the OCI spec builder (src/runtime/containerd/oci-spec.ts), so that each refuses
 * the same values with the same words.
 *
 * @example
 * normalizeCapability('net_admin');                                   // 'CAP_NET_ADMIN'
 * effectiveCapabilities({ add: ['CAP_NET_ADMIN'], drop: ['ALL'] });   // ['CAP_NET_ADMIN']
 * capabilitiesAdded({ capabilities: { add: ['CAP_SYS_ADMIN'], drop: [] } }); // ['CAP_SYS_ADMIN']
 */
import type { Capabilities, ContainerTemplate } from '../../events/specs.js';
import { quote } from './issues.js';

/** The default capabilities of an unprivileged container (Docker's and containerd's set, moby oci/caps). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
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

/** Every capability runc 1.1 knows, in the order of their numbers (CAP_CHOWN is bit 0). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** The word that stands for every capability in `add` and `drop`, as in Docker. */
export const ALL = 'ALL';

/**
 * A capability name as recorded: upper case with the `CAP_` prefix (`net_admin` → `CAP_NET_ADMIN`), `ALL` as is, or
 * undefined for a name runc does not know.
 */
export function normalizeCapability(name: string): string | undefined {
  const upper = name.trim().toUpperCase();
  if (upper === ALL) return ALL;
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  return ALL_CAPABILITIES.includes(full) ? full : undefined;
}

/** `add` and `drop` with every name normalised, each once, in the order given (names already checked). */
export function normalizeCapabilities(caps: { add: readonly string[]; drop: readonly string[] }): Capabilities {
  const normal = (names: readonly string[]) => [...new Set(names.map((n) => normalizeCapability(n) ?? n))];
  return { add: normal(caps.add), drop: normal(caps.drop) };
}

/** Why `name` is not a capability, or undefined. */
export function capabilityProblem(name: string): string | undefined {
  if (normalizeCapability(name) !== undefined) return undefined;
  return `unknown capability ${quote(name)}; use a name of capabilities(7) with or without CAP_ (e.g. NET_ADMIN), or ALL`;
}

/**
 * The capabilities of an unprivileged container: Docker's rule (moby TweakCapabilities). `add: [ALL]` gives every
 * capability but those dropped; `drop: [ALL]` gives exactly those added; else the default set minus `drop`, plus
 * `add`. Names must be normalised; the result is in the order of the default set, then of capability numbers.
 */
export function effectiveCapabilities(caps: Capabilities | undefined): string[] {
  const add = caps?.add ?? [];
  const drop = caps?.drop ?? [];
  let out: string[];
  if (add.includes(ALL)) out = ALL_CAPABILITIES.filter((c) => !drop.includes(c));
  else if (drop.includes(ALL)) out = ALL_CAPABILITIES.filter((c) => add.includes(c));
  else out = [...DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)), ...ALL_CAPABILITIES.filter((c) => add.includes(c) && !DEFAULT_CAPABILITIES.includes(c))];
  return out;
}

/**
 * The capabilities a container would hold beyond Docker's default set (empty for a privileged container: that is
 * asked for by `privileged`, which an authorization rule checks on its own). For the roles check of issue 11: the
 * group `kukeon` may not add capabilities.
 *
 * @example
 * capabilitiesAdded({ privileged: false, capabilities: { add: ['ALL'], drop: [] } }).length > 0; // true
 */
export function capabilitiesAdded(template: Pick<ContainerTemplate, 'capabilities'> & { privileged?: boolean }): string[] {
  if (template.privileged) return [];
  return effectiveCapabilities(template.capabilities).filter((c) => !DEFAULT_CAPABILITIES.includes(c));
}

/** The values of `seccompProfile` besides a path. */
export const SECCOMP_DEFAULT = 'default';
export const SECCOMP_UNCONFINED = 'unconfined';

/** Why `value` is not a seccomp profile (`default`, `unconfined` or an absolute path to a JSON file), or undefined. */
export function seccompProfileProblem(value: string): string | undefined {
  if (value === SECCOMP_DEFAULT || value === SECCOMP_UNCONFINED || (value.startsWith('/') && !value.includes('\0'))) return undefined;
  return `seccomp profile ${quote(value)} must be default, unconfined or the absolute path of a JSON profile on the daemon's host`;
}

/** The largest uid or gid runc accepts (and containerd with it). */
export const MAX_ID = 2 ** 31 - 1;
const ID_OR_NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/;

/** Why `user` is not `uid[:gid]` or `name[:group]` (mixed too, as Docker takes it), or undefined. */
export function userProblem(user: string): string | undefined {
  const parts = user.split(':');
  const bad = parts.length > 2 || parts.some((p) => !ID_OR_NAME.test(p) || (/^\d+$/.test(p) && Number(p) > MAX_ID));
  return bad ? `user ${quote(user)} must be uid[:gid] or name[:group] (ids at most ${MAX_ID}), e.g. 1000:1000 or www-data` : undefined;
}

/** The kernel.* sysctls that belong to the IPC namespace (Docker's list, moby opts ValidateSysctl). */
const IPC_SYSCTLS = ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'];

/**
 * Why `key` may not be set in a container, or undefined: only namespaced sysctls (Docker's rule): the IPC ones,
 * `fs.mqueue.*`, and `net.*` unless the container uses the host's network (there they would change the host).
 */
export function sysctlProblem(key: string, hostNetwork: boolean): string | undefined {
  const namespaced = IPC_SYSCTLS.includes(key) || /^fs\.mqueue\.[a-z0-9_]+$/.test(key) || /^net\.[A-Za-z0-9_.-]+$/.test(key);
  if (!namespaced) return `sysctl ${quote(key)} is not namespaced (it would change the host); only ${IPC_SYSCTLS.join(', ')}, fs.mqueue.* and net.* can be set`;
  if (key.startsWith('net.') && hostNetwork) return `sysctl ${quote(key)} cannot be set in a container on the host's network (it would change the host)`;
  return undefined;
}

/** Why a sysctl value cannot be written, or undefined. */
export function sysctlValueProblem(key: string, value: string): string | undefined {
  return value === '' || /[\0\n]/.test(value) ? `the value of sysctl ${quote(key)} must be non-empty, on one line` : undefined;
}
