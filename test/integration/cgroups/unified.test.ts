/**
 * The cgroup manager in v2 mode on the real kernel: on this hybrid host the cgroup2 hierarchy is mounted at
 * /sys/fs/cgroup/unified with no controller delegated (they all sit in v1 hierarchies), so the manager is given a
 * mount table holding only that mount. What v2 does without controllers is tested for real here (directories,
 * process moves, pids, CPU time from the core cpu.stat, busy removal); limits must fail clearly. On a unified host
 * the same file runs against /sys/fs/cgroup. Test root `/kukeon-test-v2-<random>`, removed afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { createCgroups, type CgroupFs } from '../../../src/runtime/cgroups/cgroupfs.js';
import { kindOf } from '../../support/thrown.js';

const ROOT = `/kukeon-test-v2-${randomBytes(4).toString('hex')}`;
const PATH = `${ROOT}/cell`;
const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => / - cgroup2 /.test(l));
const mountPoint = line?.split(' ')[4] ?? '';
let cg: CgroupFs;
const spawned: ChildProcess[] = [];

beforeAll(async () => {
  if (!line) throw new Error('no cgroup2 mount on this host: the v2 tests need one (mount -t cgroup2 none /sys/fs/cgroup/unified)');
  cg = await createCgroups({ mountinfo: `${line}\n` });
});

afterAll(() => {
  for (const c of spawned) c.kill('SIGKILL');
  for (const dir of [join(mountPoint, PATH), join(mountPoint, ROOT, 'limited'), join(mountPoint, ROOT)]) {
    try {
      if (existsSync(dir)) rmdirSync(dir);
    } catch {
      // reported by the tests themselves
    }
  }
});

describe('cgroup manager, v2 mode, real cgroup2 hierarchy', () => {
  it('detects v2 from a table with only a cgroup2 mount', () => {
    expect(cg.mode).toBe('v2');
  });

  it('creates a path, moves a process in, lists it, reads its CPU time, refuses to remove it while busy', async () => {
    expect((await cg.ensure(PATH)).created).toBe(true);
    expect(existsSync(join(mountPoint, PATH, 'cgroup.procs'))).toBe(true);
    expect(await cg.exists(PATH)).toBe(true);
    const child = spawn('sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exec sleep 30'], { stdio: 'ignore' });
    spawned.push(child);
    await cg.addProcess(PATH, child.pid!);
    expect(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8')).toContain(`0::${PATH}\n`);
    expect(await cg.pids(PATH)).toEqual([child.pid]);
    expect(await cg.pids(ROOT, { recursive: true })).toEqual([child.pid]);
    await new Promise((r) => setTimeout(r, 300));
    const usage = await cg.usage(PATH);
    expect(usage.cpuNanos).toBeGreaterThan(0);
    const busy = await cg.remove(ROOT).catch((e: unknown) => e);
    expect(isKukeError(busy, 'FailedPrecondition')).toBe(true);
    expect((busy as Error).message).toContain(String(child.pid));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await cg.remove(ROOT);
    expect(existsSync(join(mountPoint, ROOT))).toBe(false);
    expect(await cg.exists(PATH)).toBe(false);
  });

  it('writes memory.max where v2 offers the memory controller, and otherwise refuses the limit before creating anything', async () => {
    const limited = `${ROOT}/limited`;
    const offered = readFileSync(join(mountPoint, 'cgroup.controllers'), 'utf8').split(/\s+/);
    if (offered.includes('memory')) {
      await cg.ensure(limited, { memoryBytes: 64 << 20 });
      expect(readFileSync(join(mountPoint, limited, 'memory.max'), 'utf8').trim()).toBe(String(64 << 20));
      await cg.remove(ROOT);
    } else {
      expect(await kindOf(cg.ensure(limited, { memoryBytes: 64 << 20 }))).toBe('FailedPrecondition');
      expect(existsSync(join(mountPoint, limited))).toBe(false);
    }
  });
});
