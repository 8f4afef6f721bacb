/**
 * Resource limits → knob writes, for the cgroup version of the hierarchy that carries each controller. Pure: the
 * manager decides where the files are and writes them. Only the limits that are given produce writes, so knobs set
 * by hand (or by an earlier call) are never cleared.
 *
 * | limit            | v1 knob                           | v2 knob                                    |
 * |------------------|-----------------------------------|--------------------------------------------|
 * | memoryBytes      | memory.limit_in_bytes             | memory.max                                 |
 * | cpuShares        | cpu.shares                        | cpu.weight (runc 1.1's conversion)         |
 * | cpuQuotaUs/Period| cpu.cfs_period_us, cpu.cfs_quota_us | cpu.max (`$QUOTA $PERIOD`)               |
 * | pidsMax          | pids.max                          | pids.max                                   |
 *
 * `-1` means "no limit" for memoryBytes, cpuQuotaUs and pidsMax (v1 `-1`/`max`, v2 `max`).
 */
import { ErrorKind, KukeError } from '../../errors.js';
import type { ResourceLimits } from '../ports.js';
import { cpuMaxValue, sharesToWeight } from './formats.js';

/** The controllers limits are written to. */
export type LimitController = 'memory' | 'cpu' | 'pids';

/** One knob to write. */
export interface KnobWrite {
  controller: LimitController;
  /** File name inside the cgroup directory, e.g. `memory.max`. */
  file: string;
  value: string;
}

function isInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n);
}

/** Why `limits` cannot be applied, or undefined if they are fine. Checked before any write. */
export function limitsProblem(limits: ResourceLimits): string | undefined {
  const { memoryBytes, cpuShares, cpuQuotaUs, cpuPeriodUs, pidsMax } = limits;
  if (memoryBytes !== undefined && !(isInt(memoryBytes) && (memoryBytes > 0 || memoryBytes === -1))) return `memoryBytes ${memoryBytes} is not a positive integer (or -1 for no limit)`;
  if (cpuShares !== undefined && !(isInt(cpuShares) && cpuShares >= 2 && cpuShares <= 262144)) return `cpuShares ${cpuShares} is outside 2–262144`;
  if (cpuQuotaUs !== undefined && !(isInt(cpuQuotaUs) && (cpuQuotaUs >= 1000 || cpuQuotaUs === -1))) return `cpuQuotaUs ${cpuQuotaUs} is below the kernel's 1000 µs minimum (use -1 for no quota)`;
  if (cpuPeriodUs !== undefined && !(isInt(cpuPeriodUs) && cpuPeriodUs >= 1000 && cpuPeriodUs <= 1_000_000)) return `cpuPeriodUs ${cpuPeriodUs} is outside 1000–1000000 µs`;
  if (pidsMax !== undefined && !(isInt(pidsMax) && (pidsMax > 0 || pidsMax === -1))) return `pidsMax ${pidsMax} is not a positive integer (or -1 for no limit)`;
  return undefined;
}

/** Throws InvalidArgument when {@link limitsProblem} finds one. */
export function validateLimits(limits: ResourceLimits, path: string): void {
  const problem = limitsProblem(limits);
  if (problem !== undefined) {
    throw new KukeError(ErrorKind.InvalidArgument, `cannot apply limits to cgroup ${path}: ${problem}`, { hint: 'fix the resource limits in the spec' });
  }
}

/** The controllers a set of limits needs. */
export function controllersFor(limits: ResourceLimits): LimitController[] {
  const out: LimitController[] = [];
  if (limits.memoryBytes !== undefined) out.push('memory');
  if (limits.cpuShares !== undefined || limits.cpuQuotaUs !== undefined || limits.cpuPeriodUs !== undefined) out.push('cpu');
  if (limits.pidsMax !== undefined) out.push('pids');
  return out;
}

/**
 * The writes for `limits`, given the cgroup version that carries each controller. `currentCpuMax` is the present
 * content of v2 `cpu.max`, needed only when a period is given without a quota (the quota is kept).
 *
 * v1 writes the CFS period before the quota (the order runc uses); the manager retries the pair the other way round
 * if the kernel refuses the intermediate ratio (EINVAL).
 *
 * @example
 * limitWrites({ memoryBytes: 1 << 30, cpuShares: 1024 }, () => 2)
 * // [{ controller: 'memory', file: 'memory.max', value: '1073741824' }, { controller: 'cpu', file: 'cpu.weight', value: '39' }]
 */
export function limitWrites(limits: ResourceLimits, versionOf: (controller: LimitController) => 1 | 2, currentCpuMax?: string): KnobWrite[] {
  const writes: KnobWrite[] = [];
  const { memoryBytes, cpuShares, cpuQuotaUs, cpuPeriodUs, pidsMax } = limits;
  if (memoryBytes !== undefined) {
    const v1 = versionOf('memory') === 1;
    writes.push({ controller: 'memory', file: v1 ? 'memory.limit_in_bytes' : 'memory.max', value: memoryBytes === -1 ? (v1 ? '-1' : 'max') : String(memoryBytes) });
  }
  if (versionOf('cpu') === 1) {
    if (cpuShares !== undefined) writes.push({ controller: 'cpu', file: 'cpu.shares', value: String(cpuShares) });
    if (cpuPeriodUs !== undefined) writes.push({ controller: 'cpu', file: 'cpu.cfs_period_us', value: String(cpuPeriodUs) });
    if (cpuQuotaUs !== undefined) writes.push({ controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(cpuQuotaUs) });
  } else {
    if (cpuShares !== undefined) writes.push({ controller: 'cpu', file: 'cpu.weight', value: String(sharesToWeight(cpuShares)) });
    const max = cpuMaxValue(cpuQuotaUs, cpuPeriodUs, currentCpuMax);
    if (max !== undefined) writes.push({ controller: 'cpu', file: 'cpu.max', value: max });
  }
  if (pidsMax !== undefined) writes.push({ controller: 'pids', file: 'pids.max', value: pidsMax === -1 ? 'max' : String(pidsMax) });
  return writes;
}
