/**
 * Shared pieces of the engine's property tests: a fake world with the test image, a log on a real LevelDB in a
 * temp dir, and invariants that compare the engine's state with the fake runtime's reality.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { AGGREGATES, isGone, isTransient } from '../../../machines/index.js';
import type { EventRecord } from '../../../events/record.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { Engine } from '../../../src/engine/engine.js';
import { drainCellNames } from '../../../src/engine/hosts.js';
import type { CellContext } from '../../../machines/cell.js';
import type { ContainerContext } from '../../../machines/container.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { MemoryStore } from '../../support/memory-store.js';
import type { EventStore } from '../../../src/store/types.js';

export const SEED = Number(process.env.KUKEON_PROPERTY_SEED ?? 20261128);
export const RUNS = Number(process.env.KUKEON_PROPERTY_RUNS ?? 1000);

/** Prints the seed once per file so a failure can be replayed with KUKEON_PROPERTY_SEED. */
export function announceSeed(name: string): void {
  process.stderr.write(`[property] ${name}: seed=${SEED} runs=${RUNS} (replay with KUKEON_PROPERTY_SEED=${SEED})\n`);
}

// startSettleMs 0: the fake's one-shot roots exit within a microtask of their start, no settle time is needed to see it.
export const ENGINE_CONFIG = { runPath: '/tmp/kukeon-property', ipMasq: false, stopGraceMs: 0, cellStartTimeoutMs: 5_000, checkpointEvery: 25, startSettleMs: 0 };

export function newWorld(): FakeWorld {
  const world = new FakeWorld();
  world.addImage('busybox');
  return world;
}

/** A fresh directory for a LevelDB log; removed by `cleanup`. */
export function tempLogDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'kukeon-prop-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * `KUKEON_PROPERTY_STORE=memory` swaps the LevelDB log for the in-memory one (quick local iteration only: CI
 * runs the real log).
 */
const useMemory = process.env.KUKEON_PROPERTY_STORE === 'memory';
const memoryLogs = new Map<string, MemoryStore>();

export async function createLog(dir: string): Promise<EventStore> {
  if (useMemory) {
    const store = new MemoryStore(catalogCodec);
    memoryLogs.set(dir, store);
    return store;
  }
  const { LevelEventLog } = await import('../../../src/store/event-log.js');
  return LevelEventLog.create(join(dir, 'events'), { codec: catalogCodec });
}

export async function openLog(dir: string): Promise<EventStore> {
  if (useMemory) {
    const inner = memoryLogs.get(dir)!;
    // A new handle over the same records, as a reopened LevelDB would be.
    const reopened = Object.create(inner) as MemoryStore;
    reopened.dead = false;
    reopened.io = () => Promise.resolve();
    return reopened;
  }
  const { LevelEventLog } = await import('../../../src/store/event-log.js');
  return LevelEventLog.open(join(dir, 'events'), { codec: catalogCodec });
}

/** (state, context) of every aggregate, comparable across engines. */
export function stateOf(engine: Engine): Record<string, { value: string; context: unknown; version: number }> {
  const out: Record<string, { value: string; context: unknown; version: number }> = {};
  for (const agg of engine.all()) out[agg.stream] = { value: String(agg.snapshot.value), context: agg.snapshot.context, version: agg.version };
  return out;
}

/** Folds the whole log (no snapshots) with effects off. */
export async function foldLog(store: EventStore): Promise<Engine> {
  return Engine.open({ store, ignoreSnapshots: true, config: ENGINE_CONFIG });
}

/**
 * The engine and the world agree, and nothing leaks:
 * - no aggregate is left in a transient state;
 * - a container is Running iff its task runs, with the same pid; every task and container record is owned;
 * - a cell holds a network attachment iff it is Ready; the root container of a Ready cell runs;
 * - cgroups exist only for live scopes and cells (and the task cgroups below running containers);
 * - a deleted cell's logs are gone, unless its delete kept them.
 */
