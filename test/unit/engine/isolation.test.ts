/**
 * Isolation between spaces, as the engine drives it (issue 10): the rule set of the install follows the live spaces
 * through provision, delete, forced delete and a reboot. Fake runtime: its world keeps the last rule set written,
 * as the host's iptables would; test/integration/cni/isolation.test.ts checks what the rules do to real traffic.
 */
import { describe, expect, it } from 'vitest';
import { applyManifest } from '../../../src/engine/apply.js';
import { openEngine } from '../../../src/engine/index.js';
import { ErrorKind, isKukeError } from '../../../src/errors.js';
import { CONFIG, setupEngine, user } from '../../support/fake-engine.js';

const bridges = (world: Awaited<ReturnType<typeof setupEngine>>['world']) => [...world.isolation.values()].map((s) => s.bridge).sort();

describe('isolation rules of the spaces', () => {
  it('isolates a space from its provisioning on, and each space after it', async () => {
    const { world, ops } = await setupEngine();
    const first = ops.query({ kind: 'space', realm: 'default', name: 'default' })[0] as { network: { bridge: string } };
    expect(bridges(world)).toEqual([first.network.bridge]);
    const { view } = await ops.createSpace({ realm: 'default', space: 'other' }, user);
    expect(bridges(world)).toEqual([first.network.bridge, view.network.bridge].sort());
    expect([...world.isolation.values()].every((s) => s.allowFrom.length === 0)).toBe(true);
  });

  it('drops the rules of a deleted space, and removes them all with the last one', async () => {
    const { world, ops } = await setupEngine();
    const { view } = await ops.createSpace({ realm: 'default', space: 'other' }, user);
    await ops.deleteSpace({ realm: 'default', space: 'default', cascade: true }, user);
    expect(bridges(world)).toEqual([view.network.bridge]);
    await ops.deleteSpace({ realm: 'default', space: 'other' }, user);
    expect(world.isolation.size).toBe(0);
  });

  it('drops the rules of a space removed by a forced delete', async () => {
    const { world, ops } = await setupEngine();
    const { view } = await ops.createSpace({ realm: 'default', space: 'other' }, user);
    await ops.deleteSpace({ realm: 'default', space: 'default', cascade: true, force: true }, user);
    expect(bridges(world)).toEqual([view.network.bridge]);
  });

  it('writes the rules again at the first reconcile after a reboot emptied iptables', async () => {
    const { world, store, opened, ops } = await setupEngine();
    await ops.createSpace({ realm: 'default', space: 'other' }, user);
    const before = [...world.isolation];
    await opened.close();
    world.reboot();
    expect(world.isolation.size).toBe(0);
    const reopened = await openEngine({ store, runtime: world.runtime(), config: CONFIG });
    await reopened.engine.settle();
    expect([...world.isolation]).toEqual(before);
    expect(reopened.reconcileReport?.isolationHealed).toBe(true);
    await reopened.close();
  });
});

describe('allowFrom on a Space manifest', () => {
  const space = (name: string, allowFrom?: string, realm = 'default') =>
    `kind: Space\nmetadata: {name: ${name}}\nspec: {realmId: ${realm}${allowFrom === undefined ? '' : `, network: {allowFrom: [${allowFrom}]}`}}`;
  const networkOf = (ops: Awaited<ReturnType<typeof setupEngine>>['ops'], realm: string, name: string) =>
    (ops.query({ kind: 'space', realm, name })[0] as { network: { name: string } }).network.name;

  it('lets a space name another of the same manifest, declared after it', async () => {
    const { world, ops } = await setupEngine();
    const results = await applyManifest(ops, `${space('web', 'api')}\n---\n${space('api')}`, user);
    expect(results.map((r) => r.action)).toEqual(['created', 'created']);
    expect(world.isolation.get(networkOf(ops, 'default', 'web'))?.allowFrom).toEqual([networkOf(ops, 'default', 'api')]);
    expect(world.isolation.get(networkOf(ops, 'default', 'api'))?.allowFrom).toEqual([]);
  });

  it('updates the rules in place when a Space is applied again with another allowFrom (Ready → Updating → Ready)', async () => {
    const { world, ops, store } = await setupEngine();
    await applyManifest(ops, `${space('api')}\n---\n${space('web')}`, user);
    const [result] = await applyManifest(ops, space('web', 'api'), user);
    expect(result).toMatchObject({ action: 'updated', changes: ['allowFrom: [] → [api]'] });
    expect(world.isolation.get(networkOf(ops, 'default', 'web'))?.allowFrom).toEqual([networkOf(ops, 'default', 'api')]);
    const update = store.records.filter((r) => r.stream === 'space/default/web').slice(-2);
    expect(update.map((r) => [r.type, r.from, r.to])).toEqual([['UpdateSpace', 'Ready', 'Updating'], ['SpaceProvisioned', 'Updating', 'Ready']]);
    expect((await applyManifest(ops, space('web', 'api'), user))[0]).toMatchObject({ action: 'unchanged' });
    expect((await applyManifest(ops, space('web'), user))[0]).toMatchObject({ action: 'updated', changes: ['allowFrom: [api] → []'] });
    expect(world.isolation.get(networkOf(ops, 'default', 'web'))?.allowFrom).toEqual([]);
  });

  it('names a space of another realm as <realm>/<space>', async () => {
    const { world, ops } = await setupEngine();
    await applyManifest(ops, `kind: Realm\nmetadata: {name: lab}\n---\n${space('jobs', undefined, 'lab')}\n---\n${space('web', 'lab/jobs')}`, user);
    expect(world.isolation.get(networkOf(ops, 'default', 'web'))?.allowFrom).toEqual([networkOf(ops, 'lab', 'jobs')]);
  });

  it.each([
    ['a space that does not exist', space('web', 'nope'), /names space default\/nope, which does not exist/],
    ['the space itself', space('web', 'web'), /names the space itself/],
    ['the same space twice', `${space('api')}\n---\n${space('web', 'api, default/api')}`, /names space default\/api twice/],
  ])('refuses an allowFrom naming %s, and changes nothing', async (_what, text, message) => {
    const { world, ops, store } = await setupEngine();
    const seq = store.head().seq;
    const rules = [...world.isolation];
    const err = await applyManifest(ops, text, user).catch((e: unknown) => e);
    expect(isKukeError(err, ErrorKind.InvalidArgument)).toBe(true);
    expect((err as Error).message).toMatch(message);
    expect(store.head().seq).toBe(seq);
    expect([...world.isolation]).toEqual(rules);
  });

  it('refuses to let a workload space into a space of the system realm', async () => {
    const { ops } = await setupEngine();
    await ops.createRealm({ name: 'kukeon-system', system: true }, user);
    await ops.createSpace({ realm: 'kukeon-system', space: 'kukeon' }, user);
    const err = await applyManifest(ops, space('kukeon', 'default/default', 'kukeon-system'), user).catch((e: unknown) => e);
    expect(isKukeError(err, ErrorKind.InvalidArgument)).toBe(true);
    expect((err as Error).message).toMatch(/nothing from a workload realm reaches the system realm/);
  });
});
