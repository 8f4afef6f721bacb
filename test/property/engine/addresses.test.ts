/**
 * Cell addresses under random sequences of creates (with and without a static ip), starts, stops and deletes of
 * cells in one space, on the fake runtime: no two live cells ever hold one address, none is outside the space's
 * subnet or one of its reserved addresses, a cell keeps its address for its whole life, a running cell is attached
 * with exactly its address, and a static ip is refused exactly when another live cell holds it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressProblem } from '../../../src/engine/cell-network.js';
import { openEngine } from '../../../src/engine/index.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { isKukeError } from '../../../src/errors.js';
import type { CellView, SpaceView } from '../../../src/model/resources.js';
import { template, user } from '../../support/fake-engine.js';
import { MemoryStore } from '../../support/memory-store.js';
import { announceSeed, ENGINE_CONFIG, newWorld, RUNS, SEED } from './world.js';

const CELLS = ['a', 'b', 'c', 'd', 'e'];
type Op = { op: 'create'; cell: string; ip?: number } | { op: 'start' | 'stop' | 'delete'; cell: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('create' as const), cell: fc.constantFrom(...CELLS), ip: fc.option(fc.integer({ min: 2, max: 6 }), { nil: undefined }) }),
  fc.record({ op: fc.constantFrom('start' as const, 'stop' as const, 'delete' as const), cell: fc.constantFrom(...CELLS) }),
);

describe('cell addresses (fake runtime)', () => {
  announceSeed('addresses');
  it('never gives two live cells one address, never one outside the subnet, and never moves a cell', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 25 }), async (ops) => {
        const world = newWorld();
        const opened = await openEngine({ store: new MemoryStore(catalogCodec), runtime: world.runtime(), config: ENGINE_CONFIG });
        const o = opened.operations;
        try {
          await o.createRealm({ name: 'r' }, user);
          const space = (await o.createSpace({ realm: 'r', space: 's' }, user)).view as SpaceView;
          await o.createStack({ realm: 'r', space: 's', stack: 't' }, user);
          const subnet = space.network.subnet;
          const prefix = subnet.split('.').slice(0, 3).join('.');
          const ref = (cell: string) => ({ realm: 'r', space: 's', stack: 't', cell });
          const addressOf = new Map<string, string>();
          const live = () => (o.query({ kind: 'cell', realm: 'r', space: 's', stack: 't' }) as CellView[]).filter((c) => c.state !== 'Deleted');
          for (const step of ops) {
            const exists = addressOf.has(step.cell);
            if (step.op === 'create') {
              const ip = step.ip === undefined ? undefined : `${prefix}.${step.ip}`;
              const heldByOther = ip !== undefined && [...addressOf].some(([cell, held]) => cell !== step.cell && held === ip);
              const differs = exists && ip !== undefined && addressOf.get(step.cell) !== ip;
              const result = await o.createCell({ ...ref(step.cell), template: { ...template(), ...(ip ? { ip } : {}) } }, user).catch((e: unknown) => e);
              if (heldByOther) expect(isKukeError(result, 'AlreadyExists')).toBe(true);
              else if (differs) expect((result as Error).message).toMatch(/already exists with a different spec/);
              else expect(result).not.toBeInstanceOf(Error);
            } else if (exists) {
              const act = step.op === 'start' ? o.startCell(ref(step.cell), user) : step.op === 'stop' ? o.stopCell(ref(step.cell), user, { mode: 'kill' }) : o.deleteCell(ref(step.cell), user);
              // Starting a running cell is refused; nothing else may fail.
              await act.catch((e: unknown) => expect(step.op === 'start' && isKukeError(e, 'FailedPrecondition')).toBe(true));
            }
            await opened.engine.settle();
            const cells = live();
            const ips = cells.map((c) => c.template!.ip!);
            expect(new Set(ips).size).toBe(ips.length);
            for (const ip of ips) expect(addressProblem(subnet, ip)).toBeUndefined();
            for (const c of cells) {
              // A cell keeps the address it was created with until it is deleted.
              expect(c.template!.ip).toBe(addressOf.get(c.name) ?? c.template!.ip);
              addressOf.set(c.name, c.template!.ip!);
              if (c.state === 'Ready') expect(c.address).toBe(`${c.template!.ip}/24`);
            }
            for (const cell of [...addressOf.keys()]) if (!cells.some((c) => c.name === cell)) addressOf.delete(cell);
            const attached = [...world.attachments.values()].map((a) => a.address);
            expect(new Set(attached).size).toBe(attached.length);
          }
        } finally {
          await opened.close().catch(() => undefined);
        }
      }),
      { seed: SEED, numRuns: Math.min(RUNS, 200), endOnFailure: true },
    );
  });
});
