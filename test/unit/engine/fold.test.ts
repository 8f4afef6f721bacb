import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { AGGREGATES, type AggregateKind } from '../../../machines/index.js';
import { foldTransition } from '../../../src/engine/fold.js';

const template = { name: 'main', image: 'busybox', command: [], args: [], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' };
const EVENTS: Partial<Record<AggregateKind, { type: string; [k: string]: unknown }[]>> = {
  container: [
    { type: 'CreateContainer', template, root: false, namespace: 'n', containerdId: 'a_b_c_d' },
    { type: 'ContainerCreated' },
    { type: 'UpdateContainer', template },
    { type: 'StartContainer', network: { mode: 'new' } },
    { type: 'TaskStarted', pid: 5 },
    { type: 'TaskExited', pid: 5, code: 1 },
    { type: 'StopContainer', signal: 'SIGTERM', graceMs: 1 },
    { type: 'TaskLost' },
    { type: 'TaskOomKilled' },
    { type: 'DeleteContainer' },
    { type: 'ContainerDeleted' },
    { type: 'EffectFailed', effect: 'x', error: { kind: 'Internal', message: 'm' } },
  ],
  cell: [
    { type: 'CreateCell', template: { root: 'main', containers: [template], labels: {} } },
    { type: 'UpdateCell', template: { root: 'main', containers: [template], labels: {} } },
    { type: 'StartCell' },
    { type: 'CellStarted', rootPid: 3 },
    { type: 'ContainerExited', container: 'c_root', root: true, code: 0 },
    { type: 'ContainerExited', container: 'x', root: false, code: 0 },
    { type: 'StopCell', mode: 'stop', graceMs: 1 },
    { type: 'CellStopped' },
    { type: 'DeleteCell' },
    { type: 'CellDeleted' },
  ],
};
const INPUT = { container: { realm: 'r', space: 's', stack: 't', cell: 'c', name: 'c_root' }, cell: { realm: 'r', space: 's', stack: 't', name: 'c' } };

describe('foldTransition (reused actor scope)', () => {
  for (const kind of ['container', 'cell'] as const) {
    it(`gives the same snapshots and actions as xstate's transition() for the ${kind} machine`, () => {
      const machine = AGGREGATES[kind].machine;
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...EVENTS[kind]!), { maxLength: 40 }), (events) => {
          let [a] = initialTransition(machine, INPUT[kind]);
          let b = a;
          for (const e of events) {
            const accepted = a.can(e);
            const [na, actionsA] = transition(machine, a, e);
            const [nb, actionsB] = foldTransition(machine, b as never, e);
            expect(nb.value).toEqual(na.value);
            expect(nb.context).toEqual(na.context);
            expect(actionsB.map((x) => [x.type, x.params])).toEqual(actionsA.map((x) => [x.type, x.params]));
            // The replay relies on this: refused events return the same snapshot, accepted ones a new one.
            expect(nb === b).toBe(!accepted);
            a = na;
            b = nb;
          }
        }),
        { seed: 20261128, numRuns: 300 },
      );
    });
  }
});
