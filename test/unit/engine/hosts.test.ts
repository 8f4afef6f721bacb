/**
 * Names in a space (issue 10, item 5): every cell's /etc/hosts names the cell and the running cells of its space, as
 * `<cell>` and `<cell>.<space>`, and is kept current as cells start, stop and go; hostname and resolv.conf are
 * written before the root starts and bind-mounted read-only; cells on the host's network keep the image's files.
 * Fake runtime; the real files and mounts are checked against containerd in test/integration/names.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { buildContainerSpec } from '../../../src/engine/container-spec.js';
import { resolveEngineConfig } from '../../../src/engine/config.js';
import { drainCellNames, hostsFile, LOCALHOST_LINES } from '../../../src/engine/hosts.js';
import { openEngine, type OpenedEngine } from '../../../src/engine/index.js';
import type { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { CONFIG, ref, setupEngine, template, user } from '../../support/fake-engine.js';

const hostsOf = (world: FakeWorld, cell: string, at = 'default/default/default') => world.cellFiles.get(`${at}/${cell}/hosts`);
/** The name → address lines of a hosts file (after the localhost ones). */
const entries = (hosts: string | undefined) =>
  (hosts ?? '')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#') && !LOCALHOST_LINES.includes(l));

describe('hostsFile', () => {
  it('starts with the localhost lines, then the cell itself, then its peers as <cell> and <cell>.<space>', () => {
    const out = hostsFile('default', { name: 'web', stack: 'default', address: '10.88.0.2' }, [
      { name: 'db', stack: 'default', address: '10.88.0.3' },
      { name: 'web', stack: 'default', address: '10.88.0.2' },
    ]);
    const lines = out.split('\n');
    expect(lines.slice(1, 1 + LOCALHOST_LINES.length)).toEqual(LOCALHOST_LINES);
    expect(entries(out)).toEqual(['10.88.0.2\tweb web.default', '10.88.0.3\tdb db.default']);
    expect(out.endsWith('\n')).toBe(true);
  });

  it('lists the peers of its own stack first, so a name shared across stacks resolves to the neighbour', () => {
    const out = hostsFile('s', { name: 'app', stack: 'blue', address: '10.0.0.9' }, [
      { name: 'db', stack: 'green', address: '10.0.0.3' },
      { name: 'db', stack: 'blue', address: '10.0.0.4' },
      { name: 'api', stack: 'green', address: '10.0.0.5' },
    ]);
    expect(entries(out)).toEqual(['10.0.0.9\tapp app.s', '10.0.0.4\tdb db.s', '10.0.0.5\tapi api.s', '10.0.0.3\tdb db.s']);
  });

  it('leaves out the cell itself while it has no address', () => {
    expect(entries(hostsFile('default', { name: 'web', stack: 'default' }, []))).toEqual([]);
  });
});

