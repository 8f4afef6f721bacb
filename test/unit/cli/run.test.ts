/**
 * kuke run (issue 12) as the user sees it, over the engine's backend and the fake runtime: exit codes, --rm, -d,
 * generated names, and the words after the image going to the container.
 */
import { describe, expect, it } from 'vitest';
import { EngineBackend } from '../../../src/api/backend.js';
import type { KukeonClient } from '../../../src/api/client.js';
import { runArgv } from '../../../src/cli/commands/run.js';
import { runKuke } from '../../../src/cli/program.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { openEngine } from '../../../src/engine/index.js';
import type { CellView } from '../../../src/model/resources.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { MemoryStore } from '../../support/memory-store.js';

async function kukeWith(client: KukeonClient, argv: string[]) {
  let out = '';
  let err = '';
  const code = await runKuke(argv, { out: (t) => (out += t), err: (t) => (err += t) }, { daemon: async () => client, inProcess: async () => client }, {});
  return { code, out, err };
}

async function backend() {
  const world = new FakeWorld();
  world.addImage('busybox');
  const opened = await openEngine({ store: new MemoryStore(catalogCodec), runtime: world.runtime(), config: { runPath: '/tmp/kukeon-run-unit', ipMasq: false, startSettleMs: 0 } });
  const client = new EngineBackend(opened, world.runtime(), { type: 'user', uid: 0 });
  await client.createRealm({ name: 'default' });
  await client.createSpace({ realm: 'default', space: 'default' });
  await client.createStack({ realm: 'default', space: 'default', stack: 'default' });
  const cell = async (name: string) =>
    (await client.find({ kind: 'cell', realm: 'default', space: 'default', stack: 'default', name }).catch(() => []))[0] as CellView | undefined;
  return { world, client, cell, engine: opened.engine };
}

describe('kuke run', () => {
  it("exits with the container's code, and the words after the image are the container's, options included", async () => {
    const { world, client, cell } = await backend();
    world.exitOnStart.set('default_default_job_root', 7);
    const r = await kukeWith(client, ['run', '--name', 'job', 'busybox', 'sh', '-c', 'exit 7']);
    expect(r.err).toBe('');
    expect(r.code).toBe(7);
    const view = await cell('job');
    expect(view?.state).toBe('Exited');
    expect(view?.template?.containers[0]).toMatchObject({ image: 'busybox', command: [], args: ['sh', '-c', 'exit 7'] });
    world.exitOnStart.set('default_default_ok_root', 0);
    expect((await kukeWith(client, ['run', '--name', 'ok', 'busybox', 'true'])).code).toBe(0);
  });

  it('waits for a root that runs a while, and --rm deletes the cell once it has the exit code', async () => {
    const { world, client, cell } = await backend();
    const running = kukeWith(client, ['run', '--rm', '--name', 'later', '-e', 'A=1', 'busybox', 'sleep', '1']);
    for (let i = 0; i < 100 && (await cell('later'))?.state !== 'Ready'; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await cell('later'))?.template?.containers[0]).toMatchObject({ env: ['A=1'], args: ['sleep', '1'] });
    expect(world.exitTask('default.kukeon.io', 'default_default_later_root', 3)).toBe(true);
    const r = await running;
    expect(r.code).toBe(3);
    expect(await cell('later')).toBeUndefined();
  });

  it('with -d prints a generated readable name and leaves the cell running; --rm then makes it autoDelete', async () => {
    const { client, cell } = await backend();
    const r = await kukeWith(client, ['run', '-d', 'busybox', 'sleep', '9']);
    expect(r.code).toBe(0);
    const name = r.out.trim();
    expect(name).toMatch(/^[a-z]+-[a-z]+$/);
    expect((await cell(name))?.state).toBe('Ready');
    const rm = await kukeWith(client, ['run', '-d', '--rm', '--name', 'gone-soon', 'busybox', 'sleep', '9']);
    expect(rm.out).toBe('gone-soon\n');
    expect((await cell('gone-soon'))?.template).toMatchObject({ autoDelete: true });
  });

  it('refuses -i and -t on one line, and a bad name, creating nothing', async () => {
    const { client, engine } = await backend();
    const head = engine.headSeq;
    for (const argv of [['run', '-it', 'busybox', 'sh'], ['run', '--name', 'Bad_Name', 'busybox']]) {
      const r = await kukeWith(client, argv);
      expect(r.code).toBe(1);
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    }
    expect(engine.headSeq).toBe(head);
  });
});

describe('run argv', () => {
  const takesValue = (w: string) => ['--name', '-e', '-p', '--socket', '--realm'].includes(w);
  it('puts -- after the image, skipping options and their values before it', () => {
    expect(runArgv(['run', '--name', 'x', '-e', 'A=1', '-d', 'busybox', 'ls', '-p'], takesValue)).toEqual(['run', '--name', 'x', '-e', 'A=1', '-d', 'busybox', '--', 'ls', '-p']);
    expect(runArgv(['--socket', '/s', 'run', '--realm=r', 'busybox'], takesValue)).toEqual(['--socket', '/s', 'run', '--realm=r', 'busybox', '--']);
  });
  it('leaves other commands, and a run with its own --, alone', () => {
    expect(runArgv(['get', 'cells', '-o', 'json'], takesValue)).toEqual(['get', 'cells', '-o', 'json']);
    expect(runArgv(['run', 'busybox', '--', 'ls'], takesValue)).toEqual(['run', 'busybox', '--', 'ls']);
    expect(runArgv(['run', '--', 'busybox'], takesValue)).toEqual(['run', '--', 'busybox']);
  });
});
