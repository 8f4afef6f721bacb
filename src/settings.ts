/**
 * Host settings shared by kuke and kukeond: paths and knobs, each overridable by a flag and an environment
 * variable (declared once here), so tests and benchmarks run fully isolated from the host's real kukeon.
 * Precedence: flag > environment > default.
 */
import { join } from 'node:path';
import { DEFAULT_POD_SUBNET, resolveEngineConfig, type EngineConfig } from './engine/config.js';
import { ErrorKind, KukeError } from './errors.js';
import { validateSocketPath } from './model/names.js';

/**
 * Environment variables. Each one is the twin of a flag.
 */
export const ENV = {
  /** Persistent run path (event log, read model, logs, CNI state). Setting it makes kuke work in-process. */
  runPath: 'KUKEON_RUN_PATH',
  /** `true`: kuke works in-process instead of asking the daemon. */
  noDaemon: 'KUKEON_NO_DAEMON',
  /** kukeond's socket. */
  socket: 'KUKEOND_SOCKET',
  /** containerd's socket. */
  containerdSocket: 'KUKEON_CONTAINERD_SOCKET',
  /** runc's state root for kukeon's tasks (default: runc's own, /run/containerd/runc). */
  runcRoot: 'KUKEON_RUNC_ROOT',
  /** cgroup root of the hierarchy. */
  cgroupRoot: 'KUKEON_CGROUP_ROOT',
  /** Suffix of realms' containerd namespaces. */
  namespaceSuffix: 'KUKEON_NAMESPACE_SUFFIX',
  /** Colon-separated directories searched for CNI plugins. */
  cniBinDirs: 'KUKEON_CNI_BIN_DIRS',
  /** Parent CIDR of the spaces' /24s. */
  podSubnet: 'KUKEON_POD_SUBNET',
  /** `false` disables masquerading of cell traffic (no iptables needed). */
  ipMasq: 'KUKEON_IP_MASQ',
  /** pino log level. */
  logLevel: 'KUKEON_LOG_LEVEL',
  /** Group allowed on the socket (default kukeon); its members are operators (src/api/authorization.ts). */
  socketGroup: 'KUKEON_SOCKET_GROUP',
  /** Group whose members may do everything, root-equivalent (default kukeon-admin). */
  adminGroup: 'KUKEON_ADMIN_GROUP',
  /** Group whose members may only read (default kukeon-view). */
  viewGroup: 'KUKEON_VIEW_GROUP',
  /** Colon-separated host directories operators may bind-mount (default: none). */
  allowedBindPaths: 'KUKEON_ALLOWED_BIND_PATHS',
  /** Size at which kukeond rotates a container's log: bytes, or with a k/m/g suffix (default 10m). */
  logMaxSize: 'KUKEON_LOG_MAX_SIZE',
  /** Log files kept per container, the live one included (default 3). */
  logMaxFile: 'KUKEON_LOG_MAX_FILE',
} as const;

/** Everything a kukeon process needs to know about its host. */
export interface HostSettings {
  engine: EngineConfig;
  /** kukeond's socket; its directory also holds the pid file. */
  socket: string;
  pidFile: string;
  containerdSocket: string;
  /**
   * runc's state root for the tasks kukeon creates; undefined keeps runc's default. Every containerd on a host
   * shares that default, so a private containerd (tests, benchmarks) gives its own.
   */
  runcRoot: string | undefined;
  cniBinDirs: string[];
  logLevel: string;
  socketGroup: string;
  /** Group (name or gid) of admins: root-equivalent. */
  adminGroup: string;
  /** Group (name or gid) of viewers: read-only. */
  viewGroup: string;
  /** Host directories under which operators may bind-mount (absolute, as given); empty = none. */
  allowedBindPaths: string[];
  /** Where kukeond writes its log (JSON lines). */
  daemonLogFile: string;
}

/** Flag values as parsed (all optional). */
export interface SettingFlags {
  runPath?: string;
  socket?: string;
  containerdSocket?: string;
  runcRoot?: string;
  cgroupRoot?: string;
  namespaceSuffix?: string;
  cniBinDir?: string[];
  podSubnet?: string;
  ipMasq?: boolean;
  logLevel?: string;
  socketGroup?: string;
  adminGroup?: string;
  viewGroup?: string;
  /** `--allow-bind-path` (repeatable). */
  allowBindPath?: string[];
  /** `--log-max-size`, as typed (`10m`). */
  logMaxSize?: string;
  /** `--log-max-file`, as typed (`3`). */
  logMaxFile?: string;
}

const DEFAULT_SOCKET = '/run/kukeon/kukeond.sock';

