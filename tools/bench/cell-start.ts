/**
 * Cell start benchmark (not a test): a one-container cell on the CNI bridge, created to Ready and then deleted,
 * through the engine on the real runtime — against `ctr run -d` then `ctr task kill` + `ctr task rm` +
 * `ctr container rm` of the same image on the same private containerd. Interleaved, median of N each, printed as
 * a ratio.
 *
 * Usage: node tools/run.mjs tools/bench/cell-start.ts [--runs 10]
 */
import { execFileSync } from 'node:child_process';
import type { CellTemplate } from '../../events/specs.js';
import { startHost } from '../../test/support/host.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10;
const actor = { actor: { type: 'user' as const } };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

const host = await startHost({ subnet: '10.252.0.0/16' });
try {
  const ops = host.opened.operations;
  await ops.createRealm({ name: 'bench' }, actor);
  await host.importImage('bench');
  await ops.createSpace({ realm: 'bench', space: 'net' }, actor);
  await ops.createStack({ realm: 'bench', space: 'net', stack: 'app' }, actor);
  const ns = `bench.${host.settings.engine.namespaceSuffix}`;
  const template: CellTemplate = {
    root: 'main',
    labels: {},
    containers: [{ name: 'main', image: host.image, command: [], args: ['sleep', '300'], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' }],
  };
  const ctr = (...args: string[]) => execFileSync('ctr', ['-a', host.ctrd.address, '-n', ns, ...args], { stdio: 'pipe' });

  const kukeon = { start: [] as number[], remove: [] as number[], total: [] as number[] };
  const baseline = { start: [] as number[], remove: [] as number[], total: [] as number[] };
  // One warm-up of each, not counted.
  for (let i = -1; i < RUNS; i++) {
    const ref = { realm: 'bench', space: 'net', stack: 'app', cell: `c${i + 1}` };
    let t = performance.now();
    const { view } = await ops.createCell({ ...ref, template, start: true }, actor);
    if (view.state !== 'Ready') throw new Error(`cell ${ref.cell} is ${view.state}`);
    const start = performance.now() - t;
    t = performance.now();
    await ops.deleteCell(ref, actor);
    const remove = performance.now() - t;

    const id = `ctr-${i + 1}`;
    t = performance.now();
    ctr('run', '-d', '--runc-root', host.ctrd.runcRoot, '--cgroup', `${host.settings.engine.cgroupRoot}/ctr/${id}`, host.image, id, 'sleep', '300');
    const ctrStart = performance.now() - t;
    t = performance.now();
    ctr('task', 'kill', '-s', 'SIGKILL', id);
    for (let k = 0; k < 200; k++) {
      if (/STOPPED/.test(ctr('task', 'ls').toString())) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    ctr('task', 'rm', id);
    ctr('container', 'rm', id);
    const ctrRemove = performance.now() - t;
    if (i < 0) continue;
    kukeon.start.push(start);
    kukeon.remove.push(remove);
    kukeon.total.push(start + remove);
    baseline.start.push(ctrStart);
    baseline.remove.push(ctrRemove);
    baseline.total.push(ctrStart + ctrRemove);
  }
  console.log(`cell start benchmark — ${new Date().toISOString()}, ${RUNS} interleaved runs each, medians`);
  console.log(`                       kukeon (cell on CNI bridge)   ctr (no network)   ratio`);
  for (const k of ['start', 'remove', 'total'] as const) {
    const a = median(kukeon[k]);
    const b = median(baseline[k]);
    console.log(`${k.padEnd(22)} ${fmt(a).padStart(12)}                 ${fmt(b).padStart(12)}    ${(a / b).toFixed(2)}×`);
  }
} finally {
  await host.cleanup();
}