export function expectConsistent(engine: Engine, world: FakeWorld): void {
  const running = world.runningTasks();
  const owned = new Set<string>();
  for (const agg of engine.all()) {
    const state = String(agg.snapshot.value);
    expect(isTransient(agg.kind, state), `${agg.stream} stuck in ${state}`).toBe(false);
    if (agg.kind === 'container') {
      const c = agg.snapshot.context as ContainerContext;
      const key = `${c.namespace}/${c.containerdId}`;
      if (!isGone(state)) owned.add(key);
      if (state === 'Running') expect(running.get(key), `${agg.stream} is Running but its task is not`).toBe(c.pid);
      else expect(running.has(key), `${agg.stream} is ${state} but its task runs`).toBe(false);
    }
    if (agg.kind === 'cell' && state === 'Ready') {
      // Other containers may have exited by themselves; the root owns the cell's network and must run.
      const c = agg.snapshot.context as CellContext;
      const root = engine.get(`container/${c.realm}/${c.space}/${c.stack}/${c.name}/${c.name}_root`);
      expect(String(root?.snapshot.value), `root container of Ready cell ${c.name}`).toBe('Running');
    }
  }
  for (const key of world.containers.keys()) expect(owned.has(key), `leaked container ${key}`).toBe(true);
  const attached = new Set([...world.attachments.values()].map((a) => a.containerId));
  for (const agg of engine.list('cell/')) {
    const c = agg.snapshot.context as CellContext;
    const id = `${c.space}_${c.stack}_${c.name}_root`;
    const up = String(agg.snapshot.value) === 'Ready';
    expect(attached.has(id), `cell ${c.name} is ${String(agg.snapshot.value)}; attachment held: ${attached.has(id)}`).toBe(up);
    if (isGone(String(agg.snapshot.value))) {
      const cg = `/kukeon/${c.realm}/${c.space}/${c.stack}/${c.name}`;
      expect(world.cgroups.has(cg), `leaked cgroup ${cg}`).toBe(false);
      const dir = `/logs/${c.realm}/${c.space}/${c.stack}/${c.name}/`;
      const logs = [...world.logFiles].filter((path) => path.includes(dir));
      if (!c.keepLogs) expect(logs, `leaked logs of deleted cell ${c.name}`).toEqual([]);
    }
  }
  for (const agg of engine.list('realm/')) {
    const ns = (agg.snapshot.context as { attributes: { namespace: string } | null }).attributes?.namespace;
    if (ns && isGone(String(agg.snapshot.value))) expect(world.namespaces.has(ns), `leaked namespace ${ns}`).toBe(false);
  }
}

/**
 * The cells' /etc files are current once the names keeper has written what it was asked (issue 10, item 5): a gone
 * cell has none left; every Ready cell's hosts file names exactly the Ready cells of its space, with their addresses.
 */
export async function expectNamesCurrent(engine: Engine, world: FakeWorld): Promise<void> {
  await drainCellNames(engine);
  const cells = engine.list('cell/').map((agg) => ({ state: String(agg.snapshot.value), c: agg.snapshot.context as CellContext }));
  for (const { state, c } of cells) {
    const prefix = `${c.realm}/${c.space}/${c.stack}/${c.name}/`;
    if (isGone(state)) expect([...world.cellFiles.keys()].filter((k) => k.startsWith(prefix)), `leaked /etc files of deleted cell ${c.name}`).toEqual([]);
    if (state !== 'Ready') continue;
    const named = (world.cellFiles.get(`${prefix}hosts`) ?? '')
      .split('\n')
      .filter((line) => /^\d+\.\d+\.\d+\.\d+\t/.test(line) && !line.startsWith('127.'))
      .sort();
    const expected = cells
      .filter((o) => o.state === 'Ready' && o.c.realm === c.realm && o.c.space === c.space && o.c.address)
      .map((o) => `${o.c.address!.split('/')[0]}\t${o.c.name} ${o.c.name}.${o.c.space}`)
      .sort();
    expect(named, `hosts file of Ready cell ${c.name}`).toEqual(expected);
  }
}

/** Every acknowledged record is in the log with the same hash. */
export async function expectAcknowledgedKept(store: EventStore, acknowledged: EventRecord[]): Promise<void> {
  const bySeq = new Map<number, EventRecord>();
  for await (const batch of store.readAll()) for (const r of batch) bySeq.set(r.seq, r);
  for (const r of acknowledged) expect(bySeq.get(r.seq)?.hash, `acknowledged record ${r.seq} (${r.type}) lost`).toBe(r.hash);
}

export { AGGREGATES };