/** Resolves settings from flags, then the environment, then defaults. */
export function resolveSettings(flags: SettingFlags = {}, env: NodeJS.ProcessEnv = process.env): HostSettings {
  const runPath = flags.runPath ?? env[ENV.runPath] ?? '/opt/kukeon';
  const socket = flags.socket ?? env[ENV.socket] ?? DEFAULT_SOCKET;
  const ipMasqEnv = env[ENV.ipMasq];
  const engine = resolveEngineConfig({
    runPath,
    cgroupRoot: flags.cgroupRoot ?? env[ENV.cgroupRoot] ?? '/kukeon',
    ...(flags.namespaceSuffix ?? env[ENV.namespaceSuffix] ? { namespaceSuffix: flags.namespaceSuffix ?? env[ENV.namespaceSuffix]! } : {}),
    podSubnet: flags.podSubnet ?? env[ENV.podSubnet] ?? DEFAULT_POD_SUBNET,
    ipMasq: flags.ipMasq ?? (ipMasqEnv === undefined ? true : ipMasqEnv !== 'false'),
    ...optional('logMaxBytes', flags.logMaxSize ?? env[ENV.logMaxSize], (v) => parseByteSize(v, `--log-max-size (${ENV.logMaxSize})`)),
    ...optional('logMaxFiles', flags.logMaxFile ?? env[ENV.logMaxFile], (v) => parseCount(v, `--log-max-file (${ENV.logMaxFile})`)),
  });
  const containerdSocket = flags.containerdSocket ?? env[ENV.containerdSocket] ?? '/run/containerd/containerd.sock';
  // Both are unix sockets: a path longer than sun_path fails only when used, deep inside a command; say so first.
  validateSocketPath(socket, "kukeond's socket");
  validateSocketPath(containerdSocket, "containerd's socket");
  return {
    engine,
    socket,
    pidFile: join(socket.replace(/\/[^/]*$/, '') || '/', 'kukeond.pid'),
    containerdSocket,
    runcRoot: flags.runcRoot ?? (env[ENV.runcRoot] || undefined),
    cniBinDirs: flags.cniBinDir?.length ? flags.cniBinDir : (env[ENV.cniBinDirs]?.split(':').filter(Boolean) ?? ['/opt/cni/bin', '/usr/lib/cni']),
    logLevel: flags.logLevel ?? env[ENV.logLevel] ?? 'info',
    socketGroup: flags.socketGroup ?? env[ENV.socketGroup] ?? 'kukeon',
    adminGroup: flags.adminGroup ?? (env[ENV.adminGroup] || 'kukeon-admin'),
    viewGroup: flags.viewGroup ?? (env[ENV.viewGroup] || 'kukeon-view'),
    allowedBindPaths: allowedBindPaths(flags.allowBindPath ?? env[ENV.allowedBindPaths]?.split(':').filter(Boolean) ?? []),
    daemonLogFile: join(runPath, 'logs', 'kukeond.log'),
  };
}

/**
 * The bind allow-list as given: absolute paths, `/` refused (it would allow every host path, which is what the admin
 * group is for). InvalidArgument otherwise.
 */
function allowedBindPaths(paths: string[]): string[] {
  for (const path of paths) {
    if (!path.startsWith('/') || path.includes('\0')) {
      throw new KukeError(ErrorKind.InvalidArgument, `--allow-bind-path (${ENV.allowedBindPaths}) ${JSON.stringify(path)}: not an absolute path`, { hint: 'give host directories such as /srv/data' });
    }
    if (path.split('/').filter((p) => p && p !== '.').length === 0) {
      throw new KukeError(ErrorKind.InvalidArgument, `--allow-bind-path (${ENV.allowedBindPaths}) ${JSON.stringify(path)}: allows every host path`, { hint: 'give the directories operators may bind, such as /srv/data; binding anything is for root and group kukeon-admin' });
    }
  }
  return paths;
}

/** `{ [key]: parse(value) }` when a value is given (an empty environment variable counts as not given), else `{}`. */
function optional<K extends string, T>(key: K, value: string | undefined, parse: (v: string) => T): Partial<Record<K, T>> {
  return value === undefined || value === '' ? {} : ({ [key]: parse(value) } as Record<K, T>);
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/**
 * A size as Docker's `max-size` takes it: a whole number of bytes, or with a binary k/m/g suffix (case-insensitive,
 * `10m`, `512k`, `1GiB`). InvalidArgument naming `flag` (the flag and its environment twin) otherwise.
 *
 * @example
 * parseByteSize('10m', '--log-max-size') // 10485760
 */
export function parseByteSize(value: string, flag: string): number {
  const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(value);
  const unit = match ? BYTE_UNITS[match[2]!.toLowerCase()] : undefined;
  const bytes = match && unit !== undefined ? Number(match[1]) * unit : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new KukeError(ErrorKind.InvalidArgument, `${flag} ${JSON.stringify(value)}: not a size`, {
      hint: 'give a whole number of bytes ≥ 1, optionally with k, m or g (binary multiples), e.g. 10m',
    });
  }
  return bytes;
}

/** A whole number ≥ 1 (Docker's `max-file`). InvalidArgument naming `flag` otherwise. */
export function parseCount(value: string, flag: string): number {
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new KukeError(ErrorKind.InvalidArgument, `${flag} ${JSON.stringify(value)}: not a whole number ≥ 1`, {
      hint: 'give the number of log files kept per container, the live one included, e.g. 3',
    });
  }
  return n;
}
