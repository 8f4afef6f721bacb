/**
 * Model-based test of the engine on a real LevelDB log and the fake runtime: random sequences of user commands,
 * task exits and daemon restarts, checked after every step against a small model of what a cell should be, and
 * against the runtime's reality (nothing leaked, nothing stuck). After each sequence the log is folded from
 * scratch and must equal the live engine.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CellTemplate } from '../../../events/specs.js';
import { isKukeError } from '../../../src/errors.js';
import { openEngine, type OpenedEngine } from '../../../src/engine/index.js';
import type { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import type { EventStore } from '../../../src/store/types.js';
import { announceSeed, createLog, ENGINE_CONFIG, expectConsistent, expectNamesCurrent, foldLog, newWorld, openLog, RUNS, SEED, stateOf, tempLogDir } from './world.js';

type CellState = 'Ready' | 'Stopped' | 'Exited' | 'Failed';
interface ModelCell {
  state: CellState;
  containers: 1 | 2;
  image: 'busybox' | 'missing';
  /** The root runs to its end as soon as it starts, with this code (a one-shot job); undefined: it keeps running. */
  oneShot: number | undefined;
}
type Model = Map<string, ModelCell>;

interface Real {
  world: FakeWorld;
  dir: string;
  store: EventStore;
  opened: OpenedEngine;
}

const actor = { actor: { type: 'user' as const, uid: 0 } };
const CELLS = ['c1', 'c2'] as const;
const ref = (cell: string) => ({ realm: 'r', space: 's', stack: 't', cell });

