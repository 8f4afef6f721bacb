/**
 * kuke as the user sees it, in-process: help, tables, JSON, errors, completion — with the in-process client over
 * the fake runtime (the real transports have their own tests).
 */
import { describe, expect, it } from 'vitest';
import { EngineBackend } from '../../../src/api/backend.js';
import type { KukeonClient } from '../../../src/api/client.js';
import { runKuke } from '../../../src/cli/program.js';
import { formatTable } from '../../../src/cli/output.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { openEngine } from '../../../src/engine/index.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { MemoryStore } from '../../support/memory-store.js';

async function kukeWith(client: KukeonClient, argv: string[]) {
  let out = '';
  let err = '';
  const code = await runKuke(argv, { out: (t) => (out += t), err: (t) => (err += t) }, { daemon: async () => client, inProcess: async () => client }, {});
  return { code, out, err };
}

async function backend(world = new FakeWorld()): Promise<KukeonClient> {
  world.addImage('busybox');
  const opened = await openEngine({ store: new MemoryStore(catalogCodec), runtime: world.runtime(), config: { runPath: '/tmp/kukeon-cli-unit', ipMasq: false } });
  const b = new EngineBackend(opened, world.runtime(), { type: 'user', uid: 0 });
  await b.createRealm({ name: 'default' });
  await b.createSpace({ realm: 'default', space: 'default' });
  await b.createStack({ realm: 'default', space: 'default', stack: 'default' });
  return b;
}

