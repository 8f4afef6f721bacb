/**
 * Times the containerd adapter's steps against a private containerd (medians of a few runs): import of the busybox
 * test image through the API, its unpack, create+start of a container, stop (SIGKILL + wait), delete (task, rootfs,
 * record). Each run uses a fresh namespace, so import and unpack do their full work. Needs root.
 *
 * Usage: node tools/run.mjs tools/harness/measure-adapter.ts [runs]     (default 7)
 */
import { readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerdRuntime } from '../../src/runtime/containerd/runtime.js';
import { buildTestImage } from '../build-test-image.js';
import { startContainerd } from './containerd.js';

const runs = Number(process.argv[2] ?? 7);
const cgroupRoot = `/kukeon-measure-${process.pid}`;
const steps = ['import', 'unpack', 'create+start', 'stop', 'delete', 'deleteNamespace'] as const;
const times: Record<(typeof steps)[number], number[]> = { import: [], unpack: [], 'create+start': [], stop: [], delete: [], deleteNamespace: [] };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function removeCgroups(root: string): void {
  const remove = (dir: string) => {
    for (const e of readdirSync(dir)) if (statSync(join(dir, e)).isDirectory()) remove(join(dir, e));
    rmdirSync(dir);
  };
  for (const mount of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', mount, root);
    try {
      if (statSync(dir).isDirectory()) remove(dir);
    } catch {
      // not in this hierarchy
    }
  }
}

const ctrd = await startContainerd();
const rt = new ContainerdRuntime({ address: ctrd.address, namespaceSuffix: 'measure.kukeon.io', runcRoot: ctrd.runcRoot });
try {
  const { path, ref } = buildTestImage();
  await rt.version();
  for (let i = 0; i < runs; i++) {
    const ns = `run${i}.measure.kukeon.io`;
    let unpackStarted = 0;
    const t0 = performance.now();
    await rt.importImage(ns, path, { onProgress: (p) => {
      if (p.item === 'unpack' && p.done === 0) unpackStarted = performance.now();
    } });
    const t1 = performance.now();
    times.import.push(unpackStarted - t0);
    times.unpack.push(t1 - unpackStarted);
    const id = `c${i}`;
    await rt.createContainer({ namespace: ns, id, image: ref, labels: {}, args: ['sleep', '300'], cgroupsPath: `${cgroupRoot}/cell/${id}`, network: { mode: 'new' }, hostname: 'cell', logPath: join(ctrd.dir, 'logs', `${id}.log`) });
    const { pid } = await rt.startTask(ns, id);
    const t2 = performance.now();
    times['create+start'].push(t2 - t1);
    // Not timed: make sure a real process runs (the figures are worthless otherwise).
    if ((await rt.getTask(ns, id))?.status !== 'running' || !statSync(`/proc/${pid}`, { throwIfNoEntry: false })) throw new Error(`task ${id} is not running`);
    const t2b = performance.now();
    await rt.stopTask(ns, id, { signal: 'SIGKILL' });
    const t3 = performance.now();
    times.stop.push(t3 - t2b);
    await rt.deleteTask(ns, id);
    await rt.deleteContainer(ns, id);
    const t4 = performance.now();
    times.delete.push(t4 - t3);
    await rt.deleteNamespace(ns);
    times.deleteNamespace.push(performance.now() - t4);
  }
  process.stdout.write(`containerd ${(await rt.version()).version}, ${runs} runs, ms (median / min–max)\n`);
  for (const step of steps) {
    const v = times[step];
    process.stdout.write(`${step.padEnd(16)} ${median(v).toFixed(1).padStart(7)}   ${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)}\n`);
  }
} finally {
  rt.close();
  await ctrd.stop();
  removeCgroups(cgroupRoot);
}
