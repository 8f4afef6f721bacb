/**
 * Daemon benchmark (not a test), on a private containerd with real cells:
 *   - kukeond restart → API ready, with 100 running cells and 1M events in the log (checkpointed, with the tail
 *     the daemon lets grow between checkpoints), after a clean stop and after an unclean one (the whole log is
 *     verified then);
 *   - reconcile of 100 running cells against containerd;
 *   - `kuke history` of a cell with 10k events, server side (the log read) and through the API.
 *
 * Usage: node tools/run.mjs tools/bench/daemon.ts [--events 1000000] [--cells 100]   (needs dist/: npm run build)
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EventInput } from '../../events/record.js';
import type { CellTemplate } from '../../events/specs.js';
import { GrpcClient, pingDaemon } from '../../src/api/grpc-client.js';
import { daemonArgs } from '../../src/daemon/cell-template.js';
import { catalogCodec } from '../../src/engine/codec.js';
import { runLayout } from '../../src/engine/config.js';
import { Engine } from '../../src/engine/engine.js';
import { readHistory } from '../../src/engine/history.js';
import { reconcile } from '../../src/engine/reconcile.js';
import { LevelEventLog } from '../../src/store/event-log.js';
import { startHost } from '../../test/support/host.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const EVENTS = arg('events', 1_000_000);
const CELLS = arg('cells', 100);
const actor = { actor: { type: 'user' as const } };
const at = new Date().toISOString();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ev = (stream: string, type: string, data: unknown): EventInput => ({ stream, type, v: type === 'TaskExited' ? 2 : 1, data, at, actor: { type: 'engine' } });

const host = await startHost({ subnet: '10.252.128.0/18' });
const daemons: ReturnType<typeof spawn>[] = [];
try {
  const ops = host.opened.operations;
  await ops.createRealm({ name: 'bench' }, actor);
  await host.importImage('bench');
  await ops.createSpace({ realm: 'bench', space: 'net' }, actor);
  await ops.createStack({ realm: 'bench', space: 'net', stack: 'app' }, actor);
  const template = (args: string[]): CellTemplate => ({
    root: 'main',
    labels: {},
    containers: [{ name: 'main', image: host.image, command: [], args, env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' }],
  });
  let t = performance.now();
  for (let i = 0; i < CELLS; i++) await ops.createCell({ realm: 'bench', space: 'net', stack: 'app', cell: `c${i}`, template: template(['sleep', '3600']), start: true }, actor);
  console.log(`setup: ${CELLS} running cells in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  await ops.createCell({ realm: 'bench', space: 'net', stack: 'app', cell: 'hist', template: template(['sleep', '3600']), start: true }, actor);
  await ops.stopCell({ realm: 'bench', space: 'net', stack: 'app', cell: 'hist' }, actor, { mode: 'kill' });
  await host.opened.close();

  // Fill the log: 10k events on the history cell's container (stop/start cycles ending Stopped), the rest on
  // filler streams (daemon starts and stops), then a checkpoint and a tail as long as checkpointEvery.
  const path = runLayout(host.settings.engine.runPath).eventLog;
  const store = await LevelEventLog.open(path, { codec: catalogCodec });
  const histStream = 'container/bench/net/app/hist/hist_root';
  t = performance.now();
  const cycles = 2_500;
  for (let done = 0; done < cycles; ) {
    const batch: EventInput[] = [];
    for (let k = 0; k < 250 && done < cycles; k++, done++) {
      const pid = 500_000 + done;
      batch.push(ev(histStream, 'StartContainer', { network: { mode: 'new' } }), ev(histStream, 'TaskStarted', { pid }), ev(histStream, 'StopContainer', { signal: 'SIGKILL', graceMs: 0 }), ev(histStream, 'TaskExited', { pid, code: 137, signal: 'SIGKILL' }));
    }
    await store.append(histStream, batch);
  }
  const tail = 10_000;
  /** Appends daemon start/stop pairs on 100 filler streams until the log holds `until` events. */
  const fill = async (log: LevelEventLog, until: number) => {
    for (let s = 0; log.head().seq < until; s++) {
      const stream = `daemon/filler-${s % 100}`;
      const n = Math.min(2_000, until - log.head().seq) & ~1;
      if (n <= 0) break;
      const batch: EventInput[] = [];
      for (let k = 0; k < n; k += 2) batch.push(ev(stream, 'DaemonStarted', { pid: 1, version: 'bench', replayed: 0, readyMs: 0, uncleanShutdown: false }), ev(stream, 'DaemonStopped', { pid: 1, reason: 'bench' }));
      await log.append(stream, batch);
    }
  };
  await fill(store, EVENTS - tail);
  await store.close();
  const writer = await Engine.open({ store: await LevelEventLog.open(path, { codec: catalogCodec }), effects: async () => [] });
  await writer.checkpoint();
  await writer.store.close();
  const store2 = await LevelEventLog.open(path, { codec: catalogCodec });
  await fill(store2, EVENTS);
  const total = store2.head().seq;
  console.log(`log: ${total.toLocaleString('en-US')} events (checkpoint + ${tail.toLocaleString('en-US')}-event tail) written in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  // History of the 10k-event cell, server side (the log read the daemon does).
  const histKey = { kind: 'cell' as const, realm: 'bench', space: 'net', stack: 'app', cell: 'hist' };
  const reads: number[] = [];
  let count = 0;
  for (let i = 0; i < 10; i++) {
    const s = performance.now();
    count = (await readHistory(store2, histKey)).length;
    reads.push(performance.now() - s);
  }
  console.log(`history, server side:  ${median(reads).toFixed(1)} ms median of 10 (${count.toLocaleString('en-US')} events)`);

  // Reconcile of the running cells, as the daemon does after a replay.
  const recs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const engine = await Engine.open({ store: store2, config: host.settings.engine });
    const s = performance.now();
    const report = await reconcile(engine, host.runtime);
    recs.push(performance.now() - s);
    if (report.lostTasks + report.exitsFound + report.effectsReissued !== 0) throw new Error(`reconcile changed something: ${JSON.stringify(report)}`);
  }
  console.log(`reconcile of ${CELLS} running cells: ${median(recs).toFixed(0)} ms median of 5`);
  await store2.close();

  // Daemon restart → API ready (spawn to first answered ping), five restarts.
  const s = host.settings;
  const args = [join(process.cwd(), 'dist', 'kukeond.mjs'), ...daemonArgs(s, { socket: 0 }), '--log-level', 'warn'];
  /** Spawns kukeond; resolves with it once it answers a ping, and the ms from spawn to that answer. */
  const startDaemon = async () => {
    const start = performance.now();
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    daemons.push(child);
    while (!(await pingDaemon(s.socket, 200).then(() => true, () => false))) {
      if (performance.now() - start > 120_000) throw new Error('kukeond did not come up');
      await new Promise((r) => setTimeout(r, 5));
    }
    return { child, ms: performance.now() - start };
  };
  const stopDaemon = (child: ReturnType<typeof spawn>) =>
    new Promise<void>((r) => {
      child.once('exit', () => r());
      child.kill('SIGTERM');
    });
  const ready: number[] = [];
  for (let i = 0; i < 5; i++) {
    const { child, ms } = await startDaemon();
    ready.push(ms);
    await stopDaemon(child);
  }
  // After a kill -9 (no seal left by a clean close) the start reads the whole log once: measure that start too.
  const unclean: number[] = [];
  for (let i = 0; i < 3; i++) {
    rmSync(join(path, 'SEAL.json'), { force: true });
    const { child, ms } = await startDaemon();
    unclean.push(ms);
    await stopDaemon(child);
  }
  const client = new GrpcClient({ socket: s.socket });
  const { child: node } = await startDaemon();
  const api: number[] = [];
  for (let i = 0; i < 10; i++) {
    const st = performance.now();
    await client.history(histKey);
    api.push(performance.now() - st);
  }
  await client.close();
  node.kill('SIGTERM');
  console.log(`history, through the API: ${median(api).toFixed(1)} ms median of 10`);
  console.log(`kukeond restart → API ready: ${median(ready).toFixed(0)} ms median of 5 (spawn to first answered ping; ${CELLS} cells, ${total.toLocaleString('en-US')} events)`);
  console.log(`kukeond restart → API ready after an unclean stop (whole log verified): ${median(unclean).toFixed(0)} ms median of 3`);
} finally {
  for (const d of daemons) if (d.exitCode === null) d.kill('SIGKILL');
  await host.cleanup();
}
