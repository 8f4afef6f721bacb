/**
 * The cgroup manager on this host's real cgroupfs (hybrid v1 on the build VM; the v2 branches run on unified hosts),
 * under a test-only root `/kukeon-test-<random>` that afterAll removes from every hierarchy, even after a failure.
 * Processes are spawned by the test and killed by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { createCgroups, type CgroupFs } from '../../../src/runtime/cgroups/cgroupfs.js';
import { hierarchyFor } from '../../../src/runtime/cgroups/mounts.js';
import { kindOf } from '../../support/thrown.js';

const ROOT = `/kukeon-test-${randomBytes(4).toString('hex')}`;
let cg: CgroupFs;
const spawned: ChildProcess[] = [];

const read = (file: string) => readFileSync(file, 'utf8').trim();
/** The directory of `path` in the hierarchy carrying `controller`. */
const dirOf = (controller: string, path: string) => join(hierarchyFor(cg.layout, controller)!.dir, path);

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

/**
 * A process that waits for a line on stdin, then allocates 16 MiB and burns CPU for 250 ms (so both are charged to
 * the cgroup it was moved into by then), prints `done` and idles.
 */
function spawnBurner(): ChildProcess {
  const script = `process.stdin.once('data', () => {
    globalThis.keep = Buffer.alloc(16 << 20, 1);
    const t = Date.now(); while (Date.now() - t < 250) {}
    process.stdout.write('done\\n');
    setInterval(() => {}, 1000);
  });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'ignore'] });
  spawned.push(child);
  return child;
}

function burn(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.stdout!.once('data', () => resolve());
    child.stdin!.write('go\n');
  });
}

/** Fallback cleanup: rmdir bottom-up in every hierarchy, without the manager (in case the manager is what broke). */
function rmTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const child = join(dir, name);
    if (statSync(child).isDirectory()) rmTree(child);
  }
  rmdirSync(dir);
}

beforeAll(async () => {
  cg = await createCgroups();
});

afterAll(async () => {
  for (const c of spawned) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
  await Promise.all(spawned.map(exited));
  await cg.remove(ROOT).catch(() => undefined);
  const left: string[] = [];
  for (const { dir } of cg.directories(ROOT)) {
    try {
      rmTree(dir);
    } catch (err) {
      left.push(`${dir}: ${(err as Error).message}`);
    }
  }
  if (left.length > 0) throw new Error(`test cgroups left behind:\n${left.join('\n')}`);
});

describe('cgroup manager on the real cgroupfs', () => {
  it('detects this host as the mount table describes it', () => {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    const v1 = / - cgroup cgroup [^\n]*\b(cpu|memory|pids)\b/.test(mounts);
    expect(cg.mode).toBe(v1 ? 'v1' : 'v2');
    const expected = new Set(
      mounts
        .split('\n')
        .filter((l) => (v1 ? / - cgroup2? / : / - cgroup2 /).test(l))
        .map((l) => l.split(' ')[4]),
    );
    expect(new Set(cg.layout.hierarchies.map((h) => h.mountPoint))).toEqual(expected);
  });

  it('creates a nested tree in every hierarchy and reads the limits back from the knobs', async () => {
    const path = `${ROOT}/r/s/t/c`;
    expect(await cg.ensure(path, { memoryBytes: 64 << 20, cpuShares: 512, cpuQuotaUs: 50000, cpuPeriodUs: 100000, pidsMax: 50 })).toEqual({ created: true });
    for (const { hierarchy, dir } of cg.directories(path)) expect(existsSync(dir), hierarchy.mountPoint).toBe(true);
    if (cg.mode === 'v1') {
      expect(read(join(dirOf('memory', path), 'memory.limit_in_bytes'))).toBe(String(64 << 20));
      expect(read(join(dirOf('cpu', path), 'cpu.shares'))).toBe('512');
      expect(read(join(dirOf('cpu', path), 'cpu.cfs_quota_us'))).toBe('50000');
      expect(read(join(dirOf('cpu', path), 'cpu.cfs_period_us'))).toBe('100000');
      // Without the copy from the parent a v1 cpuset group refuses tasks.
      expect(read(join(dirOf('cpuset', path), 'cpuset.cpus'))).toBe(read(join(hierarchyFor(cg.layout, 'cpuset')!.dir, 'cpuset.cpus')));
      expect(read(join(dirOf('cpuset', path), 'cpuset.mems'))).not.toBe('');
    } else {
      expect(read(join(dirOf('memory', path), 'memory.max'))).toBe(String(64 << 20));
      expect(read(join(dirOf('cpu', path), 'cpu.weight'))).toBe('20');
      expect(read(join(dirOf('cpu', path), 'cpu.max'))).toBe('50000 100000');
    }
    expect(read(join(dirOf('pids', path), 'pids.max'))).toBe('50');
    expect(await cg.exists(path)).toBe(true);
    expect(await cg.children(`${ROOT}/r/s`)).toEqual(['t']);
  });

  it('is idempotent and keeps knobs set by hand when no limit is given', async () => {
    const path = `${ROOT}/r/s/t/c`;
    const memoryKnob = join(dirOf('memory', path), cg.mode === 'v1' ? 'memory.limit_in_bytes' : 'memory.max');
    writeFileSync(memoryKnob, String(32 << 20));
    expect(await cg.ensure(path)).toEqual({ created: false });
    expect(await cg.ensure(path, { pidsMax: 60 })).toEqual({ created: false });
    expect(read(memoryKnob)).toBe(String(32 << 20));
    expect(read(join(dirOf('pids', path), 'pids.max'))).toBe('60');
  });

  it('creates siblings that share missing parents at the same time', async () => {
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((leaf) => cg.ensure(`${ROOT}/race/x/y/${leaf}`)));
    expect(results.every((r) => r.created)).toBe(true);
    expect(await cg.children(`${ROOT}/race/x/y`)).toEqual(['a', 'b', 'c', 'd']);
    await cg.remove(`${ROOT}/race`);
    expect(await cg.exists(`${ROOT}/race`)).toBe(false);
  });

  it('lists a process moved in, reports its CPU and memory, and refuses removal until it is gone', async () => {
    const cell = `${ROOT}/busy/cell`;
    await cg.ensure(cell);
    const burner = spawnBurner();
    const pid = burner.pid!;
    await cg.addProcess(cell, pid);
    // Every hierarchy sees it at the path, as runc places a task.
    const lines = read(`/proc/${pid}/cgroup`).split('\n');
    expect(lines).toHaveLength(cg.layout.hierarchies.length);
    for (const line of lines) expect(line.split(':').slice(2).join(':'), line).toBe(cell);
    expect(await cg.pids(cell)).toEqual([pid]);
    expect(await cg.pids(`${ROOT}/busy`)).toEqual([]);
    expect(await cg.pids(`${ROOT}/busy`, { recursive: true })).toEqual([pid]);

    await burn(burner);
    const usage = await cg.usage(`${ROOT}/busy`);
    expect(usage.cpuNanos).toBeGreaterThan(150_000_000);
    expect(usage.memoryBytes).toBeGreaterThan(8 << 20);
    expect(usage.memoryPeakBytes).toBeGreaterThanOrEqual(usage.memoryBytes);
    expect(usage.pids).toBeGreaterThanOrEqual(1);

    const err = await cg.remove(`${ROOT}/busy`).catch((e: unknown) => e);
    expect(isKukeError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toContain(`pids ${pid}`);
    for (const { dir } of cg.directories(cell)) expect(existsSync(dir), dir).toBe(true);

    process.kill(pid, 'SIGKILL');
    await exited(burner);
    await cg.remove(`${ROOT}/busy`);
    for (const { dir } of cg.directories(`${ROOT}/busy`)) expect(existsSync(dir), dir).toBe(false);
    expect(await cg.exists(`${ROOT}/busy`)).toBe(false);
  });

  it('turns the kernel\'s refusals into typed errors', async () => {
    const parent = `${ROOT}/refuse`;
    await cg.ensure(parent, { cpuQuotaUs: 50000, cpuPeriodUs: 100000 });
    if (cg.mode === 'v1') {
      // v1 CFS: a child may not get more quota than its parent (EINVAL).
      expect(await kindOf(cg.ensure(`${parent}/child`, { cpuQuotaUs: 80000, cpuPeriodUs: 100000 }))).toBe('InvalidArgument');
    }
    // A memory limit below what the group holds cannot be reclaimed down to (v1: EBUSY); v2 would OOM-kill instead.
    const leaf = `${parent}/mem`;
    await cg.ensure(leaf);
    const burner = spawnBurner();
    await cg.addProcess(leaf, burner.pid!);
    await burn(burner);
    if (cg.mode === 'v1') expect(await kindOf(cg.ensure(leaf, { memoryBytes: 4096 }))).toBe('FailedPrecondition');
    expect(await kindOf(cg.addProcess(leaf, 2 ** 22 + 12345))).toBe('NotFound');
    process.kill(burner.pid!, 'SIGKILL');
    await exited(burner);
    await cg.remove(parent);
    expect(await cg.exists(parent)).toBe(false);
  });

  it('removes a missing cgroup without complaint and reports NotFound for its usage', async () => {
    await expect(cg.remove(`${ROOT}/never/was`)).resolves.toBeUndefined();
    expect(await kindOf(cg.usage(`${ROOT}/never/was`))).toBe('NotFound');
    expect(await cg.children(`${ROOT}/never`)).toEqual([]);
  });

  it('refuses traversal, odd names and paths through knob files, creating nothing', async () => {
    for (const bad of [`${ROOT}/../etc`, `${ROOT}/a/./b`, `${ROOT}//x`, 'kukeon', '/', `${ROOT}/x\0`]) {
      for (const op of [cg.ensure(bad), cg.remove(bad), cg.exists(bad), cg.pids(bad), cg.usage(bad), cg.children(bad), cg.addProcess(bad, process.pid)]) {
        expect(await kindOf(op), bad).toBe('InvalidArgument');
      }
    }
    await cg.ensure(`${ROOT}/knobs`);
    expect(await kindOf(cg.ensure(`${ROOT}/knobs/cgroup.procs/x`))).toBe('InvalidArgument');
    expect(await cg.children(ROOT)).not.toContain('etc');
    for (const { dir } of cg.directories(`${ROOT}/a`)) expect(existsSync(dir)).toBe(false);
  });

  it('cannot be fooled by a symlink inside cgroupfs because the kernel refuses to create one', async () => {
    await cg.ensure(`${ROOT}/links`);
    for (const { dir } of cg.directories(`${ROOT}/links`)) {
      let code: string | undefined;
      try {
        symlinkSync('/tmp', join(dir, 'evil'));
      } catch (err) {
        code = (err as NodeJS.ErrnoException).code;
      }
      expect(['EPERM', 'EACCES', 'ENOSYS', 'EOPNOTSUPP'], dir).toContain(code);
    }
  });

  it('creates and removes a 5-level path in every hierarchy quickly (timings printed)', async () => {
    const ensureMs: number[] = [];
    const removeMs: number[] = [];
    const existsMs: number[] = [];
    const again: number[] = [];
    for (let i = 0; i < 15; i++) {
      const top = `${ROOT}/bench-${i}`;
      const path = `${top}/s/t/c/k`;
      let t = performance.now();
      expect(await cg.ensure(path, { memoryBytes: 256 << 20, cpuShares: 512, pidsMax: 100 })).toEqual({ created: true });
      ensureMs.push(performance.now() - t);
      t = performance.now();
      expect(await cg.ensure(path)).toEqual({ created: false });
      again.push(performance.now() - t);
      t = performance.now();
      expect(await cg.exists(path)).toBe(true);
      existsMs.push(performance.now() - t);
      t = performance.now();
      await cg.remove(top);
      removeMs.push(performance.now() - t);
      for (const { dir } of cg.directories(top)) expect(existsSync(dir)).toBe(false);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);
    console.log(
      `cgroups (${cg.mode}, ${cg.layout.hierarchies.length} hierarchies), 5-level path, median of 15: ` +
        `ensure+limits ${median(ensureMs)} ms, ensure again ${median(again)} ms, exists ${median(existsMs)} ms, remove ${median(removeMs)} ms`,
    );
  });
});
