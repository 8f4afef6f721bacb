/**
 * Old logs replay forever. test/fixtures/logs/ keeps a log written by each released version, with the states its
 * aggregates ended in. Every fixture is replayed by today's machines and must end in exactly those states; a
 * change that breaks this needs an upcaster or a versioned branch, never an edited fixture.
 *
 * KUKEON_WRITE_FIXTURE=<version> writes a new fixture from the scenario below (once per release).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EventRecord } from '../../../events/record.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { Engine } from '../../../src/engine/engine.js';
import { openEngine } from '../../../src/engine/index.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { MemoryStore } from '../../support/memory-store.js';

const DIR = join(process.cwd(), 'test/fixtures/logs');

interface Fixture {
  version: string;
  records: EventRecord[];
  states: Record<string, { value: string; context: unknown }>;
}

function statesOf(engine: Engine): Fixture['states'] {
  const out: Fixture['states'] = {};
  for (const agg of engine.all()) out[agg.stream] = { value: String(agg.snapshot.value), context: agg.snapshot.context };
  return out;
}

/** A life that touches every machine: scopes, cells with two containers, exits, stops, a delete, the daemon. */
async function scenario(): Promise<{ store: MemoryStore; engine: Engine }> {
  const world = new FakeWorld();
  world.addImage('busybox');
  const store = new MemoryStore(catalogCodec);
  let clock = Date.UTC(2026, 10, 28);
  const now = () => new Date((clock += 1000));
  const opened = await openEngine({ store, runtime: world.runtime(), config: { runPath: '/tmp/kukeon-golden', ipMasq: false }, now });
  const o = { actor: { type: 'user' as const, uid: 0, pid: 1 } };
  const ops = opened.operations;
  await opened.engine.dispatch('daemon/kukeond', 'DaemonStarted', { pid: 1, version: '0.1.0', replayed: 0, readyMs: 1, uncleanShutdown: false }, { actor: { type: 'daemon' } });
  await ops.createRealm({ name: 'r' }, o);
  await ops.createSpace({ realm: 'r', space: 's' }, o);
  await ops.createStack({ realm: 'r', space: 's', stack: 't' }, o);
  const c = (name: string) => ({ name, image: 'busybox', command: [], args: ['sleep', '1'], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' as const });
  const ref = (cell: string) => ({ realm: 'r', space: 's', stack: 't', cell });
  await ops.createCell({ ...ref('a'), template: { root: 'main', containers: [c('main'), c('side')], labels: {} }, start: true }, o);
  await ops.createCell({ ...ref('b'), template: { root: 'main', containers: [c('main')], labels: {} }, start: true }, o);
  world.exitTask('r.kukeon.io', 's_t_a_side', 1);
  world.exitTask('r.kukeon.io', 's_t_b_root', 7);
  await opened.engine.settle();
  await ops.stopCell(ref('a'), o, { mode: 'stop', graceMs: 0 });
  await ops.startCell(ref('b'), o);
  await ops.createCell({ ...ref('gone'), template: { root: 'main', containers: [c('main')], labels: {} }, start: true }, o);
  await ops.deleteCell(ref('gone'), o);
  await opened.engine.dispatch('daemon/kukeond', 'DaemonStopped', { pid: 1, reason: 'SIGTERM' }, { actor: { type: 'daemon' } });
  await opened.engine.settle();
  return { store, engine: opened.engine };
}

describe('golden logs', () => {
  it('writes a fixture when asked (release time only)', async () => {
    const version = process.env.KUKEON_WRITE_FIXTURE;
    if (!version) return;
    const { store, engine } = await scenario();
    const fixture: Fixture = { version, records: store.records, states: statesOf(engine) };
    writeFileSync(join(DIR, `v${version}.json`), `${JSON.stringify(fixture, null, 1)}\n`);
  });

  const fixtures = existsSync(DIR) ? readdirSync(DIR).filter((f) => f.endsWith('.json')) : [];
  it('has at least one fixture', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  for (const file of fixtures) {
    it(`replays ${file} to the states it recorded`, async () => {
      const fixture = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Fixture;
      const store = new MemoryStore(catalogCodec);
      store.records.push(...fixture.records);
      const engine = await Engine.open({ store, ignoreSnapshots: true });
      // Recorded fields must be exactly as they were; fields added to a context since then are allowed.
      const now = statesOf(engine);
      expect(Object.keys(now).sort()).toEqual(Object.keys(fixture.states).sort());
      expect(now).toMatchObject(fixture.states);
    });
  }
});
