/**
 * Isolation between spaces, as the engine drives it (issue 10): the rule set of the install follows the live spaces
 * through provision, delete, forced delete and a reboot. Fake runtime: its world keeps the last rule set written,
 * as the host's iptables would; test/integration/cni/isolation.test.ts checks what the rules do to real traffic.
 */
import { describe, expect, it } from 'vitest';
import { openEngine } from '../../../src/engine/index.js';
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