function template(containers: 1 | 2, image: string): CellTemplate {
  const names = containers === 2 ? ['main', 'side'] : ['main'];
  return {
    root: 'main',
    labels: {},
    containers: names.map((name) => ({ name, image, command: [], args: [], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' })),
  };
}

async function expectMatches(model: Model, real: Real): Promise<void> {
  await real.opened.engine.settle();
  for (const cell of CELLS) {
    const expected = model.get(cell);
    const actual = real.opened.engine.stateOf(`cell/r/s/t/${cell}`);
    expect(actual === 'Absent' || actual === 'Deleted' ? undefined : actual, `cell ${cell}`).toBe(expected?.state);
  }
  expectConsistent(real.opened.engine, real.world);
  await expectNamesCurrent(real.opened.engine, real.world);
}

/** A root that exits as it starts ends its cell Exited with its code, never Failed (issue 10). */
const outcomeOfStart = (cell: ModelCell): CellState => (cell.image === 'missing' ? 'Failed' : cell.oneShot !== undefined ? 'Exited' : 'Ready');

class Apply implements fc.AsyncCommand<Model, Real> {
  constructor(readonly cell: string, readonly containers: 1 | 2, readonly image: 'busybox' | 'missing', readonly oneShot: number | undefined) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const next: ModelCell = { state: 'Ready', containers: this.containers, image: this.image, oneShot: this.oneShot };
    next.state = outcomeOfStart(next);
    // The one-shot is the program's doing, not the template's: the same template may run to its end or keep running.
    const rootId = `s_t_${this.cell}_root`;
    if (this.oneShot === undefined) real.world.exitOnStart.delete(rootId);
    else real.world.exitOnStart.set(rootId, this.oneShot);
    const previous = model.get(this.cell);
    const result = await real.opened.operations.applyCell({ ...ref(this.cell), template: template(this.containers, this.image) }, actor).catch((e) => e);
    if (next.state === 'Failed') expect(isKukeError(result, 'NotFound'), String(result)).toBe(true);
    else if (previous?.state === 'Ready' && previous.containers === this.containers && previous.image === this.image) {
      // Unchanged and running: left alone, whatever its next start would do.
      expect(result.view?.state, String(result)).toBe('Ready');
      next.state = 'Ready';
    } else expect(result.view?.state, String(result)).toBe(next.state);
    if (next.state === 'Exited') expect(result.view.containers[0]).toMatchObject({ state: 'Exited', exitCode: this.oneShot });
    model.set(this.cell, next);
    await expectMatches(model, real);
  }
  toString = () => `Apply(${this.cell}, ${this.containers}, ${this.image}${this.oneShot === undefined ? '' : `, one-shot ${this.oneShot}`})`;
}

class Start implements fc.AsyncCommand<Model, Real> {
  constructor(readonly cell: string) {}
  check = (m: Readonly<Model>) => m.has(this.cell);
  async run(model: Model, real: Real) {
    const cell = model.get(this.cell)!;
    const result = await real.opened.operations.startCell(ref(this.cell), actor).catch((e) => e);
    if (cell.state === 'Ready') expect(isKukeError(result, 'FailedPrecondition'), String(result)).toBe(true);
    else cell.state = outcomeOfStart(cell);
    await expectMatches(model, real);
  }
  toString = () => `Start(${this.cell})`;
}

class Stop implements fc.AsyncCommand<Model, Real> {
  constructor(readonly cell: string, readonly mode: 'stop' | 'kill') {}
  check = (m: Readonly<Model>) => m.has(this.cell);
  async run(model: Model, real: Real) {
    const cell = model.get(this.cell)!;
    await real.opened.operations.stopCell(ref(this.cell), actor, { mode: this.mode, graceMs: 0 });
    if (cell.state === 'Ready' || cell.state === 'Failed') cell.state = 'Stopped';
    await expectMatches(model, real);
  }
  toString = () => `${this.mode === 'kill' ? 'Kill' : 'Stop'}(${this.cell})`;
}

class Delete implements fc.AsyncCommand<Model, Real> {
  constructor(readonly cell: string) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const result = await real.opened.operations.deleteCell(ref(this.cell), actor).catch((e) => e);
    if (!model.has(this.cell)) expect(isKukeError(result, 'NotFound'), String(result)).toBe(true);
    model.delete(this.cell);
    await expectMatches(model, real);
  }
  toString = () => `Delete(${this.cell})`;
}

class Exit implements fc.AsyncCommand<Model, Real> {
  constructor(readonly cell: string, readonly root: boolean, readonly code: number) {}
  check = (m: Readonly<Model>) => m.get(this.cell)?.state === 'Ready';
  async run(model: Model, real: Real) {
    const cell = model.get(this.cell)!;
    const id = `s_t_${this.cell}_${this.root ? 'root' : 'side'}`;
    const exited = real.world.exitTask('r.kukeon.io', id, this.code);
    if (this.root) cell.state = 'Exited';
    await real.opened.engine.settle();
    if (exited && !this.root) {
      const side = real.opened.operations.getCell(ref(this.cell)).containers.find((c) => c.name === 'side');
      expect(side?.exitCode).toBe(this.code);
    }
    await expectMatches(model, real);
  }
  toString = () => `Exit(${this.cell}, ${this.root ? 'root' : 'side'}, ${this.code})`;
}

/** kukeond restarts (optionally with an exit during the outage that no event stream reports). */
class RestartDaemon implements fc.AsyncCommand<Model, Real> {
  constructor(readonly exitWhileDown: string | undefined) {}
  check = () => true;
  async run(model: Model, real: Real) {
    await real.opened.close();
    const cell = this.exitWhileDown ? model.get(this.exitWhileDown) : undefined;
    if (cell?.state === 'Ready') {
      real.world.exitTask('r.kukeon.io', `s_t_${this.exitWhileDown}_root`, 9);
      cell.state = 'Exited';
    }
    real.store = await openLog(real.dir);
    real.opened = await openEngine({ store: real.store, runtime: real.world.runtime(), config: ENGINE_CONFIG });
    await expectMatches(model, real);
  }
  toString = () => `RestartDaemon(${this.exitWhileDown ?? ''})`;
}

const cellArb = fc.constantFrom(...CELLS);
const commands = [
  fc
    .tuple(cellArb, fc.constantFrom<1 | 2>(1, 2), fc.constantFrom<'busybox' | 'missing'>('busybox', 'busybox', 'busybox', 'missing'), fc.constantFrom<number | undefined>(undefined, undefined, 0, 3))
    .map(([c, n, i, o]) => new Apply(c, n, i, o)),
  cellArb.map((c) => new Start(c)),
  fc.tuple(cellArb, fc.constantFrom<'stop' | 'kill'>('stop', 'kill')).map(([c, m]) => new Stop(c, m)),
  cellArb.map((c) => new Delete(c)),
  fc.tuple(cellArb, fc.boolean(), fc.integer({ min: 0, max: 3 })).map(([c, r, code]) => new Exit(c, r, code)),
  fc.option(cellArb, { nil: undefined }).map((c) => new RestartDaemon(c)),
];

describe('engine against a model (real LevelDB, fake runtime)', () => {
  announceSeed('model');
  it('keeps cells as the model says, leaks nothing, and folds back to the live state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 12, size: '+1' }), async (cmds) => {
        const { dir, cleanup } = tempLogDir();
        const world = newWorld();
        const store = await createLog(dir);
        const opened = await openEngine({ store, runtime: world.runtime(), config: ENGINE_CONFIG });
        const real: Real = { world, dir, store, opened };
        try {
          await opened.operations.createRealm({ name: 'r' }, actor);
          await opened.operations.createSpace({ realm: 'r', space: 's' }, actor);
          await opened.operations.createStack({ realm: 'r', space: 's', stack: 't' }, actor);
          await fc.asyncModelRun(() => ({ model: new Map(), real }), cmds);
          await real.opened.engine.settle();
          const live = stateOf(real.opened.engine);
          await real.opened.close({ graceMs: 1000 });
          const store2 = await openLog(dir);
          const folded = await foldLog(store2);
          expect(stateOf(folded)).toEqual(live);
          await store2.close();
        } finally {
          if (!real.opened.engine.isClosed) await real.opened.close().catch(() => undefined);
          cleanup();
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  });
});
