/**
 * Cell addresses (issue 10, item 6): each cell gets an address of its space's /24 when it is created, stamped in
 * its template, kept across stop/start and updates, and handed to the network on every start; a static `ip` is
 * checked at create (outside the subnet, network/gateway/broadcast, held by another live cell: refused, nothing
 * recorded). Engine on the fake runtime; the real CNI side is in test/integration.
 */
import { describe, expect, it } from 'vitest';
import { applyManifest } from '../../../src/engine/apply.js';
import { addressProblem, attachOptionsOf, firstFreeAddress, nextAddress } from '../../../src/engine/cell-network.js';
import { describeTemplateChanges } from '../../../src/engine/operations.js';
import { isKukeError } from '../../../src/errors.js';
import { parseManifests } from '../../../src/model/manifest.js';
import { ref, setupEngine as setup, template, user } from '../../support/fake-engine.js';

const SUBNET = '10.86.0.0/24';
const cellRef = (cell: string, stack = 'default') => ({ ...ref, stack, cell });

describe('addressProblem', () => {
  it.each([
    ['10.86.0.2', undefined],
    ['10.86.0.254', undefined],
    ['10.86.1.2', "it is outside the space's subnet 10.86.0.0/24"],
    ['10.85.255.255', "it is outside the space's subnet 10.86.0.0/24"],
    ['10.86.0.0', 'it is the network address of 10.86.0.0/24'],
    ['10.86.0.1', "it is the gateway of 10.86.0.0/24 (the space's bridge holds it)"],
    ['10.86.0.255', 'it is the broadcast address of 10.86.0.0/24'],
  ])('%s → %s', (ip, problem) => {
    expect(addressProblem(SUBNET, ip)).toBe(problem);
  });
});

describe('firstFreeAddress', () => {
  it('starts after the gateway, skips held addresses, and has none when the subnet is full', () => {
    expect(firstFreeAddress(SUBNET, [])).toBe('10.86.0.2');
    expect(firstFreeAddress(SUBNET, ['10.86.0.2', '10.86.0.4'])).toBe('10.86.0.3');
    const all = Array.from({ length: 253 }, (_, i) => `10.86.0.${i + 2}`);
    expect(firstFreeAddress(SUBNET, all)).toBeUndefined();
    expect(firstFreeAddress(SUBNET, all.slice(0, -1))).toBe('10.86.0.254');
    expect(firstFreeAddress('10.86.4.0/30', [])).toBe('10.86.4.2');
    expect(firstFreeAddress('10.86.4.0/30', ['10.86.4.2'])).toBeUndefined();
  });
});

describe('nextAddress', () => {
  it('prefers an address no cell had, then the one released longest ago, and has none when all are held', () => {
    expect(nextAddress(SUBNET, ['10.86.0.2'], ['10.86.0.3'])).toBe('10.86.0.4');
    const all = Array.from({ length: 253 }, (_, i) => `10.86.0.${i + 2}`);
    // Every address was used once: the oldest release wins; a repeated release counts at its latest place.
    expect(nextAddress(SUBNET, [], all)).toBe('10.86.0.2');
    expect(nextAddress(SUBNET, [], [...all, '10.86.0.2'])).toBe('10.86.0.3');
    expect(nextAddress(SUBNET, ['10.86.0.2'], all)).toBe('10.86.0.3');
    expect(nextAddress(SUBNET, all, all)).toBeUndefined();
    // A released address outside the subnet (a space re-created with another one) is never handed out.
    expect(nextAddress('10.86.4.0/30', [], ['10.86.0.9'])).toBe('10.86.4.2');
    expect(nextAddress('10.86.4.0/30', ['10.86.4.2'], ['10.86.0.9'])).toBeUndefined();
  });
});

