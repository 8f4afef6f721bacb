/**
 * The file formats of cgroupfs, parsed and computed without touching the filesystem: flat-keyed files
 * (`memory.stat`, `cpu.stat`), single values (`cpuacct.usage`, `memory.current`, `pids.max` = `max`), pid lists
 * (`cgroup.procs`), controller lists, and what a usage figure is made of on v1 and on v2.
 */
import type { CgroupUsage } from '../ports.js';

/** Parses a flat-keyed file (`key value` per line, e.g. memory.stat, cpu.stat) into numbers; `max` is Infinity. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value, extra] = line.trim().split(/\s+/);
    if (!key || value === undefined || extra !== undefined) continue;
    const n = parseValue(value);
    if (n !== undefined) out.set(key, n);
  }
  return out;
}

/** Parses a single-value file (`123\n`, `max`); undefined for anything else. */
export function parseValue(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === 'max') return Infinity;
  if (!/^-?\d+$/.test(t)) return undefined;
  return Number(t);
}

/** Parses `cgroup.procs` / `tasks`: one pid per line. */
export function parsePids(text: string | undefined): number[] {
  if (!text) return [];
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

/** Parses `cgroup.controllers` / `cgroup.subtree_control`: space-separated names. */
export function parseControllers(text: string | undefined): string[] {
  return (text ?? '').split(/\s+/).filter(Boolean);
}

/**
 * cgroup v2 `cpu.weight` for a v1 `cpu.shares` value, the way runc 1.1 converts it (linear map of [2, 262144] onto
 * [1, 10000]; 1024 → 39). Newer runc (1.3+) uses a log-scale map (1024 → 100); the installed runc is 1.1.
 */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/**
 * The new content of v2 `cpu.max` (`$MAX $PERIOD`). Only the given parts change: a quota alone keeps the period the
 * kernel has (as runc writes it), a period alone keeps the quota in `current` (hand-set or earlier), never clearing
 * it. A quota of -1 means no quota (`max`).
 */
export function cpuMaxValue(quotaUs: number | undefined, periodUs: number | undefined, current: string | undefined): string | undefined {
  if (quotaUs === undefined && periodUs === undefined) return undefined;
  const quota = quotaUs === undefined ? ((current ?? '').trim().split(/\s+/)[0] || 'max') : quotaUs < 0 ? 'max' : String(quotaUs);
  return periodUs === undefined ? quota : `${quota} ${periodUs}`;
}

/**
 * Raw contents of the files a usage figure is made of, each tagged with the cgroup version of the hierarchy it was
 * read from (on a hybrid host a controller may live on either). A missing part means that controller is not mounted.
 */
export interface UsageFiles {
  /** v1: `cpuacct.usage` (ns, whole subtree). v2: `cpu.stat` (`usage_usec`, present even without the cpu controller). */
  cpu?: { version: 1; cpuacctUsage?: string } | { version: 2; cpuStat?: string };
  /**
   * v1: `memory.usage_in_bytes`, `memory.max_usage_in_bytes`, `memory.stat` (hierarchical `total_*` keys).
   * v2: `memory.current`, `memory.peak` (kernel 5.19+), `memory.stat`.
   */
  memory?: { version: 1 | 2; current?: string; peak?: string; stat?: string };
  /** `pids.current`: tasks (threads) in the subtree; same name on v1 and v2. */
  pidsCurrent?: string;
}

/**
 * The working set: charged memory minus the inactive page cache the kernel can drop without a fight (what kubelet
 * and `docker stats` report). Clamped at 0 because the charge is batched per CPU and can lag behind the stat.
 */
export function workingSet(charged: number, inactiveFile: number | undefined): number {
  return Math.max(0, charged - (inactiveFile ?? 0));
}

function finite(n: number | undefined): number | undefined {
  return n === undefined || !Number.isFinite(n) ? undefined : n;
}

/**
 * A usage figure from raw files. CPU: v1 `cpuacct.usage`, v2 `usage_usec` × 1000. Memory: the working set (charge
 * minus inactive file cache: v1 `total_inactive_file`, v2 `inactive_file`). Peak: the raw high-water mark of the
 * charge (cache included), so peak ≥ current always holds. Pids: `pids.current` when the controller is there.
 */
export function usageFrom(files: UsageFiles): CgroupUsage {
  let cpuNanos = 0;
  if (files.cpu?.version === 1) cpuNanos = finite(parseValue(files.cpu.cpuacctUsage)) ?? 0;
  else if (files.cpu?.version === 2) cpuNanos = (parseFlatKeyed(files.cpu.cpuStat ?? '').get('usage_usec') ?? 0) * 1000;
  let memoryBytes = 0;
  let peak: number | undefined;
  if (files.memory) {
    const stat = parseFlatKeyed(files.memory.stat ?? '');
    const inactive = stat.get(files.memory.version === 1 ? 'total_inactive_file' : 'inactive_file');
    memoryBytes = workingSet(finite(parseValue(files.memory.current)) ?? 0, inactive);
    peak = finite(parseValue(files.memory.peak));
  }
  const pids = finite(parseValue(files.pidsCurrent));
  return {
    cpuNanos,
    memoryBytes,
    ...(peak !== undefined ? { memoryPeakBytes: peak } : {}),
    ...(pids !== undefined ? { pids } : {}),
  };
}