describe('cell /etc files', () => {
  it('writes hostname, resolv.conf and a hosts file naming the cell before its root starts, and mounts them read-only', async () => {
    const { world, ops, engine } = await setupEngine();
    let filesAtRootStart: string[] = [];
    let hostsAtRootStart: string | undefined;
    world.io = async (label) => {
      if (label !== 'startTask' || filesAtRootStart.length > 0) return;
      filesAtRootStart = [...world.cellFiles.keys()].sort();
      hostsAtRootStart = hostsOf(world, 'web');
    };
    await ops.createCell({ ...ref, template: template('busybox', ['side']), start: true }, user);
    expect(filesAtRootStart).toEqual(['default/default/default/web/hostname', 'default/default/default/web/hosts', 'default/default/default/web/resolv.conf']);
    // The address stamped at create is in the file before the root's process starts.
    expect(entries(hostsAtRootStart)).toEqual([`${ops.getCell(ref).address?.split('/')[0]}\tweb web.default`]);
    expect(world.cellFiles.get('default/default/default/web/hostname')).toBe('web\n');
    expect(world.cellFiles.get('default/default/default/web/resolv.conf')).toContain('nameserver 192.0.2.53');
    const address = ops.getCell(ref).address?.split('/')[0];
    expect(entries(hostsOf(world, 'web'))).toEqual([`${address}\tweb web.default`]);
    for (const c of world.containers.values()) {
      const etc = (c.spec.mounts ?? []).filter((m) => m.target.startsWith('/etc/'));
      expect(etc.map((m) => [m.target, m.source, m.readOnly])).toEqual(
        ['hosts', 'hostname', 'resolv.conf'].map((f) => [`/etc/${f}`, `${CONFIG.runPath}/etc/default/default/default/web/${f}`, true]),
      );
    }
    await engine.settle();
  });

  it("adds a cell that starts to its running peers' files, and removes it when it stops and when it is deleted", async () => {
    const { world, ops, opened } = await setupEngine();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    await ops.createCell({ ...ref, cell: 'db', template: template(), start: true }, user);
    const webAddress = ops.getCell(ref).address!.split('/')[0];
    const dbAddress = ops.getCell({ ...ref, cell: 'db' }).address!.split('/')[0];
    await settleNames(opened);
    expect(entries(hostsOf(world, 'web'))).toEqual([`${webAddress}\tweb web.default`, `${dbAddress}\tdb db.default`]);
    expect(entries(hostsOf(world, 'db'))).toEqual([`${dbAddress}\tdb db.default`, `${webAddress}\tweb web.default`]);

    await ops.stopCell({ ...ref, cell: 'db' }, user, { mode: 'kill' });
    await settleNames(opened);
    expect(entries(hostsOf(world, 'web'))).toEqual([`${webAddress}\tweb web.default`]);

    await ops.startCell({ ...ref, cell: 'db' }, user);
    await settleNames(opened);
    expect(entries(hostsOf(world, 'web'))).toHaveLength(2);

    await ops.deleteCell({ ...ref, cell: 'db' }, user);
    await settleNames(opened);
    expect(entries(hostsOf(world, 'web'))).toEqual([`${webAddress}\tweb web.default`]);
    expect([...world.cellFiles.keys()].filter((k) => k.includes('/db/'))).toEqual([]);
  });

  it('keeps spaces apart: a cell of another space or realm is never named', async () => {
    const { world, ops, opened } = await setupEngine();
    await ops.createSpace({ realm: 'default', space: 'other' }, user);
    await ops.createStack({ realm: 'default', space: 'other', stack: 'default' }, user);
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    await ops.createCell({ ...ref, space: 'other', cell: 'db', template: template(), start: true }, user);
    await settleNames(opened);
    expect(entries(hostsOf(world, 'web')).map((l) => l.split('\t')[1])).toEqual(['web web.default']);
    expect(entries(hostsOf(world, 'db', 'default/other/default')).map((l) => l.split('\t')[1])).toEqual(['db db.other']);
  });

  it('removes the files of a cell deleted with --force', async () => {
    const { world, ops, opened } = await setupEngine();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    await ops.deleteCell({ ...ref, force: true }, user);
    await settleNames(opened);
    expect([...world.cellFiles.keys()]).toEqual([]);
  });

  it("gives the containers of a cell on the host's network the host's hosts and resolv.conf as they are, and its hostname", async () => {
    const { world, ops } = await setupEngine();
    const hostTemplate = template('busybox', ['side']);
    hostTemplate.containers[0]!.hostNetwork = true;
    await ops.createCell({ ...ref, template: hostTemplate, start: true }, user);
    expect([...world.cellFiles.keys()].sort()).toEqual(['default/default/default/web/host.hosts', 'default/default/default/web/host.resolv.conf']);
    expect(world.cellFiles.get('default/default/default/web/host.hosts')).toBe(world.hostResolver.hosts);
    expect(world.cellFiles.get('default/default/default/web/host.resolv.conf')).toBe(world.hostResolver.resolvConf);
    expect(world.containers.size).toBe(2);
    for (const { spec } of world.containers.values()) {
      const etc = (spec.mounts ?? []).filter((m) => m.target.startsWith('/etc/'));
      expect(etc.map((m) => [m.target, m.source?.split('/').pop()])).toEqual([
        ['/etc/hosts', 'host.hosts'],
        ['/etc/resolv.conf', 'host.resolv.conf'],
      ]);
      expect(spec.hostname).toBeUndefined();
    }
  });

  it('lets a mount of the user on /etc/hosts win over the cell’s (it comes later)', () => {
    const config = resolveEngineConfig(CONFIG);
    const t = template().containers[0]!;
    const placement = { ...ref, name: 'web_root', root: true, namespace: 'default.kukeon.io', containerdId: 'default_default_web_root' };
    const spec = buildContainerSpec(config, placement, { ...t, mounts: [{ type: 'bind', source: '/srv/hosts', target: '/etc/hosts', readOnly: true }] }, { mode: 'new' });
    const targets = (spec.mounts ?? []).map((m) => `${m.target}<${m.source}`);
    expect(targets.at(-1)).toBe('/etc/hosts</srv/hosts');
    expect(targets.indexOf(`/etc/hosts<${CONFIG.runPath}/etc/default/default/default/web/hosts`)).toBe(0);
  });

  it('rewrites the hosts files of a space at the next open when a change was lost to a crash', async () => {
    const { world, ops, opened, store } = await setupEngine();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    await ops.createCell({ ...ref, cell: 'db', template: template(), start: true }, user);
    await settleNames(opened);
    // A stale file, as a crash between an event and its rewrite would leave it.
    world.cellFiles.set('default/default/default/web/hosts', 'stale\n');
    world.cellFiles.set('default/default/default/gone/hosts', 'left by a crash\n');
    await opened.close();
    const again = await openEngine({ store, runtime: world.runtime(), config: CONFIG });
    await settleNames(again);
    expect(entries(hostsOf(world, 'web')).map((l) => l.split('\t')[1])).toEqual(['web web.default', 'db db.default']);
    expect(world.cellFiles.has('default/default/default/gone/hosts')).toBe(false);
    await again.close();
  });
});

/** Waits until the engine's effects and the names keeper's writes are done. */
async function settleNames(opened: OpenedEngine): Promise<void> {
  await opened.engine.settle();
  await drainCellNames(opened.engine);
}
