/**
 * The manager over a fake cgroupfs (a temp dir mimicking /sys/fs/cgroup, see fake-cgroupfs.ts), for the three host
 * layouts. The real cgroupfs is exercised in test/integration/cgroups.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { createCgroups, type CgroupFs } from '../../../src/runtime/cgroups/cgroupfs.js';
import { fakeCgroupfs, HYBRID_MOUNTINFO, LEGACY_MOUNTINFO, subtreeControl, V2_MOUNTINFO, type FakeCgroupfs } from './fake-cgroupfs.js';
import { kindOf } from '../../support/thrown.js';

const PATH = '/kukeon/r/s/t/c';
const HYBRID_MOUNTS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified'].map((m) => `/sys/fs/cgroup/${m}`);

let fakes: FakeCgroupfs[] = [];
const cleanups: string[] = [];
afterEach(() => {
  for (const f of fakes) f.cleanup();
  for (const d of cleanups) rmSync(d, { recursive: true, force: true });
  fakes = [];
  cleanups.length = 0;
});

async function managerOver(mountinfo: string, v2Offers?: string[]): Promise<{ fake: FakeCgroupfs; cg: CgroupFs }> {
  const fake = fakeCgroupfs(mountinfo, v2Offers);
  fakes.push(fake);
  const cg = await createCgroups({ mountinfo, mountRoot: fake.root, directoryOps: fake.ops });
  return { fake, cg };
}

const read = (file: string) => readFileSync(file, 'utf8').trim();

describe('cgroup manager on a hybrid host', () => {
  it('creates the path in every hierarchy, the unified mirror included', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO, ['hugetlb']);
    expect(cg.mode).toBe('v1');
    expect(await cg.ensure(PATH)).toEqual({ created: true });
    for (const m of HYBRID_MOUNTS) expect(existsSync(fake.dir(m, PATH)), m).toBe(true);
    expect(await cg.exists(PATH)).toBe(true);
    expect(await cg.children('/kukeon/r/s')).toEqual(['t']);
  });

  it('copies cpuset.cpus and cpuset.mems down every new level so tasks can join', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure(PATH);
    for (const p of ['/kukeon', '/kukeon/r/s', PATH]) {
      expect(read(fake.dir('/sys/fs/cgroup/cpuset', `${p}/cpuset.cpus`))).toBe('0-3');
      expect(read(fake.dir('/sys/fs/cgroup/cpuset', `${p}/cpuset.mems`))).toBe('0');
    }
  });

  it('repairs a level whose cpuset was left empty by an interrupted call', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure(PATH);
    writeFileSync(fake.dir('/sys/fs/cgroup/cpuset', '/kukeon/r/cpuset.cpus'), '\n');
    expect(await cg.ensure(PATH)).toEqual({ created: false });
    expect(read(fake.dir('/sys/fs/cgroup/cpuset', '/kukeon/r/cpuset.cpus'))).toBe('0-3');
  });

  it('writes limits in the v1 dialect and reports created only the first time', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    expect(await cg.ensure(PATH, { memoryBytes: 64 << 20, cpuShares: 512, cpuQuotaUs: 50000, cpuPeriodUs: 200000, pidsMax: 40 })).toEqual({ created: true });
    expect(read(fake.dir('/sys/fs/cgroup/memory', `${PATH}/memory.limit_in_bytes`))).toBe(String(64 << 20));
    expect(read(fake.dir('/sys/fs/cgroup/cpu', `${PATH}/cpu.shares`))).toBe('512');
    expect(read(fake.dir('/sys/fs/cgroup/cpu', `${PATH}/cpu.cfs_quota_us`))).toBe('50000');
    expect(read(fake.dir('/sys/fs/cgroup/cpu', `${PATH}/cpu.cfs_period_us`))).toBe('200000');
    expect(read(fake.dir('/sys/fs/cgroup/pids', `${PATH}/pids.max`))).toBe('40');
    expect(await cg.ensure(PATH, { pidsMax: 41 })).toEqual({ created: false });
    expect(read(fake.dir('/sys/fs/cgroup/pids', `${PATH}/pids.max`))).toBe('41');
  });

  it('keeps hand-set knobs when called again without limits', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure(PATH);
    writeFileSync(fake.dir('/sys/fs/cgroup/memory', `${PATH}/memory.limit_in_bytes`), '1048576\n');
    writeFileSync(fake.dir('/sys/fs/cgroup/cpu', `${PATH}/cpu.shares`), '99\n');
    await cg.ensure(PATH);
    await cg.ensure(PATH, { pidsMax: 5 });
    expect(read(fake.dir('/sys/fs/cgroup/memory', `${PATH}/memory.limit_in_bytes`))).toBe('1048576');
    expect(read(fake.dir('/sys/fs/cgroup/cpu', `${PATH}/cpu.shares`))).toBe('99');
  });

  it('refuses invalid limits before creating anything', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    expect(await kindOf(cg.ensure(PATH, { cpuShares: 1 }))).toBe('InvalidArgument');
    expect(existsSync(fake.dir('/sys/fs/cgroup/memory', '/kukeon'))).toBe(false);
  });

  it('reads usage from cpuacct, memory and pids of the subtree', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure(PATH);
    writeFileSync(fake.dir('/sys/fs/cgroup/cpuacct', `${PATH}/cpuacct.usage`), '250000000\n');
    writeFileSync(fake.dir('/sys/fs/cgroup/memory', `${PATH}/memory.usage_in_bytes`), '10000000\n');
    writeFileSync(fake.dir('/sys/fs/cgroup/memory', `${PATH}/memory.max_usage_in_bytes`), '12000000\n');
    writeFileSync(fake.dir('/sys/fs/cgroup/memory', `${PATH}/memory.stat`), 'cache 4000000\ntotal_inactive_file 3000000\n');
    writeFileSync(fake.dir('/sys/fs/cgroup/pids', `${PATH}/pids.current`), '4\n');
    expect(await cg.usage(PATH)).toEqual({ cpuNanos: 250000000, memoryBytes: 7000000, memoryPeakBytes: 12000000, pids: 4 });
  });

  it('reports NotFound for the usage of a missing cgroup, and false, [] and [] for the other reads', async () => {
    const { cg } = await managerOver(HYBRID_MOUNTINFO);
    expect(await kindOf(cg.usage('/kukeon/nope'))).toBe('NotFound');
    expect(await cg.exists('/kukeon/nope')).toBe(false);
    expect(await cg.children('/kukeon/nope')).toEqual([]);
    expect(await cg.pids('/kukeon/nope', { recursive: true })).toEqual([]);
  });

  it('does not count a path present in only some hierarchies as existing, and ensure completes it', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure(PATH);
    fake.ops.rmdir(fake.dir('/sys/fs/cgroup/freezer', PATH));
    expect(await cg.exists(PATH)).toBe(false);
    expect(await cg.ensure(PATH)).toEqual({ created: true });
    expect(await cg.exists(PATH)).toBe(true);
  });

  it('lists pids from every hierarchy, recursively when asked', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure(PATH);
    writeFileSync(fake.dir('/sys/fs/cgroup/memory', `${PATH}/cgroup.procs`), '300\n100\n');
    writeFileSync(fake.dir('/sys/fs/cgroup/pids', `${PATH}/cgroup.procs`), '100\n');
    writeFileSync(fake.dir('/sys/fs/cgroup/systemd', '/kukeon/r/cgroup.procs'), '7\n');
    expect(await cg.pids(PATH)).toEqual([100, 300]);
    expect(await cg.pids('/kukeon/r')).toEqual([7]);
    expect(await cg.pids('/kukeon', { recursive: true })).toEqual([7, 100, 300]);
    expect(await cg.pids('/kukeon')).toEqual([]);
  });

  it('refuses to remove a subtree with a process in any hierarchy and removes nothing', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure(PATH);
    writeFileSync(fake.dir('/sys/fs/cgroup/freezer', `${PATH}/cgroup.procs`), '4242\n');
    const err = await cg.remove('/kukeon/r').catch((e: unknown) => e);
    expect(isKukeError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toMatch(/is busy: 1 process\(es\) remain \(pids 4242\)/);
    for (const m of HYBRID_MOUNTS) expect(existsSync(fake.dir(m, PATH)), m).toBe(true);
  });

  it('removes the subtree bottom-up in every hierarchy and keeps the parent', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure(PATH);
    await cg.ensure('/kukeon/r/s2');
    await cg.remove('/kukeon/r');
    for (const m of HYBRID_MOUNTS) {
      expect(existsSync(fake.dir(m, '/kukeon/r')), m).toBe(false);
      expect(existsSync(fake.dir(m, '/kukeon')), m).toBe(true);
    }
    await expect(cg.remove('/kukeon/r')).resolves.toBeUndefined();
  });

  it('retries a removal the kernel briefly refuses as busy (a task that has just exited)', async () => {
    const fake = fakeCgroupfs(HYBRID_MOUNTINFO);
    fakes.push(fake);
    const refusals = new Map<string, number>();
    const ops = {
      mkdir: fake.ops.mkdir,
      rmdir: (dir: string) => {
        const n = refusals.get(dir) ?? 0;
        if (dir.endsWith('/kukeon/r') && n < 2) {
          refusals.set(dir, n + 1);
          throw Object.assign(new Error(`EBUSY: ${dir}`), { code: 'EBUSY' });
        }
        fake.ops.rmdir(dir);
      },
    };
    const cg = await createCgroups({ mountinfo: HYBRID_MOUNTINFO, mountRoot: fake.root, directoryOps: ops });
    await cg.ensure(PATH);
    await cg.remove('/kukeon/r');
    expect(await cg.exists('/kukeon/r')).toBe(false);
    expect([...refusals.values()].every((n) => n === 2)).toBe(true);
  });

  it('gives up on a group that stays busy, with FailedPrecondition', async () => {
    const fake = fakeCgroupfs(HYBRID_MOUNTINFO);
    fakes.push(fake);
    const ops = {
      mkdir: fake.ops.mkdir,
      rmdir: (dir: string) => {
        if (dir.includes('/memory/')) throw Object.assign(new Error(`EBUSY: ${dir}`), { code: 'EBUSY' });
        fake.ops.rmdir(dir);
      },
    };
    const cg = await createCgroups({ mountinfo: HYBRID_MOUNTINFO, mountRoot: fake.root, directoryOps: ops });
    await cg.ensure('/kukeon/r');
    expect(await kindOf(cg.remove('/kukeon/r'))).toBe('FailedPrecondition');
  });

  it('moves a process into every hierarchy and needs the group to exist', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure(PATH);
    await cg.addProcess(PATH, 321);
    for (const m of HYBRID_MOUNTS) expect(read(fake.dir(m, `${PATH}/cgroup.procs`)), m).toBe('321');
    expect(await kindOf(cg.addProcess('/kukeon/none', 321))).toBe('NotFound');
    expect(await kindOf(cg.addProcess(PATH, -1))).toBe('InvalidArgument');
  });
});

describe('cgroup manager on a legacy v1 host', () => {
  it('writes cpu and cpuacct knobs into the one co-mounted hierarchy and reads CPU from it', async () => {
    const { fake, cg } = await managerOver(LEGACY_MOUNTINFO);
    expect(cg.mode).toBe('v1');
    await cg.ensure(PATH, { cpuShares: 256 });
    const dir = fake.dir('/sys/fs/cgroup/cpu,cpuacct', PATH);
    expect(read(join(dir, 'cpu.shares'))).toBe('256');
    writeFileSync(join(dir, 'cpuacct.usage'), '77\n');
    expect((await cg.usage(PATH)).cpuNanos).toBe(77);
    expect(existsSync(fake.dir('/sys/fs/cgroup/net_cls,net_prio', PATH))).toBe(true);
  });
});

describe('cgroup manager on a unified v2 host', () => {
  it('delegates cpu, memory, pids and io down to the parent of the path, never on the root', async () => {
    const { fake, cg } = await managerOver(V2_MOUNTINFO);
    expect(cg.mode).toBe('v2');
    const rootControl = read(fake.dir('/sys/fs/cgroup', 'cgroup.subtree_control'));
    await cg.ensure(PATH);
    expect(read(fake.dir('/sys/fs/cgroup', 'cgroup.subtree_control'))).toBe(rootControl);
    for (const p of ['/kukeon', '/kukeon/r', '/kukeon/r/s', '/kukeon/r/s/t']) {
      expect(subtreeControl(fake.dir('/sys/fs/cgroup', p)).sort(), p).toEqual(['cpu', 'io', 'memory', 'pids']);
    }
    // The path itself delegates nothing, so it can still hold processes (no-internal-process rule).
    expect(subtreeControl(fake.dir('/sys/fs/cgroup', PATH))).toEqual([]);
    expect(read(fake.dir('/sys/fs/cgroup', `${PATH}/cgroup.controllers`)).split(' ').sort()).toEqual(['cpu', 'io', 'memory', 'pids']);
  });

  it('delegates only what the host offers', async () => {
    const { fake, cg } = await managerOver(V2_MOUNTINFO, ['cpu', 'memory']);
    await cg.ensure(PATH);
    expect(subtreeControl(fake.dir('/sys/fs/cgroup', '/kukeon/r')).sort()).toEqual(['cpu', 'memory']);
    // No pids controller: a pids limit cannot be honoured, and says so.
    expect(await kindOf(cg.ensure(PATH, { pidsMax: 10 }))).toBe('FailedPrecondition');
  });

  it('writes limits in the v2 dialect and keeps a hand-set quota when only the period changes', async () => {
    const { fake, cg } = await managerOver(V2_MOUNTINFO);
    await cg.ensure(PATH, { memoryBytes: 64 << 20, cpuShares: 1024, cpuQuotaUs: 50000, pidsMax: 40 });
    const dir = fake.dir('/sys/fs/cgroup', PATH);
    expect(read(join(dir, 'memory.max'))).toBe(String(64 << 20));
    expect(read(join(dir, 'cpu.weight'))).toBe('39');
    expect(read(join(dir, 'cpu.max'))).toBe('50000');
    expect(read(join(dir, 'pids.max'))).toBe('40');
    writeFileSync(join(dir, 'cpu.max'), '30000 100000\n');
    await cg.ensure(PATH, { cpuPeriodUs: 200000 });
    expect(read(join(dir, 'cpu.max'))).toBe('30000 200000');
  });

  it('reads usage from cpu.stat, memory.current, memory.stat, memory.peak and pids.current', async () => {
    const { fake, cg } = await managerOver(V2_MOUNTINFO);
    await cg.ensure(PATH);
    const dir = fake.dir('/sys/fs/cgroup', PATH);
    writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\n');
    writeFileSync(join(dir, 'memory.current'), '5000\n');
    writeFileSync(join(dir, 'memory.stat'), 'anon 3000\ninactive_file 1000\n');
    writeFileSync(join(dir, 'memory.peak'), '9000\n');
    writeFileSync(join(dir, 'pids.current'), '2\n');
    expect(await cg.usage(PATH)).toEqual({ cpuNanos: 1_500_000, memoryBytes: 4000, memoryPeakBytes: 9000, pids: 2 });
  });

  it('creates nothing outside the unified tree', async () => {
    const { fake, cg } = await managerOver(`${V2_MOUNTINFO}\n50 26 0:44 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd`);
    await cg.ensure(PATH);
    expect(existsSync(fake.dir('/sys/fs/cgroup/systemd', '/kukeon'))).toBe(false);
  });
});

describe('cgroup manager safety', () => {
  it('refuses every operation through a symlink planted in the tree, touching nothing outside', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    const outside = mkdtempSync(join(tmpdir(), 'kukeon-outside-'));
    cleanups.push(outside);
    mkdirSync(join(outside, 'cell'));
    writeFileSync(join(outside, 'cell', 'cgroup.procs'), '1\n');
    await cg.ensure('/kukeon');
    symlinkSync(outside, fake.dir('/sys/fs/cgroup/memory', '/kukeon/evil'));
    expect(await kindOf(cg.ensure('/kukeon/evil/cell'))).toBe('InvalidArgument');
    expect(await kindOf(cg.exists('/kukeon/evil/cell'))).toBe('InvalidArgument');
    expect(await kindOf(cg.pids('/kukeon/evil/cell'))).toBe('InvalidArgument');
    expect(await kindOf(cg.usage('/kukeon/evil/cell'))).toBe('InvalidArgument');
    expect(await kindOf(cg.children('/kukeon/evil'))).toBe('InvalidArgument');
    expect(await kindOf(cg.addProcess('/kukeon/evil/cell', 1))).toBe('InvalidArgument');
    expect(await kindOf(cg.remove('/kukeon/evil'))).toBe('InvalidArgument');
    expect(existsSync(join(outside, 'cell'))).toBe(true);
    // Listings do not follow it either.
    expect(await cg.children('/kukeon')).toEqual([]);
  });

  it('refuses a path that goes through a knob file', async () => {
    const { cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure('/kukeon');
    expect(await kindOf(cg.ensure('/kukeon/cgroup.procs/x'))).toBe('InvalidArgument');
  });

  it('refuses to write a knob that is a symlink', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure(PATH);
    const target = join(fake.root, 'victim');
    writeFileSync(target, 'untouched');
    const knob = fake.dir('/sys/fs/cgroup/pids', `${PATH}/pids.max`);
    rmSync(knob);
    symlinkSync(target, knob);
    expect(await kindOf(cg.ensure(PATH, { pidsMax: 3 }))).toBe('InvalidArgument');
    expect(readFileSync(target, 'utf8')).toBe('untouched');
  });

  it('does not hang on a FIFO planted as a knob', async () => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    await cg.ensure(PATH);
    const knob = fake.dir('/sys/fs/cgroup/pids', `${PATH}/pids.current`);
    rmSync(knob);
    execFileSync('mkfifo', [knob]);
    expect(await kindOf(cg.usage(PATH))).toBe('InvalidArgument');
  });

  it.each(['/kukeon/../etc', '/kukeon/./x', 'kukeon', '/', '/kukeon//x', '/kukeon/x\0'])('refuses the path %j in every operation', async (bad) => {
    const { fake, cg } = await managerOver(HYBRID_MOUNTINFO);
    for (const op of [cg.ensure(bad), cg.remove(bad), cg.exists(bad), cg.pids(bad), cg.usage(bad), cg.children(bad), cg.addProcess(bad, 1)]) {
      expect(await kindOf(op)).toBe('InvalidArgument');
    }
    expect(existsSync(fake.dir('/sys/fs/cgroup/memory', '/kukeon'))).toBe(false);
  });

  it('refuses to start on a host without cgroupfs', async () => {
    expect(await kindOf(createCgroups({ mountinfo: '25 30 0:23 / /sys rw - sysfs sysfs rw' }))).toBe('FailedPrecondition');
  });
});
