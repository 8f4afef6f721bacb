/**
 * The two ways out that no stored state can block (machines/live.ts): every live state of every kind goes Failed on
 * ReconcileFailed (keeping the error) and Deleted on ForceDeleted; Absent and Deleted accept neither. Each state is
 * reached by its shortest path (@xstate/graph), so a state added later is covered without editing this test.
 */
import { getShortestPaths } from '@xstate/graph';
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyStateMachine } from 'xstate';
import { AGGREGATES, isGone, type AggregateKind } from '../../../machines/index.js';
import { describeRejection } from '../../../machines/rejections.js';

const image = { name: 'main', image: 'busybox', command: [], args: [], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' };
const error = { kind: 'Internal', message: 'boom' };
const failure = { type: 'EffectFailed', effect: 'x', error };

/** Enough events to reach every state of each kind. */
const EVENTS: Record<Exclude<AggregateKind, 'daemon'>, { type: string; [k: string]: unknown }[]> = {
  realm: [
    { type: 'CreateRealm', namespace: 'r.kukeon.io', labels: {}, system: false },
    { type: 'RealmProvisioned', cgroupPath: '/kukeon/r' },
    { type: 'DeleteRealm', children: 0, force: false },
    { type: 'RealmDeprovisioned' },
    failure,
  ],
  space: [
    { type: 'CreateSpace', network: { name: 'r-s', bridge: 'k-00000000', subnet: '10.88.0.0/24', ipMasq: false }, labels: {} },
    { type: 'SpaceProvisioned', cgroupPath: '/kukeon/r/s' },
    { type: 'UpdateSpace', labels: {}, allowFrom: ['other'] },
    { type: 'DeleteSpace', children: 0 },
    { type: 'SpaceDeprovisioned' },
    failure,
  ],
  stack: [{ type: 'CreateStack', labels: {} }, { type: 'StackProvisioned', cgroupPath: '/kukeon/r/s/t' }, { type: 'DeleteStack', children: 0 }, { type: 'StackDeprovisioned' }, failure],
  cell: [
    { type: 'CreateCell', template: { root: 'main', containers: [image], labels: {} } },
    { type: 'StartCell' },
    { type: 'CellStarted', rootPid: 1 },
    { type: 'ContainerFailing', container: 'side' },
    { type: 'StopCell', mode: 'stop', graceMs: 10 },
    { type: 'ContainerExited', container: 'c_root', root: true, code: 1 },
    { type: 'CellStopped' },
    { type: 'DeleteCell' },
    { type: 'CellDeleted' },
    failure,
  ],
  container: [
    { type: 'CreateContainer', template: image, root: true, namespace: 'r.kukeon.io', containerdId: 's_t_c_root' },
    { type: 'ContainerCreated' },
    { type: 'StartContainer', network: { mode: 'new' } },
    { type: 'TaskStarted', pid: 1 },
    { type: 'StopContainer', signal: 'SIGTERM', graceMs: 5 },
    { type: 'TaskExited', pid: 1, code: 0 },
    { type: 'DeleteContainer' },
    { type: 'ContainerDeleted' },
    failure,
  ],
  secret: [
    { type: 'CreateSecret', keys: ['password'], digest: 'hmac-sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', labels: {} },
    { type: 'DeleteSecret', users: [], force: false },
    { type: 'ReconcileFailed', step: 'checkSecrets', error },
  ],
};

const INPUTS: Record<Exclude<AggregateKind, 'daemon'>, unknown> = {
  realm: { realm: 'r' },
  space: { realm: 'r', space: 's' },
  stack: { realm: 'r', space: 's', stack: 't' },
  cell: { realm: 'r', space: 's', stack: 't', name: 'c' },
  container: { realm: 'r', space: 's', stack: 't', cell: 'c', name: 'c_root' },
  secret: { realm: 'r', space: 's', name: 'db' },
};

/** One snapshot in each state of the machine, reached by the shortest path (why a cell stops counts: Exited needs it). */
function everyState(kind: Exclude<AggregateKind, 'daemon'>) {
  const machine: AnyStateMachine = AGGREGATES[kind].machine;
  const paths = getShortestPaths(machine, { events: EVENTS[kind] as never, input: INPUTS[kind], serializeState: (s: { value: unknown; context: { stop?: unknown } }) => JSON.stringify([s.value, s.context.stop ?? null]) } as never);
  const byState = new Map<string, ReturnType<typeof initialTransition>[0]>();
  for (const path of paths) {
    let [snapshot] = initialTransition(machine, INPUTS[kind]);
    for (const step of path.steps) {
      const e = step.event as { type: string };
      if (!e.type.startsWith('xstate.')) [snapshot] = transition(machine, snapshot, e);
    }
    byState.set(String(snapshot.value), snapshot);
  }
  return { machine, byState };
}

const reconcileFailed = { type: 'ReconcileFailed', step: 'collectGarbage', error: { kind: 'InvalidArgument', message: 'namespace validation' } };
const forceDeleted = { type: 'ForceDeleted', leftovers: [{ resource: 'containerd namespace Bad NS!', error: { kind: 'InvalidArgument', message: 'namespace validation' } }] };

describe('ways out of every state', () => {
  for (const kind of ['realm', 'space', 'stack', 'cell', 'container'] as const) {
    it(`reaches every ${kind} state in this test`, () => {
      const { byState } = everyState(kind);
      expect([...byState.keys()].sort()).toEqual([...AGGREGATES[kind].states].sort());
    });

    it(`removes a ${kind} from the live state on ForceDeleted, whatever live state it is in, and requests no effect`, () => {
      const { machine, byState } = everyState(kind);
      for (const [state, snapshot] of byState) {
        if (isGone(state)) continue;
        expect(snapshot.can(forceDeleted), `${kind} ${state}`).toBe(true);
        const [next, actions] = transition(machine, snapshot, forceDeleted);
        expect(String(next.value), `${kind} ${state}`).toBe('Deleted');
        expect(actions, `${kind} ${state}`).toEqual([]);
      }
    });

    it(`marks a ${kind} Failed with the reconcile error in every live state`, () => {
      const { machine, byState } = everyState(kind);
      for (const [state, snapshot] of byState) {
        if (isGone(state)) continue;
        const [next, actions] = transition(machine, snapshot, reconcileFailed);
        expect(String(next.value), `${kind} ${state}`).toBe('Failed');
        expect((next.context as { error: unknown }).error, `${kind} ${state}`).toEqual(reconcileFailed.error);
        expect(actions.filter((a) => Object.values(AGGREGATES[kind].transient).includes(a.type)), `${kind} ${state}`).toEqual([]);
      }
    });

    it(`refuses both for a ${kind} that does not exist (Absent, Deleted)`, () => {
      const { byState } = everyState(kind);
      for (const state of ['Absent', 'Deleted']) {
        const snapshot = byState.get(state)!;
        expect(snapshot.can(forceDeleted), `${kind} ${state}`).toBe(false);
        expect(snapshot.can(reconcileFailed), `${kind} ${state}`).toBe(false);
        expect(describeRejection(kind, `${kind} "x"`, state, forceDeleted).message).toBe(`${kind} "x" does not exist`);
      }
    });
  }

  it('lets a force-deleted cell be created again (a new life of the same stream)', () => {
    const { machine, byState } = everyState('cell');
    const [deleted] = transition(machine, byState.get('Ready')!, forceDeleted);
    const [again] = transition(machine, deleted, EVENTS.cell[0]!);
    expect(String(again.value)).toBe('Pending');
    expect((again.context as { rootPid: unknown }).rootPid).toBeNull();
  });
});
