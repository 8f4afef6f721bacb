/**
 * Event log and engine-restart benchmark (not a test). Prints, measured in one run on this machine:
 *   - synced single-append rate (one writer, each append awaited);
 *   - group-committed rate with 16 and 64 concurrent writers;
 *   - replay rate (readAll with hash-chain and payload checks) over 1M events;
 *   - engine restart (open + replay + ready) for 100 aggregates and 1M events, without and with a checkpoint, and
 *     with a checkpoint after an unclean stop (no seal: every record is verified first).
 *
 * Usage: node tools/run.mjs tools/bench/eventlog.ts [--events 1000000] [--dir /tmp/x]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventInput } from '../../events/record.js';
import { catalogCodec } from '../../src/engine/codec.js';
import { Engine } from '../../src/engine/engine.js';
import { LevelEventLog } from '../../src/store/event-log.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const TOTAL = Number(arg('events', '1000000'));
const root = mkdtempSync(join(arg('dir', tmpdir()), 'kukeon-bench-'));
const template = { name: 'main', image: 'kukeon.local/busybox:test', command: [], args: [], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' };
const at = new Date(Date.UTC(2026, 10, 28)).toISOString();
const actor = { type: 'engine' as const };

function ev(stream: string, type: string, data: unknown): EventInput {
  return { stream, type, v: type === 'TaskExited' ? 2 : 1, data, at, actor };
}

/** A valid life for a container stream: create, then start/stop cycles. */
function* containerLife(stream: string, count: number): Generator<EventInput> {
  yield ev(stream, 'CreateContainer', { template, root: true, namespace: 'bench.kukeon.io', containerdId: stream.replace(/\//g, '_').slice(-60) });
  yield ev(stream, 'ContainerCreated', {});
  let pid = 1000;
  for (let n = 2; n < count; n += 4) {
    pid++;
    yield ev(stream, 'StartContainer', { network: { mode: 'new' } });
    yield ev(stream, 'TaskStarted', { pid });
    yield ev(stream, 'StopContainer', { signal: 'SIGTERM', graceMs: 1000 });
    yield ev(stream, 'TaskExited', { pid, code: 143, signal: 'SIGTERM' });
  }
}

const rate = (n: number, ms: number) => `${Math.round((n / ms) * 1000).toLocaleString('en-US')} events/s`;

async function appendRates(): Promise<void> {
  const log = await LevelEventLog.create(join(root, 'append'), { codec: catalogCodec });
  const single = 2000;
  let t = performance.now();
  const started = { pid: 1, version: '0', replayed: 0, readyMs: 0, uncleanShutdown: false };
  for (let i = 0; i < single; i++) {
    const stream = `daemon/s${i}`;
    await log.append(stream, [ev(stream, 'DaemonStarted', started)]);
  }
  console.log(`synced single append (1 writer):     ${rate(single, performance.now() - t)}`);
  for (const writers of [16, 64]) {
    const perWriter = Math.ceil(40_000 / writers);
    t = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < perWriter; i++) {
          const stream = `daemon/w${writers}-${w}`;
          await log.append(stream, [ev(stream, 'DaemonStarted', started)]);
        }
      }),
    );
    console.log(`group-committed, ${String(writers).padStart(2)} writers:         ${rate(writers * perWriter, performance.now() - t)}`);
  }
  await log.close();
}

async function replayAndRestart(): Promise<void> {
  const dir = join(root, 'replay');
  const log = await LevelEventLog.create(dir, { codec: catalogCodec });
  const aggregates = 100;
  const perStream = Math.floor(TOTAL / aggregates);
  let t = performance.now();
  for (let a = 0; a < aggregates; a++) {
    const stream = `container/bench/s/t/c${a}/main`;
    let chunk: EventInput[] = [];
    for (const e of containerLife(stream, perStream)) {
      chunk.push(e);
      if (chunk.length === 2000) {
        await log.append(stream, chunk);
        chunk = [];
      }
    }
    if (chunk.length) await log.append(stream, chunk);
  }
  const written = log.head().seq;
  console.log(`bulk load:                           ${written.toLocaleString('en-US')} events in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  t = performance.now();
  let read = 0;
  for await (const batch of log.readAll()) read += batch.length;
  console.log(`replay (readAll, verified):          ${rate(read, performance.now() - t)} (${read.toLocaleString('en-US')} events)`);
  await log.close();

  t = performance.now();
  const full = await Engine.open({ store: await LevelEventLog.open(dir, { codec: catalogCodec }), ignoreSnapshots: true });
  const fullMs = performance.now() - t;
  console.log(`engine restart, no snapshots:        ${(fullMs / 1000).toFixed(2)} s (${full.replayStats.events.toLocaleString('en-US')} events folded, ${rate(full.replayStats.events, fullMs)})`);
  await full.store.close();

  // A checkpoint, then a tail as long as the engine lets it grow between checkpoints (checkpointEvery).
  const writer = await Engine.open({ store: await LevelEventLog.open(dir, { codec: catalogCodec }), effects: async () => [] });
  await writer.checkpoint();
  const tail = writer.config.checkpointEvery;
  for (let a = 0; a < aggregates; a++) {
    const stream = `container/bench/s/t/c${a}/main`;
    const agg = writer.get(stream)!;
    const pid = 900_000 + a;
    const cycle = (n: number) => [ev(stream, 'StartContainer', { network: { mode: 'new' } }), ev(stream, 'TaskStarted', { pid: pid + n }), ev(stream, 'StopContainer', { signal: 'SIGTERM', graceMs: 1000 }), ev(stream, 'TaskExited', { pid: pid + n, code: 143 })];
    const events = Array.from({ length: Math.ceil(tail / aggregates / 4) }, (_, n) => cycle(n * aggregates)).flat();
    if (String(agg.snapshot.value) !== 'Stopped' && String(agg.snapshot.value) !== 'Created') throw new Error(`unexpected state ${String(agg.snapshot.value)}`);
    await writer.store.append(stream, events);
  }
  const tailEvents = writer.store.head().seq - written;
  await writer.store.close();
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    t = performance.now();
    const engine = await Engine.open({ store: await LevelEventLog.open(dir, { codec: catalogCodec }) });
    samples.push(performance.now() - t);
    if (engine.replayStats.fromSnapshots !== aggregates) throw new Error('checkpoint not used');
    await engine.store.close();
  }
  samples.sort((x, y) => x - y);
  console.log(`engine restart, with checkpoint:     ${(samples[2]! / 1000).toFixed(3)} s median of 5 (${aggregates} aggregates from snapshots + ${tailEvents.toLocaleString('en-US')}-event tail; ${(written + tailEvents).toLocaleString('en-US')} events in the log)`);
  // Without the seal a clean close leaves (a kill -9, files touched meanwhile) the open verifies every record first.
  rmSync(join(dir, 'SEAL.json'), { force: true });
  t = performance.now();
  const unsealed = await Engine.open({ store: await LevelEventLog.open(dir, { codec: catalogCodec }) });
  const unsealedMs = performance.now() - t;
  await unsealed.store.close();
  console.log(`engine restart, unclean (verify all): ${(unsealedMs / 1000).toFixed(2)} s (the whole log read once; the close seals it again)`);
}

console.log(`kukeon event log benchmark — ${new Date().toISOString()}, node ${process.version}`);
try {
  await appendRates();
  await replayAndRestart();
} finally {
  rmSync(root, { recursive: true, force: true });
}
