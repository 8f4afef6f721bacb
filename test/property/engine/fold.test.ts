/**
 * Fold == live. For every aggregate kind, random event sequences (each starting with the shortest path to one of
 * the machine's states, from @xstate/graph, so deep states are reached) go through a live XState actor and
 * through the engine's pure fold; both must give the same state, and so must a snapshot round-tripped through
 * JSON (what a checkpoint stores). Then, on a real LevelDB log, an engine replaying from a checkpoint must equal
 * one that folds the whole log.
 */
import { getShortestPaths } from '@xstate/graph';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor, initialTransition, transition, type AnyStateMachine } from 'xstate';
import { AGGREGATES, type AggregateKind } from '../../../machines/index.js';
import { Engine } from '../../../src/engine/engine.js';
import { openEngine } from '../../../src/engine/index.js';
import { announceSeed, createLog, ENGINE_CONFIG, newWorld, openLog, SEED, stateOf, tempLogDir } from './world.js';

const image = { name: 'main', image: 'busybox', command: [], args: [], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' };
const network = { name: 'r-s', bridge: 'k-00000000', subnet: '10.88.0.0/24', ipMasq: false };
const error = { kind: 'Internal', message: 'boom' };
/** The two ways out that every live state accepts (machines/live.ts). */
const LIVE = [
  { type: 'ReconcileFailed', step: 'healCgroups', error },
  { type: 'ForceDeleted', leftovers: [] },
  { type: 'ForceDeleted', leftovers: [{ resource: 'cgroup /kukeon/r', error }] },
];

/** A few concrete events of every type each machine handles (pids small so guards sometimes match). */
const EVENTS: Record<AggregateKind, { type: string; [k: string]: unknown }[]> = {
  realm: [
    { type: 'CreateRealm', namespace: 'r.kukeon.io', labels: {}, system: false },
    { type: 'CreateRealm', namespace: 'r.kukeon.io', labels: {}, system: true },
    { type: 'RealmProvisioned', cgroupPath: '/kukeon/r' },
    { type: 'UpdateRealm', labels: { a: 'b' } },
    { type: 'DeleteRealm', children: 0, force: false },
    { type: 'DeleteRealm', children: 1, force: true },
    { type: 'RealmDeprovisioned' },
    { type: 'EffectFailed', effect: 'provisionRealm', error },
    ...LIVE,
  ],
  space: [
    { type: 'CreateSpace', network, labels: {} },
    { type: 'SpaceProvisioned', cgroupPath: '/kukeon/r/s' },
    { type: 'UpdateSpace', labels: {} },
    { type: 'DeleteSpace', children: 0 },
    { type: 'SpaceDeprovisioned' },
    { type: 'EffectFailed', effect: 'provisionSpace', error },
    ...LIVE,
  ],
  stack: [
    { type: 'CreateStack', labels: {} },
    { type: 'StackProvisioned', cgroupPath: '/kukeon/r/s/t' },
    { type: 'DeleteStack', children: 0 },
    { type: 'StackDeprovisioned' },
    { type: 'EffectFailed', effect: 'provisionStack', error },
    ...LIVE,
  ],
  cell: [
    { type: 'CreateCell', template: { root: 'main', containers: [image], labels: {} } },
    { type: 'UpdateCell', template: { root: 'main', containers: [image], labels: { x: 'y' } } },
    { type: 'StartCell' },
    { type: 'CellStarted', rootPid: 1, address: '10.88.0.2/24' },
    { type: 'StopCell', mode: 'stop', graceMs: 10 },
    { type: 'StopCell', mode: 'kill', graceMs: 0 },
    { type: 'ContainerExited', container: 'c_root', root: true, code: 1 },
    { type: 'ContainerExited', container: 'side', root: false, code: 0 },
    { type: 'ContainerFailing', container: 'side' },
    { type: 'ContainerFailing', container: 'log' },
    { type: 'ContainerRecovered', container: 'side' },
    { type: 'ContainerRecovered', container: 'log' },
    { type: 'CellStopped' },
    { type: 'DeleteCell' },
    { type: 'CellDeleted' },
    { type: 'EffectFailed', effect: 'startCell', error },
    ...LIVE,
  ],
  container: [
    { type: 'CreateContainer', template: image, root: true, namespace: 'r.kukeon.io', containerdId: 's_t_c_root' },
    { type: 'CreateContainer', template: { ...image, restartPolicy: 'always' }, root: false, namespace: 'r.kukeon.io', containerdId: 's_t_c_side' },
    { type: 'ContainerCreated' },
    { type: 'UpdateContainer', template: { ...image, args: ['x'] } },
    { type: 'StartContainer', network: { mode: 'new' } },
    { type: 'StartContainer', network: { mode: 'join', path: '/proc/1/ns/net' } },
    { type: 'StartContainer', network: { mode: 'new', attach: { network: 'r-s', options: { ip: '10.88.0.7' } } } },
    { type: 'TaskStarted', pid: 1 },
    { type: 'TaskStarted', pid: 1, address: '10.88.0.7/24' },
    { type: 'TaskStarted', pid: 2 },
    { type: 'StopContainer', signal: 'SIGTERM', graceMs: 5 },
    { type: 'TaskExited', pid: 1, code: 0 },
    { type: 'TaskExited', pid: 2, code: 137, signal: 'SIGKILL' },
    { type: 'TaskLost' },
    { type: 'TaskOomKilled' },
    { type: 'RestartScheduled', attempt: 1, notBefore: '2026-01-01T00:00:00.000Z' },
    { type: 'RestartScheduled', attempt: 2, notBefore: '2026-01-01T00:00:30.000Z' },
    { type: 'StartContainer', network: { mode: 'new' }, restart: { attempt: 1 } },
    { type: 'StartContainer', network: { mode: 'new' }, restart: { attempt: 2 } },
    { type: 'RestartsExhausted', attempts: 2 },
    { type: 'RestartsReset' },
    { type: 'DeleteContainer' },
    { type: 'ContainerDeleted' },
    { type: 'EffectFailed', effect: 'startContainer', error },
    ...LIVE,
  ],
  daemon: [
    { type: 'DaemonStarted', pid: 1, version: '0.1.0', replayed: 0, readyMs: 1, uncleanShutdown: false },
    { type: 'DaemonStarted', pid: 2, version: '0.1.0', replayed: 3, readyMs: 1, uncleanShutdown: true },
    { type: 'DaemonStopped', pid: 1, reason: 'SIGTERM' },
  ],
  secret: [
    { type: 'CreateSecret', keys: ['password'], digest: 'hmac-sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', labels: {} },
    { type: 'UpdateSecret', keys: ['password', 'user'], digest: 'hmac-sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', labels: { a: 'b' } },
    { type: 'DeleteSecret', users: [], force: false },
    { type: 'DeleteSecret', users: ['t/c'], force: false },
    { type: 'DeleteSecret', users: ['t/c'], force: true },
    ...LIVE,
  ],
};

const INPUTS: Record<AggregateKind, unknown> = {
  realm: { realm: 'r' },
  space: { realm: 'r', space: 's' },
  stack: { realm: 'r', space: 's', stack: 't' },
  cell: { realm: 'r', space: 's', stack: 't', name: 'c' },
  container: { realm: 'r', space: 's', stack: 't', cell: 'c', name: 'c_root' },
  daemon: undefined,
  secret: { realm: 'r', space: 's', name: 'db' },
};

function shortestPrefixes(machine: AnyStateMachine, kind: AggregateKind): { type: string }[][] {
  const paths = getShortestPaths(machine, {
    events: EVENTS[kind] as never,
    input: INPUTS[kind],
    serializeState: (s: { value: unknown }) => JSON.stringify(s.value),
  } as never);
  return paths.map((p) => p.steps.map((step) => step.event as { type: string }).filter((e) => !e.type.startsWith('xstate.')));
}

function pureFold(machine: AnyStateMachine, input: unknown, events: { type: string }[]) {
  let [snapshot] = initialTransition(machine, input);
  for (const e of events) if (snapshot.can(e)) [snapshot] = transition(machine, snapshot, e);
  return snapshot;
}

describe('fold == live', () => {
  announceSeed('fold');
  for (const kind of Object.keys(AGGREGATES) as AggregateKind[]) {
    it(`folds ${kind} events exactly as a live actor processes them, and restores from JSON`, () => {
      const machine = AGGREGATES[kind].machine;
      const prefixes = shortestPrefixes(machine, kind);
      expect(prefixes.length).toBeGreaterThanOrEqual(AGGREGATES[kind].states.length - (kind === 'daemon' ? 1 : 0) - 1);
      fc.assert(
        fc.property(fc.constantFrom(...prefixes), fc.array(fc.constantFrom(...EVENTS[kind]), { maxLength: 30 }), (prefix, tail) => {
          const events = [...prefix, ...tail];
          // Effects are requested, never executed, so the live actor needs no implementations provided.
          const actor = createActor(machine, { input: INPUTS[kind] }).start();
          for (const e of events) if (actor.getSnapshot().can(e)) actor.send(e);
          const live = actor.getSnapshot();
          const folded = pureFold(machine, INPUTS[kind], events);
          expect(folded.value).toEqual(live.value);
          expect(folded.context).toEqual(live.context);
          const persisted = JSON.parse(JSON.stringify(machine.getPersistedSnapshot(folded))) as { value: never; context: never };
          const restored = machine.resolveState({ value: persisted.value, context: persisted.context });
          expect(restored.value).toEqual(folded.value);
          expect(restored.context).toEqual(folded.context);
          for (const e of EVENTS[kind]) expect(restored.can(e)).toBe(folded.can(e));
          actor.stop();
        }),
        { seed: SEED, numRuns: 300 },
      );
    });
  }

  it('replays from a checkpoint to the same state as a fold of the whole LevelDB log', async () => {
    const { dir, cleanup } = tempLogDir();
    try {
      const world = newWorld();
      const store = await createLog(dir);
      const opened = await openEngine({ store, runtime: world.runtime(), config: { ...ENGINE_CONFIG, checkpointEvery: 7 } });
      const actor = { actor: { type: 'user' as const } };
      await opened.operations.createRealm({ name: 'r' }, actor);
      await opened.operations.createSpace({ realm: 'r', space: 's' }, actor);
      await opened.operations.createStack({ realm: 'r', space: 's', stack: 't' }, actor);
      for (let i = 0; i < 4; i++) {
        const ref = { realm: 'r', space: 's', stack: 't', cell: `c${i}` };
        await opened.operations.createCell({ ...ref, template: { root: 'main', containers: [image as never], labels: {} }, start: true }, actor);
        if (i % 2) await opened.operations.stopCell(ref, actor, { mode: 'kill' });
      }
      const live = stateOf(opened.engine);
      await opened.close();
      const fromCheckpoint = await Engine.open({ store: await openLog(dir), config: ENGINE_CONFIG });
      expect(fromCheckpoint.replayStats.fromSnapshots).toBeGreaterThan(0);
      expect(stateOf(fromCheckpoint)).toEqual(live);
      await fromCheckpoint.store.close();
      const full = await Engine.open({ store: await openLog(dir), config: ENGINE_CONFIG, ignoreSnapshots: true });
      expect(full.replayStats.fromSnapshots).toBe(0);
      expect(stateOf(full)).toEqual(live);
      await full.store.close();
    } finally {
      cleanup();
    }
  });
});
