import { describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { controllersFor, limitsProblem, limitWrites, validateLimits } from '../../../src/runtime/cgroups/limits.js';
import { thrown } from '../../support/thrown.js';

describe('limits to knob writes', () => {
  const limits = { memoryBytes: 64 << 20, cpuShares: 512, cpuQuotaUs: 50000, cpuPeriodUs: 100000, pidsMax: 50 };

  it('writes the v1 knobs, the CFS period before the quota', () => {
    expect(limitWrites(limits, () => 1).map((w) => [w.file, w.value])).toEqual([
      ['memory.limit_in_bytes', String(64 << 20)],
      ['cpu.shares', '512'],
      ['cpu.cfs_period_us', '100000'],
      ['cpu.cfs_quota_us', '50000'],
      ['pids.max', '50'],
    ]);
  });

  it('writes the v2 knobs with the weight converted from shares', () => {
    expect(limitWrites(limits, () => 2).map((w) => [w.file, w.value])).toEqual([
      ['memory.max', String(64 << 20)],
      ['cpu.weight', '20'],
      ['cpu.max', '50000 100000'],
      ['pids.max', '50'],
    ]);
  });

  it('uses each controller\'s own dialect when they live on different versions', () => {
    const writes = limitWrites({ memoryBytes: 4096, pidsMax: 7 }, (c) => (c === 'memory' ? 1 : 2));
    expect(writes.map((w) => w.file)).toEqual(['memory.limit_in_bytes', 'pids.max']);
  });

  it('writes nothing for limits that are not given, so hand-set knobs stay', () => {
    expect(limitWrites({}, () => 1)).toEqual([]);
    expect(limitWrites({ pidsMax: 9 }, () => 2)).toEqual([{ controller: 'pids', file: 'pids.max', value: '9' }]);
    expect(controllersFor({ cpuPeriodUs: 100000 })).toEqual(['cpu']);
  });

  it('maps -1 to no limit', () => {
    expect(limitWrites({ memoryBytes: -1, cpuQuotaUs: -1, pidsMax: -1 }, () => 1).map((w) => w.value)).toEqual(['-1', '-1', 'max']);
    expect(limitWrites({ memoryBytes: -1, cpuQuotaUs: -1, pidsMax: -1 }, () => 2).map((w) => w.value)).toEqual(['max', 'max', 'max']);
  });

  it.each([{ memoryBytes: 0 }, { memoryBytes: 1.5 }, { cpuShares: 1 }, { cpuShares: 300000 }, { cpuQuotaUs: 999 }, { cpuPeriodUs: 2_000_000 }, { pidsMax: 0 }, { pidsMax: Number.NaN }])(
    'refuses %j before writing anything',
    (bad) => {
      expect(limitsProblem(bad)).toBeDefined();
      expect(isKukeError(thrown(() => validateLimits(bad, '/kukeon/x')), 'InvalidArgument')).toBe(true);
    },
  );
});
