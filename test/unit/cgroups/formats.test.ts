import { describe, expect, it } from 'vitest';
import { cpuMaxValue, parseControllers, parseFlatKeyed, parsePids, parseValue, sharesToWeight, usageFrom, workingSet } from '../../../src/runtime/cgroups/formats.js';

// Excerpts of real files from this host (v1, kernel 6.x) and from a v2 host.
const V1_MEMORY_STAT = `cache 8192
rss 1343488
rss_huge 0
inactive_file 4096
total_cache 1708032
total_rss 5251072
total_inactive_file 1662976
total_active_file 40960
hierarchical_memory_limit 67108864`;
const V2_CPU_STAT = `usage_usec 305112
user_usec 290101
system_usec 15011
nr_periods 0
nr_throttled 0
throttled_usec 0`;
const V2_MEMORY_STAT = `anon 4440064
file 1781760
kernel 430080
active_file 106496
inactive_file 1675264`;

describe('cgroupfs file formats', () => {
  it('parses flat-keyed files into numbers, max as Infinity, skipping odd lines', () => {
    const stat = parseFlatKeyed(`${V2_CPU_STAT}\nbroken line here\nlimit max\n`);
    expect(stat.get('usage_usec')).toBe(305112);
    expect(stat.get('throttled_usec')).toBe(0);
    expect(stat.get('limit')).toBe(Infinity);
    expect(stat.has('broken')).toBe(false);
  });

  it('parses single values, max, negative and garbage', () => {
    expect(parseValue('123456789\n')).toBe(123456789);
    expect(parseValue('max\n')).toBe(Infinity);
    expect(parseValue('-1\n')).toBe(-1);
    expect(parseValue('12k')).toBeUndefined();
    expect(parseValue(undefined)).toBeUndefined();
  });

  it('parses pid lists and controller lists', () => {
    expect(parsePids('12\n345\n\n')).toEqual([12, 345]);
    expect(parsePids('')).toEqual([]);
    expect(parseControllers('cpuset cpu io memory pids\n')).toEqual(['cpuset', 'cpu', 'io', 'memory', 'pids']);
    expect(parseControllers('\n')).toEqual([]);
  });

  it('converts cpu shares to v2 weights as runc 1.1 does', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(512)).toBe(20);
    expect(sharesToWeight(262144)).toBe(10000);
  });

  it('builds cpu.max keeping the part that is not given', () => {
    expect(cpuMaxValue(50000, 100000, 'max 100000')).toBe('50000 100000');
    expect(cpuMaxValue(50000, undefined, 'max 250000')).toBe('50000');
    expect(cpuMaxValue(undefined, 200000, '30000 100000\n')).toBe('30000 200000');
    expect(cpuMaxValue(undefined, 200000, undefined)).toBe('max 200000');
    expect(cpuMaxValue(-1, undefined, '30000 100000')).toBe('max');
    expect(cpuMaxValue(undefined, undefined, '30000 100000')).toBeUndefined();
  });
});

describe('usage figures', () => {
  it('reads v1 CPU from cpuacct.usage and memory as the working set', () => {
    const usage = usageFrom({
      cpu: { version: 1, cpuacctUsage: '412345678\n' },
      memory: { version: 1, current: '7000064\n', peak: '9000000\n', stat: V1_MEMORY_STAT },
      pidsCurrent: '3\n',
    });
    expect(usage).toEqual({ cpuNanos: 412345678, memoryBytes: 7000064 - 1662976, memoryPeakBytes: 9000000, pids: 3 });
  });

  it('reads v2 CPU from usage_usec in nanoseconds and memory as the working set', () => {
    const usage = usageFrom({
      cpu: { version: 2, cpuStat: V2_CPU_STAT },
      memory: { version: 2, current: '6651904\n', peak: '8000000\n', stat: V2_MEMORY_STAT },
      pidsCurrent: '2\n',
    });
    expect(usage).toEqual({ cpuNanos: 305112000, memoryBytes: 6651904 - 1675264, memoryPeakBytes: 8000000, pids: 2 });
  });

  it('leaves out peak and pids when the kernel has no such file', () => {
    const usage = usageFrom({ cpu: { version: 2, cpuStat: V2_CPU_STAT }, memory: { version: 2, current: '4096', stat: '' } });
    expect(usage).toEqual({ cpuNanos: 305112000, memoryBytes: 4096 });
  });

  it('reports zeros when no controller is mounted', () => {
    expect(usageFrom({})).toEqual({ cpuNanos: 0, memoryBytes: 0 });
  });

  it('never reports a negative working set when the charge lags the stat', () => {
    expect(workingSet(4096, 8192)).toBe(0);
    expect(workingSet(8192, undefined)).toBe(8192);
  });
});