describe('cell addresses (engine, fake runtime)', () => {
  it('stamps the first free address of the space on each new cell, and the network gives the cell exactly that', async () => {
    const { ops } = await setup();
    const a = await ops.createCell({ ...cellRef('a'), template: template(), start: true }, user);
    const b = await ops.createCell({ ...cellRef('b'), template: template() }, user);
    expect(a.view.template?.ip).toBe('10.86.0.2');
    expect(b.view.template?.ip).toBe('10.86.0.3');
    expect(a.view.address).toBe('10.86.0.2/24');
    const started = await ops.startCell(cellRef('b'), user);
    expect(started.address).toBe('10.86.0.3/24');
  });

  it('keeps a cell\'s address across stop/start even when another cell started in between would have taken it', async () => {
    const { ops } = await setup();
    await ops.createCell({ ...cellRef('a'), template: template(), start: true }, user);
    await ops.stopCell(cellRef('a'), user, { mode: 'kill' });
    // With host-local's pool, b would now get .2; a keeps it.
    const b = await ops.createCell({ ...cellRef('b'), template: template(), start: true }, user);
    expect(b.view.address).toBe('10.86.0.3/24');
    expect((await ops.startCell(cellRef('a'), user)).address).toBe('10.86.0.2/24');
    await ops.restartCell(cellRef('a'), user);
    expect(ops.getCell(cellRef('a')).address).toBe('10.86.0.2/24');
  });

  it('gives a new cell an address no cell had before rather than a deleted cell\'s, and none held by a cell of another stack', async () => {
    const { ops } = await setup();
    await ops.createStack({ realm: 'default', space: 'default', stack: 'other' }, user);
    await ops.createCell({ ...cellRef('a'), template: template() }, user);
    await ops.createCell({ ...cellRef('x', 'other'), template: template() }, user);
    await ops.deleteCell(cellRef('a'), user);
    // .2 was a's: peers may still have a's MAC for it in their neighbour caches, so it is handed out last.
    expect((await ops.createCell({ ...cellRef('c'), template: template() }, user)).view.template?.ip).toBe('10.86.0.4');
    expect((await ops.createCell({ ...cellRef('d'), template: template() }, user)).view.template?.ip).toBe('10.86.0.5');
  });

  it('hands out distinct addresses to cells created at the same time', async () => {
    const { ops } = await setup();
    const views = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((cell) => ops.createCell({ ...cellRef(cell), template: template() }, user)));
    const ips = views.map((v) => v.view.template?.ip);
    expect(new Set(ips).size).toBe(5);
    expect([...ips].sort()).toEqual(['10.86.0.2', '10.86.0.3', '10.86.0.4', '10.86.0.5', '10.86.0.6']);
  });

  it('honours a static ip, and a create of the same cell again without one changes nothing', async () => {
    const { ops } = await setup();
    const { view } = await ops.createCell({ ...cellRef('a'), template: { ...template(), ip: '10.86.0.77' }, start: true }, user);
    expect(view.template?.ip).toBe('10.86.0.77');
    expect(view.address).toBe('10.86.0.77/24');
    expect((await ops.createCell({ ...cellRef('a'), template: template() }, user)).created).toBe(false);
    expect((await ops.createCell({ ...cellRef('a'), template: { ...template(), ip: '10.86.0.77' } }, user)).created).toBe(false);
    // The next cell without one does not take it.
    await ops.createCell({ ...cellRef('b'), template: template() }, user);
    expect(ops.getCell(cellRef('b')).template?.ip).toBe('10.86.0.2');
  });

  it.each([
    ['outside the subnet', '10.86.1.5', /^cell "b": ip 10\.86\.1\.5 cannot be used: it is outside the space's subnet 10\.86\.0\.0\/24$/, 'InvalidArgument'],
    ['the gateway', '10.86.0.1', /^cell "b": ip 10\.86\.0\.1 cannot be used: it is the gateway of 10\.86\.0\.0\/24/, 'InvalidArgument'],
    ['the network address', '10.86.0.0', /it is the network address of 10\.86\.0\.0\/24$/, 'InvalidArgument'],
    ['the broadcast address', '10.86.0.255', /it is the broadcast address of 10\.86\.0\.0\/24$/, 'InvalidArgument'],
    ['held by another live cell', '10.86.0.2', /^cell "b": ip 10\.86\.0\.2 is already held by cell "a" \(stack "default"\) in space "default"$/, 'AlreadyExists'],
  ])('refuses a static ip that is %s, and records nothing', async (_what, ip, message, kind) => {
    const { ops, store } = await setup();
    await ops.createCell({ ...cellRef('a'), template: template() }, user);
    const before = store.records.length;
    const err = await ops.createCell({ ...cellRef('b'), template: { ...template(), ip } }, user).catch((e: unknown) => e);
    expect(isKukeError(err, kind as 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toMatch(message);
    expect(store.records.length).toBe(before);
  });

  it('refuses an ip on a cell whose root uses the host\'s network', async () => {
    const { ops } = await setup();
    const t = template();
    const hostRoot = { ...t, containers: [{ ...t.containers[0]!, hostNetwork: true }], ip: '10.86.0.9' };
    const err = await ops.createCell({ ...cellRef('h'), template: hostRoot }, user).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/uses the host's network, so the cell has no address of its own; remove ip/);
    const { ip: _ip, ...withoutIp } = hostRoot;
    const { view } = await ops.createCell({ ...cellRef('h'), template: withoutIp }, user);
    expect(view.template).not.toHaveProperty('ip');
  });

  it('keeps the address through an apply that changes the containers, and moves it when the manifest asks for another', async () => {
    const { ops } = await setup();
    await ops.applyCell({ ...cellRef('a'), template: template() }, user);
    expect(ops.getCell(cellRef('a')).address).toBe('10.86.0.2/24');
    const changed = await ops.applyCell({ ...cellRef('a'), template: template('busybox', ['side']) }, user);
    expect(changed.action).toBe('updated');
    expect(changed.view.address).toBe('10.86.0.2/24');
    const moved = await ops.applyCell({ ...cellRef('a'), template: { ...template('busybox', ['side']), ip: '10.86.0.50' } }, user);
    expect(moved.changes).toEqual(['address changed: 10.86.0.2 → 10.86.0.50']);
    expect(moved.view.address).toBe('10.86.0.50/24');
    expect((await ops.applyCell({ ...cellRef('a'), template: template('busybox', ['side']) }, user)).action).toBe('unchanged');
  });

  it('gives a cell recorded before addresses were stamped one at its next start, and keeps it from then on', async () => {
    const { ops, engine } = await setup();
    await ops.createCell({ ...cellRef('b'), template: template() }, user);
    // A CreateCell of an older version: a template without ip.
    const outcome = await engine.dispatch('cell/default/default/default/old', 'CreateCell', { template: template() }, { actor: user.actor, correlation: 'c' });
    expect(outcome.accepted).toBe(true);
    expect(ops.getCell(cellRef('old')).template).not.toHaveProperty('ip');
    expect(await attachOptionsOf(engine, { realm: 'default', space: 'default', stack: 'default', name: 'old', template: template() })).toEqual({ ip: '10.86.0.3' });
    const first = await ops.startCell(cellRef('old'), user);
    expect(first.template?.ip).toBe('10.86.0.3');
    await ops.stopCell(cellRef('old'), user, { mode: 'kill' });
    expect((await ops.startCell(cellRef('old'), user)).address).toBe('10.86.0.3/24');
  });

  it('reads spec.ip from a Cell manifest, refuses one that is not an IPv4 address, and shows it among the changes', () => {
    const doc = (ip: string) => `kind: Cell\nmetadata: {name: web}\nspec:\n  realmId: default\n  spaceId: default\n  stackId: default\n  ip: ${ip}\n  containers: [{id: main, image: busybox}]\n`;
    const [cell] = parseManifests(doc('10.86.0.7'));
    expect(cell?.kind === 'Cell' && cell.template.ip).toBe('10.86.0.7');
    expect(() => parseManifests(doc('10.86.0.7/24'))).toThrow(/spec\.ip: "10\.86\.0\.7\/24" is not an IPv4 address; use four numbers 0-255 without a prefix, e\.g\. 10\.86\.0\.7/);
    expect(() => parseManifests(doc('10.86.0.256'))).toThrow(/spec\.ip: .* is not an IPv4 address/);
    expect(describeTemplateChanges({ ...template(), ip: '10.86.0.2' }, { ...template(), ip: '10.86.0.9' })).toEqual(['address changed: 10.86.0.2 → 10.86.0.9']);
  });

  describe('through kuke apply', () => {
    const cellDoc = (name: string, ip?: string) =>
      `kind: Cell\nmetadata: {name: ${name}}\nspec:\n  realmId: default\n  spaceId: default\n  stackId: default\n${ip ? `  ip: ${ip}\n` : ''}  containers: [{id: main, image: busybox}]\n`;

    it('does not hand a later document\'s static ip to an earlier cell that takes the first free one', async () => {
      const { ops } = await setup();
      const results = await applyManifest(ops, [cellDoc('first'), cellDoc('second', '10.86.0.2')].join('---\n'), user);
      expect(results.map((r) => r.action)).toEqual(['created', 'created']);
      expect(ops.getCell(cellRef('first')).address).toBe('10.86.0.3/24');
      expect(ops.getCell(cellRef('second')).address).toBe('10.86.0.2/24');
      // Once applied, the reservation is gone: the next cell gets the first free address.
      expect((await ops.createCell({ ...cellRef('third'), template: template() }, user)).view.template?.ip).toBe('10.86.0.4');
    });

    it('refuses two documents asking for one address before applying anything', async () => {
      const { ops, store } = await setup();
      const before = store.records.length;
      const err = await applyManifest(ops, [cellDoc('one', '10.86.0.9'), cellDoc('two', '10.86.0.9')].join('---\n'), user).catch((e: unknown) => e);
      expect(isKukeError(err, 'AlreadyExists')).toBe(true);
      expect((err as Error).message).toBe('document 2 (Cell "two"): cell "two": ip 10.86.0.9 is also asked for by cell "one" (stack "default") earlier in this manifest');
      expect(store.records.length).toBe(before);
    });

    it('refuses a static ip another cell holds before applying anything', async () => {
      const { ops, store } = await setup();
      await ops.createCell({ ...cellRef('holder'), template: template() }, user);
      const before = store.records.length;
      const err = await applyManifest(ops, [cellDoc('fine'), cellDoc('taker', '10.86.0.2')].join('---\n'), user).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/^document 2 \(Cell "taker"\): cell "taker": ip 10\.86\.0\.2 is already held by cell "holder"/);
      expect(store.records.length).toBe(before);
    });
  });
});
