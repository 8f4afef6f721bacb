/**
 * Derived identifiers are checked when a resource is created, before its first event is appended: a namespace,
 * container id or network name that containerd or CNI would refuse never reaches the log (issue 9, item 2).
 * Spaces are named with the install's identity, and cells use the network their space stored, so older logs
 * (`<realm>-<space>`) keep working.
 */
import { describe, expect, it } from 'vitest';
import { catalogCodec } from '../../../src/engine/codec.js';
import { openEngine } from '../../../src/engine/index.js';
import { isKukeError } from '../../../src/errors.js';
import { bridgeName } from '../../../src/model/names.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { CONFIG, template, user } from '../../support/fake-engine.js';
import { MemoryStore } from '../../support/memory-store.js';

async function engineWith(config: Record<string, unknown> = {}) {
  const world = new FakeWorld();
  world.addImage('busybox');
  const store = new MemoryStore(catalogCodec);
  const opened = await openEngine({ store, runtime: world.runtime(), config: { ...CONFIG, ...config } });
  return { world, store, opened, ops: opened.operations };
}

/** Runs `fn`, expecting a KukeError of `kind`; returns its message. */
async function refused(kind: string, fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    if (isKukeError(err, kind as never)) return err.message;
    throw err;
  }
  throw new Error(`expected ${kind}, but it succeeded`);
}

describe('identifiers checked at create time', () => {
  it('refuses spec.namespace "Bad NS!" and appends nothing', async () => {
    const { store, ops } = await engineWith();
    const message = await refused('InvalidArgument', () => ops.createRealm({ name: 'lab', namespace: 'Bad NS!' }, user));
    expect(message).toBe('invalid namespace "Bad NS!" for realm "lab": it may hold only letters, digits, ".", "_" and "-" (found " ")');
    expect(store.records).toEqual([]);
  });

  it('refuses a 63-character realm whose namespace with the suffix exceeds 76 characters, and appends nothing', async () => {
    const { store, ops } = await engineWith({ namespaceSuffix: 'tabc123.kukeon.io' });
    const name = 'r'.repeat(63);
    const message = await refused('InvalidArgument', () => ops.createRealm({ name }, user));
    expect(message).toContain('which is 81 characters; containerd allows 76');
    expect(store.records).toEqual([]);
    await ops.createRealm({ name: 'r'.repeat(58) }, user);
    expect(ops.listRealms().map((r) => r.namespace)).toEqual([`${'r'.repeat(58)}.tabc123.kukeon.io`]);
  });

  it('refuses a namespace override outside the suffix kukeon watches, or one another realm has', async () => {
    const { store, ops } = await engineWith();
    expect(await refused('InvalidArgument', () => ops.createRealm({ name: 'lab', namespace: 'lab.example.com' }, user))).toContain('must end with ".kukeon.io"');
    await ops.createRealm({ name: 'a', namespace: 'shared.kukeon.io' }, user);
    const before = store.records.length;
    expect(await refused('AlreadyExists', () => ops.createRealm({ name: 'b', namespace: 'shared.kukeon.io' }, user))).toBe('namespace "shared.kukeon.io" already belongs to realm "a"');
    expect(store.records.length).toBe(before);
  });

  it('refuses space, stack and cell names containerd ids cannot hold ("--", over 76 characters), and appends nothing', async () => {
    const { store, ops } = await engineWith();
    await ops.createRealm({ name: 'r' }, user);
    const before = store.records.length;
    expect(await refused('InvalidArgument', () => ops.createSpace({ realm: 'r', space: 'a--b' }, user))).toContain('"--"');
    await ops.createSpace({ realm: 'r', space: 's'.repeat(33) }, user);
    await ops.createStack({ realm: 'r', space: 's'.repeat(33), stack: 't'.repeat(33) }, user);
    const afterScopes = store.records.length;
    expect(await refused('InvalidArgument', () => ops.createStack({ realm: 'r', space: 's'.repeat(33), stack: 'x--y' }, user))).toContain('"--"');
    const cell = { realm: 'r', space: 's'.repeat(33), stack: 't'.repeat(33), cell: 'web' };
    expect(await refused('InvalidArgument', () => ops.createCell({ ...cell, template: template('busybox', ['sidecar']) }, user))).toMatch(/container id ".*_web_sidecar" is 79 characters; containerd allows 76/);
    expect(await refused('InvalidArgument', () => ops.applyCell({ ...cell, cell: 'a--b', template: template() }, user))).toContain('"--"');
    expect(store.records.length).toBe(afterScopes);
    expect(afterScopes).toBeGreaterThan(before);
  });
});

describe('space networks named with the install', () => {
  it('names a new space network <realm>.<space>.<instance tag> with the bridge hashed from it', async () => {
    const { world, ops } = await engineWith();
    await ops.createRealm({ name: 'default' }, user);
    const { view } = await ops.createSpace({ realm: 'default', space: 'default' }, user);
    expect(view.network.name).toBe(`default.default.${world.instance.slice(0, 8)}`);
    expect(view.network.bridge).toBe(bridgeName(view.network.name));
    expect(world.networks.has(view.network.name)).toBe(true);
  });

  it('gives another install the same realm and space names a different network and bridge', async () => {
    const one = await engineWith();
    const two = await engineWith();
    two.world.instance = '0123456789abcdef';
    const views = [];
    for (const e of [one, two]) {
      await e.ops.createRealm({ name: 'default' }, user);
      views.push((await e.ops.createSpace({ realm: 'default', space: 'default' }, user)).view.network);
    }
    expect(views[0]!.name).not.toBe(views[1]!.name);
    expect(views[0]!.bridge).not.toBe(views[1]!.bridge);
  });

  it('attaches the cells of a space created by an older version to the network it stored (<realm>-<space>)', async () => {
    const { world, opened, ops } = await engineWith();
    await ops.createRealm({ name: 'old' }, user);
    // What an older version appended: the legacy name and its bridge.
    const legacy = { name: 'old-s', bridge: bridgeName('old-s'), subnet: '10.88.0.0/24', ipMasq: false };
    await opened.engine.dispatch('space/old/s', 'CreateSpace', { network: legacy, labels: {} }, { actor: { type: 'user' }, correlation: 'c' });
    await opened.engine.settle();
    await ops.createStack({ realm: 'old', space: 's', stack: 't' }, user);
    const { view } = await ops.createCell({ realm: 'old', space: 's', stack: 't', cell: 'web', template: template(), start: true }, user);
    expect(view.state).toBe('Ready');
    expect([...world.attachments.values()].map((a) => a.network)).toEqual(['old-s']);
    await ops.deleteCell({ realm: 'old', space: 's', stack: 't', cell: 'web' }, user);
    expect(world.attachments.size).toBe(0);
  });
});
