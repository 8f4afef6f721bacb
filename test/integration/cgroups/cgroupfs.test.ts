/**
 * The cgroup manager on this host's real cgroupfs (hybrid v1 here), under a test-only root.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { createCgroups, type CgroupFs } from '../../../src/runtime/cgroups/cgroupfs.js';
import { hierarchyFor } from '../../../src/runtime/cgroups/mounts.js';

const ROOT = `/kukeon-test-${process.pid}`;
let cg: CgroupFs;
const children: ChildProcess[] = [];

function join_(path: string, pid: number) {
  for (const h of cg.layout.hierarchies) writeFileSync(join(h.mountPoint, path, 'cgroup.procs'), String(pid));
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

beforeAll(async () => {
  cg = await createCgroups();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(children.map(exited));
  await cg.remove(ROOT).catch(() => undefined);
  for (const h of cg.layout.hierarchies) rmSync(join(h.mountPoint, ROOT), { recursive: true, force: true });
});

describe('cgroups on the real cgroupfs', () => {
  it('detects this host as it is', async () => {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    expect(cg.mode).toBe(/ - cgroup cgroup /.test(mounts) ? 'v1' : 'v2');
  });

  it('creates a nested tree in every hierarchy and applies limits', async () => {
    const path = `${ROOT}/r/s/t/c`;
    expect(await cg.ensure(path, { memoryBytes: 64 << 20, cpuShares: 512, pidsMax: 50 })).toEqual({ created: true });
    for (const h of cg.layout.hierarchies) expect(existsSync(join(h.mountPoint, path)), h.mountPoint).toBe(true);
    if (cg.mode === 'v1') {
      expect(readFileSync(join(hierarchyFor(cg.layout, 'memory')!.mountPoint, path, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(64 << 20));
      expect(readFileSync(join(hierarchyFor(cg.layout, 'cpu')!.mountPoint, path, 'cpu.shares'), 'utf8').trim()).toBe('512');
      expect(readFileSync(join(hierarchyFor(cg.layout, 'pids')!.mountPoint, path, 'pids.max'), 'utf8').trim()).toBe('50');
    } else {
      expect(readFileSync(join('/sys/fs/cgroup', path, 'memory.max'), 'utf8').trim()).toBe(String(64 << 20));
    }
    expect(await cg.ensure(path)).toEqual({ created: false });
    expect(await cg.children(`${ROOT}/r/s`)).toEqual(['t']);
  });

  it('lists processes moved in, reports their CPU and memory, and refuses removal while they live', async () => {
    const path = `${ROOT}/busy/cell`;
    await cg.ensure(path);
    const burner = spawn(process.execPath, ['-e', 'const t=Date.now(); while (Date.now()-t < 300) {} setTimeout(()=>{}, 30000)'], { stdio: 'ignore' });
    children.push(burner);
    join_(path, burner.pid!);
    expect(await cg.pids(`${ROOT}/busy`, { recursive: true })).toContain(burner.pid);
    expect(await cg.pids(`${ROOT}/busy`)).toEqual([]);
    await new Promise((r) => setTimeout(r, 400));
    const usage = await cg.usage(`${ROOT}/busy`);
    expect(usage.cpuNanos).toBeGreaterThan(100_000_000);
    expect(usage.memoryBytes).toBeGreaterThan(0);
    const err = await cg.remove(`${ROOT}/busy`).catch((e) => e);
    expect(isKukeError(err, 'FailedPrecondition')).toBe(true);
    expect(err.message).toMatch(/busy: 1 process/);
    expect(await cg.exists(path)).toBe(true);
    burner.kill('SIGKILL');
    await exited(burner);
    await new Promise((r) => setTimeout(r, 50));
    await cg.remove(`${ROOT}/busy`);
    for (const h of cg.layout.hierarchies) expect(existsSync(join(h.mountPoint, ROOT, 'busy')), h.mountPoint).toBe(false);
  });

  it('removes a missing cgroup without complaint', async () => {
    await expect(cg.remove(`${ROOT}/never/was`)).resolves.toBeUndefined();
  });

  it('refuses paths that could escape the hierarchy', async () => {
    for (const bad of [`${ROOT}/../etc`, `${ROOT}/a/./b`, 'kukeon']) {
      const err = await cg.ensure(bad).catch((e) => e);
      expect(isKukeError(err, 'InvalidArgument'), bad).toBe(true);
    }
  });
});
