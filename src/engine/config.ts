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
  /** Parent CIDR from which each space gets the first free /24 (default {@link DEFAULT_POD_SUBNET}). */
  podSubnet: string;
  /** Masquerade traffic leaving space subnets (needs iptables). */
  ipMasq: boolean;
  /** Grace period of `stop` before SIGKILL. */
  stopGraceMs: number;
  /** How long a cell may take to start (all containers running) before it is Failed. */
  cellStartTimeoutMs: number;
  /**
   * How long a start, its containers up, watches the root before it reports the cell Ready (default 250 ms): a root
   * that exits within it (a one-shot job, `--arg true`) ends the start as Exited with its code, and the caller is told
   * so. A root that exits later winds its cell down to Exited all the same.
   */
  startSettleMs: number;
  /** Write a checkpoint (snapshots of every aggregate) after this many events. */
  checkpointEvery: number;
  /** A container's live log is rotated once it holds this many bytes (Docker's `max-size`; default 10 MiB). */
  logMaxBytes: number;
  /** Log files kept per container, the live one included (Docker's `max-file`; default 3). */
  logMaxFiles: number;
  /**
   * How long a container restarted by its policy must run (and at least its backoff) before its row of restarts ends
   * and its cell is Ready again rather than Degraded (default {@link DEFAULT_RESTART_STABLE_MS}; tests shorten it).
   */
  restartStableMs: number;
}

/**
 * Default {@link EngineConfig.podSubnet}: a range no common neighbour takes by default, so that a space's bridge and
 * theirs never route the same addresses. Taken by others: Podman's default network 10.88.0.0/16 (kukeon's default
 * until issue 10: after a `podman run` the host's route to 10.88.0.0/24 went to one bridge and both lost traffic)
 * and its user networks from 10.89.0.0/16 upwards (through 10.255), containerd's and CRI's example 10.88.0.0/16,
 * Docker's bridges 172.17–31.0.0/16 and 192.168.0.0/16, k3s 10.42/10.43, flannel 10.244, kubeadm services
 * 10.96.0.0/12, Weave 10.32.0.0/12, nerdctl 10.4.0.0/24, libvirt 192.168.122.0/24. 10.86.0.0/16 is none of them.
 * Ranges the host routes or holds anyway are skipped per /24 when a space is created (src/engine/subnets.ts).
 */
export const DEFAULT_POD_SUBNET = '10.86.0.0/16';

/**
 * Default {@link EngineConfig.startSettleMs}. On the 2-core test VM the exit of a `sh -c 'exit 3'` root is recorded
 * 9–25 ms after its start; the rest is margin for a loaded host.
 */
export const DEFAULT_START_SETTLE_MS = 250;
/** Default {@link EngineConfig.restartStableMs}: the original's 10 s. */
export const DEFAULT_RESTART_STABLE_MS = 10_000;
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
    podSubnet: partial.podSubnet ?? DEFAULT_POD_SUBNET,
    ipMasq: partial.ipMasq ?? true,
    stopGraceMs: partial.stopGraceMs ?? 10_000,
    cellStartTimeoutMs: partial.cellStartTimeoutMs ?? 120_000,
    startSettleMs: partial.startSettleMs ?? DEFAULT_START_SETTLE_MS,
    checkpointEvery: partial.checkpointEvery ?? 10_000,
    logMaxBytes: partial.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES,
    logMaxFiles: partial.logMaxFiles ?? DEFAULT_LOG_MAX_FILES,
    restartStableMs: partial.restartStableMs ?? DEFAULT_RESTART_STABLE_MS,
  };
}

/** Where things live under the run path. */
export function runLayout(runPath: string) {
  return {
    eventLog: join(runPath, 'events'),
    readModel: join(runPath, 'model'),
    logs: join(runPath, 'logs'),
    cellEtc: join(runPath, 'etc'),
    cniConf: join(runPath, 'cni', 'net.d'),
    cniIpam: join(runPath, 'cni', 'ipam'),
    cniCache: join(runPath, 'cni', 'cache'),
    images: join(runPath, 'images'),
    /** FIFOs of exec'd processes, one directory each (src/runtime/containerd/fifo-io.ts). */
    execIo: join(runPath, 'io', 'exec'),
    /** Secrets' values, root-only (src/runtime/secrets/store.ts). */
    secrets: join(runPath, 'secrets'),
  };
}
