/**
 * Engine settings. Every path is overridable so tests and benchmarks run fully isolated.
 */
import { join } from 'node:path';
import { ErrorKind, KukeError } from '../errors.js';
import { NAMESPACE_SUFFIX, namespaceSuffixProblem, normalizeCgroupRoot, runPathProblem } from '../model/names.js';

/** Settings of the engine (all required once resolved; see {@link resolveEngineConfig} for defaults). */
export interface EngineConfig {
  /** Persistent run path (default /opt/kukeon): event log, read model, container logs, CNI state. */
  runPath: string;
  /** cgroup root (default /kukeon). */
  cgroupRoot: string;
  /** Suffix of realms' containerd namespaces (default kukeon.io). */
  namespaceSuffix: string;
  /** Parent CIDR from which each space gets the first free /24 (default 10.88.0.0/16). */
  podSubnet: string;
  /** Masquerade traffic leaving space subnets (needs iptables). */
  ipMasq: boolean;
  /** Grace period of `stop` before SIGKILL. */
  stopGraceMs: number;
  /** How long a cell may take to start (all containers running) before it is Failed. */
  cellStartTimeoutMs: number;
  /** Write a checkpoint (snapshots of every aggregate) after this many events. */
  checkpointEvery: number;
  /** A container's live log is rotated once it holds this many bytes (Docker's `max-size`; default 10 MiB). */
  logMaxBytes: number;
  /** Log files kept per container, the live one included (Docker's `max-file`; default 3). */
  logMaxFiles: number;
}

/** Default {@link EngineConfig.logMaxBytes}: 10 MiB. */
export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
/** Default {@link EngineConfig.logMaxFiles}. */
export const DEFAULT_LOG_MAX_FILES = 3;

/**
 * Defaults for everything but what is given. The run path and namespace suffix are checked here, once, because every
 * path and namespace is derived from them: InvalidArgument if some would exceed the limits of the kernel or containerd.
 */
export function resolveEngineConfig(partial: Partial<EngineConfig> = {}): EngineConfig {
  const runPath = partial.runPath ?? '/opt/kukeon';
  const runPathIssue = runPathProblem(runPath);
  if (runPathIssue !== undefined) {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid run path ${JSON.stringify(runPath.slice(0, 60))}: ${runPathIssue}`, { hint: 'use a short absolute path (--run-path), e.g. /opt/kukeon' });
  }
  const namespaceSuffix = partial.namespaceSuffix ?? NAMESPACE_SUFFIX;
  const suffixIssue = namespaceSuffixProblem(namespaceSuffix);
  if (suffixIssue !== undefined) {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid namespace suffix ${JSON.stringify(namespaceSuffix)}: it ${suffixIssue}`, {
      hint: `use letters and digits joined by single ".", "_" or "-" (--namespace-suffix), e.g. ${NAMESPACE_SUFFIX}`,
    });
  }
  return {
    runPath,
    cgroupRoot: normalizeCgroupRoot(partial.cgroupRoot ?? '/kukeon'),
    namespaceSuffix,
    podSubnet: partial.podSubnet ?? '10.88.0.0/16',
    ipMasq: partial.ipMasq ?? true,
    stopGraceMs: partial.stopGraceMs ?? 10_000,
    cellStartTimeoutMs: partial.cellStartTimeoutMs ?? 120_000,
    checkpointEvery: partial.checkpointEvery ?? 10_000,
    logMaxBytes: partial.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES,
    logMaxFiles: partial.logMaxFiles ?? DEFAULT_LOG_MAX_FILES,
  };
}

/** Where things live under the run path. */
export function runLayout(runPath: string) {
  return {
    eventLog: join(runPath, 'events'),
    readModel: join(runPath, 'model'),
    logs: join(runPath, 'logs'),
    cniConf: join(runPath, 'cni', 'net.d'),
    cniIpam: join(runPath, 'cni', 'ipam'),
    cniCache: join(runPath, 'cni', 'cache'),
    images: join(runPath, 'images'),
  };
}
