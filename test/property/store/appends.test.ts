/**
 * Random concurrent appends to several streams (each append one or more events, some with an expected version)
 * on a real LevelDB: whatever the interleaving, the log holds exactly what was acknowledged, in seq order, with
 * contiguous seqs and per-stream versions and an intact chain — also after a reopen.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LevelEventLog } from '../../../src/store/event-log.js';
import type { EventRecord } from '../../../events/record.js';
import { event, permissiveCodec, tempDir } from '../../support/store.js';

const SEED = Number(process.env.KUKEON_PROPERTY_SEED ?? 20261128);

describe('event log appends (property)', () => {
  it('stores exactly what was acknowledged, contiguous and chained, under any interleaving', async () => {
    process.stderr.write(`[property] store appends: seed=${SEED}\n`);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ stream: fc.constantFrom('a', 'b', 'c'), count: fc.integer({ min: 1, max: 3 }), delay: fc.integer({ min: 0, max: 2 }), checked: fc.boolean() }), { minLength: 1, maxLength: 25 }),
        async (appends) => {
          const t = tempDir();
          try {
            const log = await LevelEventLog.create(t.path, { codec: permissiveCodec });
            const acknowledged: EventRecord[] = [];
            await Promise.all(
              appends.map(async (a, i) => {
                for (let d = 0; d < a.delay; d++) await new Promise((r) => setImmediate(r));
                const stream = `s/${a.stream}`;
                const events = Array.from({ length: a.count }, (_, k) => event(stream, i * 10 + k));
                const expectedVersion = a.checked ? await log.streamVersion(stream) : undefined;
                try {
                  acknowledged.push(...(await log.append(stream, events, expectedVersion === undefined ? {} : { expectedVersion })));
                } catch {
                  // A concurrent append got there first: a Conflict, which must leave nothing behind.
                }
              }),
            );
            await log.close();
            const reopened = await LevelEventLog.open(t.path, { codec: permissiveCodec });
            const stored: EventRecord[] = [];
            for await (const batch of reopened.readAll()) stored.push(...batch);
            expect((await reopened.verify()).ok).toBe(true);
            await reopened.close();
            expect(stored.map((r) => r.seq)).toEqual(stored.map((_, i) => i + 1));
            expect(stored).toEqual([...acknowledged].sort((x, y) => x.seq - y.seq));
            const versions = new Map<string, number>();
            for (const r of stored) {
              expect(r.ver).toBe((versions.get(r.stream) ?? 0) + 1);
              versions.set(r.stream, r.ver);
            }
          } finally {
            t.cleanup();
          }
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });
});