describe('kuke (in-process, fake runtime)', () => {
  it('prints help when run bare, listing every command', async () => {
    const r = await kukeWith(await backend(), []);
    expect(r.code).toBe(0);
    for (const c of ['init', 'get', 'create', 'apply', 'delete', 'start', 'stop', 'kill', 'restart', 'history', 'image', 'daemon', 'version', 'completion']) {
      expect(r.out).toMatch(new RegExp(`\\n  ${c}[ |]`));
    }
  });

  it('says "No cells found." for an empty list, and prints tables with a dash row', async () => {
    const client = await backend();
    expect((await kukeWith(client, ['get', 'cells'])).out).toBe('No cells found.\n');
    const r = await kukeWith(client, ['get', 'realms']);
    expect(r.out).toMatch(/^NAME +STATE +AGE\n-------  -----  ---\ndefault  Ready  \d+s\n$/);
  });

  it('creates a cell from --image, starts it, and shows it in JSON and wide tables', async () => {
    const client = await backend();
    const created = await kukeWith(client, ['create', 'cell', 'web', '--image', 'busybox', '--arg', 'sleep', '--arg', '9', '--start']);
    expect(created.out).toBe('Cell "web" (realm "default", space "default", stack "default"): created (Ready)\n');
    const json = JSON.parse((await kukeWith(client, ['get', 'cell', 'web', '-o', 'json'])).out);
    expect(json).toMatchObject({ kind: 'Cell', metadata: { name: 'web' }, spec: { containers: [{ id: 'main', image: 'busybox', args: ['sleep', '9'] }] }, status: { state: 'Ready', containers: [{ name: 'web_root', state: 'Running' }] } });
    const wide = await kukeWith(client, ['get', 'cells', '-o', 'wide']);
    expect(wide.out.split('\n')[0]).toMatch(/^NAME +REALM +SPACE +STACK +STATE +AGE +CONTAINERS +RESTARTS +ADDRESS +PORTS +CPU +MEMORY$/);
    expect(wide.out).toMatch(/web .* 1\/1 +0 +10\.86\.0\.2\/24/);
  });

  it('creates with --rm a cell the daemon deletes once its root exits (autoDelete, issue 12)', async () => {
    const client = await backend();
    const created = await kukeWith(client, ['create', 'cell', 'tmp', '--image', 'busybox', '--rm', '-o', 'json']);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.out).template).toMatchObject({ autoDelete: true });
    const plain = await kukeWith(client, ['create', 'cell', 'kept', '--image', 'busybox', '-o', 'json']);
    expect(JSON.parse(plain.out).template).not.toHaveProperty('autoDelete');
  });

  it('publishes the ports of -p on the cell\'s attachment, and shows them in wide tables and JSON', async () => {
    const world = new FakeWorld();
    const client = await backend(world);
    const created = await kukeWith(client, ['create', 'cell', 'web', '--image', 'busybox', '-p', '127.0.0.1:8080:80', '--publish', '5353:53/udp', '--start']);
    expect(created.code).toBe(0);
    expect([...world.attachments.values()].map((a) => a.portMappings)).toEqual([
      [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' },
        { hostPort: 5353, containerPort: 53, protocol: 'udp' },
      ],
    ]);
    const wide = await kukeWith(client, ['get', 'cells', '-o', 'wide']);
    expect(wide.out).toContain(' 127.0.0.1:8080->80/tcp, 0.0.0.0:5353->53/udp ');
    const json = JSON.parse((await kukeWith(client, ['get', 'cell', 'web', '-o', 'json'])).out);
    expect(json.spec.containers[0].ports).toEqual([
      { containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1' },
      { containerPort: 53, hostPort: 5353, protocol: 'udp' },
    ]);
  });

  it('refuses a bad -p on one line and creates nothing', async () => {
    const client = await backend();
    const r = await kukeWith(client, ['create', 'cell', 'web', '--image', 'busybox', '-p', '80']);
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/invalid -p "80": it names no host port/);
    expect((await kukeWith(client, ['get', 'cells'])).out).toBe('No cells found.\n');
  });

  it('passes --keep-logs of a delete to the client, false without it', async () => {
    const seen: unknown[] = [];
    const client = { delete: async (_target: unknown, options: unknown) => (seen.push(options), { leftovers: [] }) } as unknown as KukeonClient;
    expect((await kukeWith(client, ['delete', 'cell', 'web', '--keep-logs'])).code).toBe(0);
    expect((await kukeWith(client, ['delete', 'stack', 'default', '--cascade'])).code).toBe(0);
    expect(seen).toEqual([
      { cascade: false, force: false, keepLogs: true },
      { cascade: true, force: false, keepLogs: false },
    ]);
  });

  it('force-deletes whatever state a cell is in, and warns on stderr of what it left behind and where that is recorded', async () => {
    const world = new FakeWorld();
    const client = await backend(world);
    await kukeWith(client, ['create', 'cell', 'web', '--image', 'busybox', '--start']);
    world.failNext('cgroups.remove', 'FailedPrecondition');
    const r = await kukeWith(client, ['delete', 'cell', 'web', '--force']);
    expect(r.code).toBe(0);
    expect(r.out).toBe('Deleted cell "web" from stack "default" (forced)\n');
    expect(r.err).toBe(
      'warning: left behind: cgroup /kukeon/default/default/default/web (FailedPrecondition: injected fault in cgroups.remove); recorded in: kuke history cell web --realm default --space default --stack default\n',
    );
    expect((await kukeWith(client, ['get', 'cells'])).out).toBe('No cells found.\n');
    const history = await kukeWith(client, ['history', 'cell', 'web']);
    expect(history.out).toMatch(/ForceDeleted +\w+ → Deleted .*left behind: cgroup \/kukeon\/default\/default\/default\/web \(injected fault in cgroups.remove\)/);
  });

  it('tells in history whether a delete kept the logs', async () => {
    const client = await backend();
    await kukeWith(client, ['create', 'cell', 'web', '--image', 'busybox', '--start']);
    await kukeWith(client, ['delete', 'cell', 'web', '--keep-logs']);
    await kukeWith(client, ['create', 'cell', 'web', '--image', 'busybox']);
    await kukeWith(client, ['delete', 'cell', 'web']);
    const table = (await kukeWith(client, ['history', 'cell', 'web'])).out;
    expect(table.split('\n').filter((l) => /DeleteCell/.test(l)).map((l) => l.replace(/^.* {2}/, ''))).toEqual(['logs kept', 'logs removed']);
  });

  it('reports an error on one line with what to do, and exits 1', async () => {
    const r = await kukeWith(await backend(), ['get', 'cell', 'nope']);
    expect(r.code).toBe(1);
    expect(r.err).toBe('Error: cell "nope" in realm "default", space "default", stack "default" not found; list cells with: kuke get cells --realm default --space default --stack default\n');
    const kind = await kukeWith(await backend(), ['get', 'pods']);
    expect(kind.err).toBe('Error: unknown resource kind "pods"; use one of: realm, space, stack, cell, container\n');
    const format = await kukeWith(await backend(), ['get', 'realms', '-o', 'xml']);
    expect(format.err).toBe('Error: unknown output format "xml"; use one of: table, wide, json, yaml\n');
  });

  it('prints nothing but JSON on stdout with -o json, even for apply', async () => {
    const r = await kukeWith(await backend(), ['apply', '-f', '/nonexistent.yaml', '-o', 'json']);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^Error: failed to open file \/nonexistent\.yaml: ENOENT/);
  });

  it.each(['bash', 'zsh', 'fish'])('generates a %s completion script that knows the commands and kinds', async (shell) => {
    const r = await kukeWith(await backend(), ['completion', shell]);
    expect(r.code).toBe(0);
    for (const word of ['init', 'history', 'daemon', 'cells']) expect(r.out).toContain(word);
  });

  it('says that --follow in-process reads the log once, and only then', async () => {
    const b = await backend();
    await b.createCell({ realm: 'default', space: 'default', stack: 'default', cell: 'web', template: { root: 'main', labels: {}, containers: [{ name: 'main', image: 'busybox', command: [], args: [], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' }] }, start: false });
    // An in-process client has no live writer to follow: its watch prints what the log holds and returns.
    const once: KukeonClient = Object.assign(Object.create(b) as KukeonClient, {
      watchHistory: async (key: Parameters<KukeonClient['history']>[0], filter: Parameters<KukeonClient['history']>[1], onEvent: (r: Awaited<ReturnType<KukeonClient['history']>>[number]) => void) => {
        for (const r of await b.history(key, filter)) onEvent(r);
      },
    });
    const local = await kukeWith(once, ['history', 'cell', 'web', '--follow', '--no-daemon']);
    expect(local.code).toBe(0);
    expect(local.out).toMatch(/CreateCell +Absent → Pending/);
    expect(local.err).toContain('--follow in-process prints what the log holds and ends');
    const viaDaemon = await kukeWith(once, ['history', 'cell', 'web', '--follow']);
    expect(viaDaemon.code).toBe(0);
    expect(viaDaemon.err).toBe('');
  });

  it('formats tables as the original does', () => {
    expect(formatTable(['NAME', 'STATE'], [['a', 'Ready'], ['longer-name', 'Failed']])).toBe('NAME         STATE\n-----------  ------\na            Ready\nlonger-name  Failed\n');
  });
});
