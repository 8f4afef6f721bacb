/**
 * Crash anywhere, then converge. A scheduler decides when each append becomes durable and when each runtime
 * call completes; the engine is killed after a random number of those steps (between append and effect, between
 * effect and result, in the middle of a saga…), the runtime finishes what it was doing (containerd is another
 * process), and a new engine opens the same LevelDB log, replays and reconciles. Then:
 * - nothing is stuck in a transient state, and the engine agrees with the runtime;
 * - nothing leaked (no task, container, address, cgroup or namespace without an owner);
 * - every event acknowledged before the crash is still in the log;
 * - folding the log from scratch gives the live state.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventRecord } from '../../../events/record.js';
import type { CellTemplate } from '../../../events/specs.js';
import { openEngine } from '../../../src/engine/index.js';
import type { EventStore } from '../../../src/store/types.js';
import { ErrorKind, KukeError } from '../../../src/errors.js';
import { announceSeed, createLog, ENGINE_CONFIG, expectAcknowledgedKept, expectConsistent, expectNamesCurrent, foldLog, newWorld, openLog, RUNS, SEED, stateOf, tempLogDir } from './world.js';
import { template as cellTemplate } from '../../support/fake-engine.js';

type Op =
  | { kind: 'apply'; cell: string; containers: 1 | 2 }
  | { kind: 'start' | 'stop' | 'kill' | 'delete'; cell: string }
  | { kind: 'exit'; cell: string; code: number };

const actor = { actor: { type: 'user' as const, uid: 0 } };
const ref = (cell: string) => ({ realm: 'r', space: 's', stack: 't', cell });

function template(containers: 1 | 2): CellTemplate {
  return cellTemplate('busybox', containers === 2 ? ['side'] : []);
}

/** A store whose appends wait for the scheduler and that writes nothing once its process is "dead". */
class CrashableStore implements EventStore {
  dead = false;
  gate: () => Promise<void> = () => Promise.resolve();
  readonly acknowledged: EventRecord[] = [];
  constructor(readonly inner: EventStore) {}
  head() {
    return this.inner.head();
  }
  streamVersion(stream: string) {
    return this.inner.streamVersion(stream);
  }
  async append(...args: Parameters<EventStore['append']>) {
    await this.gate();
    if (this.dead) throw new KukeError(ErrorKind.Unavailable, 'process killed');
    const records = await this.inner.append(...args);
    if (!this.dead) this.acknowledged.push(...records);
    return records;
  }
  readAll(...args: Parameters<EventStore['readAll']>) {
    return this.inner.readAll(...args);
  }
  readStreams(...args: Parameters<EventStore['readStreams']>) {
    return this.inner.readStreams(...args);
  }
  listStreams(prefix: string) {
    return this.inner.listStreams(prefix);
  }
  loadSnapshots() {
    return this.inner.loadSnapshots();
  }
  async writeCheckpoint(...args: Parameters<EventStore['writeCheckpoint']>) {
    await this.gate();
    if (this.dead) throw new KukeError(ErrorKind.Unavailable, 'process killed');
    return this.inner.writeCheckpoint(...args);
  }
  verifyUpTo(point: { seq: number; hash: string }) {
    return this.inner.verifyUpTo(point);
  }
  verify() {
    return this.inner.verify();
  }
  async close() {
    if (!this.dead) await this.inner.close();
  }
}

const cellArb = fc.constantFrom('c1', 'c2');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('apply' as const), cell: cellArb, containers: fc.constantFrom<1 | 2>(1, 2) }),
  fc.record({ kind: fc.constantFrom('start' as const, 'stop' as const, 'kill' as const, 'delete' as const), cell: cellArb }),
  fc.record({ kind: fc.constant('exit' as const), cell: cellArb, code: fc.integer({ min: 0, max: 2 }) }),
);

async function runOp(opened: Awaited<ReturnType<typeof openEngine>>, world: ReturnType<typeof newWorld>, op: Op): Promise<void> {
  const ops = opened.operations;
  switch (op.kind) {
    case 'apply':
      await ops.applyCell({ ...ref(op.cell), template: template(op.containers) }, actor);
      return;
    case 'start':
      await ops.startCell(ref(op.cell), actor);
      return;
    case 'stop':
    case 'kill':
      await ops.stopCell(ref(op.cell), actor, { mode: op.kind, graceMs: 0 });
      return;
    case 'delete':
      await ops.deleteCell(ref(op.cell), actor);
      return;
    case 'exit':
      world.exitTask('r.kukeon.io', `s_t_${op.cell}_root`, op.code);
  }
}

describe('crash anywhere (real LevelDB, fake runtime)', () => {
  announceSeed('crash');
  it('converges after a kill at any await point: nothing lost, nothing leaked, fold equals live', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.tuple(fc.record({ kind: fc.constant('apply' as const), cell: cellArb, containers: fc.constantFrom<1 | 2>(1, 2) }), fc.array(opArb, { maxLength: 5 })).map(([first, rest]) => [first as Op, ...rest]),
        fc.nat({ max: 60 }),
        async (s, ops, crashAfter) => {
          const { dir, cleanup } = tempLogDir();
          const world = newWorld();
          const store = new CrashableStore(await createLog(dir));
          const first = await openEngine({ store, runtime: world.runtime(), config: ENGINE_CONFIG });
          try {
            await first.operations.createRealm({ name: 'r' }, actor);
            await first.operations.createSpace({ realm: 'r', space: 's' }, actor);
            await first.operations.createStack({ realm: 'r', space: 's', stack: 't' }, actor);

            // From here on, durability and runtime progress are in the scheduler's hands.
            store.gate = () => s.schedule(Promise.resolve(), 'append').then(() => undefined);
            world.io = (label) => s.schedule(Promise.resolve(), label).then(() => undefined);
            let chain: Promise<void> = Promise.resolve();
            for (const op of ops) chain = chain.then(() => runOp(first, world, op).catch(() => undefined));
            for (let step = 0; step < crashAfter; step++) {
              if (s.count() === 0) await new Promise((r) => setImmediate(r));
              if (s.count() === 0) break;
              await s.waitNext(1);
            }
            first.crash();
            store.dead = true;
            await s.waitIdle();
            world.io = () => Promise.resolve();
            await store.inner.close();

            const reopenedStore = await openLog(dir);
            const second = await openEngine({ store: reopenedStore, runtime: world.runtime(), config: ENGINE_CONFIG });
            await second.engine.settle();
            expectConsistent(second.engine, world);
            await expectNamesCurrent(second.engine, world);
            await expectAcknowledgedKept(reopenedStore, store.acknowledged);
            const live = stateOf(second.engine);
            await second.close({ graceMs: 1000 });
            const foldStore = await openLog(dir);
            const folded = await foldLog(foldStore);
            expect(stateOf(folded)).toEqual(live);
            await foldStore.close();
          } finally {
            cleanup();
          }
        },
      ),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  });
});
