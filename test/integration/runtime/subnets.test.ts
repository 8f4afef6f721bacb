/**
 * A new space's subnet avoids every range the host already routes or is addressed in (issue 10, item 3), read from
 * the real kernel through the CNI adapter: a link made by this test with an address in the default pod range (its
 * connected route), a route through a gateway on it, and a second link that is down (no route, only its address).
 * The links are veth pairs (this kernel has no dummy driver), named with the test's tag, removed afterwards.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POD_SUBNET } from '../../../src/engine/config.js';
import type { SpaceView } from '../../../src/model/resources.js';
import { startHost, type TestHost } from '../../support/host.js';

const run = promisify(execFile);
const actor = { actor: { type: 'user' as const, uid: 0 } };
const tag = `kt${randomBytes(3).toString('hex')}`;
const up = `${tag}u`;
const down = `${tag}d`;
let host: TestHost;

/** The first three /24s of the default pod range, which this test takes on the host. */
const [first, second, third] = [0, 1, 2].map((i) => DEFAULT_POD_SUBNET.replace(/\.0\.0\/16$/, `.${i}.0/24`)) as [string, string, string];
const hostAddress = (subnet: string, n: number) => subnet.replace(/\.0\/24$/, `.${n}`);

beforeAll(async () => {
  host = await startHost({ subnet: DEFAULT_POD_SUBNET });
  await run('ip', ['link', 'add', up, 'type', 'veth', 'peer', 'name', `${up}p`]);
  await run('ip', ['addr', 'add', `${hostAddress(first, 1)}/24`, 'dev', up]);
  await run('ip', ['link', 'set', up, 'up']);
  await run('ip', ['link', 'set', `${up}p`, 'up']);
  await run('ip', ['route', 'add', second, 'via', hostAddress(first, 2), 'dev', up]);
  await run('ip', ['link', 'add', down, 'type', 'veth', 'peer', 'name', `${down}p`]);
  await run('ip', ['addr', 'add', `${hostAddress(third, 1)}/24`, 'dev', down]);
}, 120_000);

afterAll(async () => {
  for (const link of [up, down]) await run('ip', ['link', 'delete', link]).catch(() => undefined);
  await host?.cleanup();
}, 120_000);

describe('subnets of new spaces', () => {
  it('lists a link\'s subnet, a route through a gateway and the address of a link that is down as ranges the host uses', async () => {
    // The link that is down has no route: only its address tells.
    expect((await run('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout).not.toContain(third.replace(/\/24$/, ''));
    const used = await host.runtime.networks.hostSubnets();
    expect(used).toEqual(expect.arrayContaining([first, second, third]));
    // The default route is not a range in use.
    expect(used).not.toContain('0.0.0.0/0');
  });

  it('gives the next space of the default pod range the first /24 none of them covers, and the one after the next', async () => {
    const ops = host.opened.operations;
    await ops.createRealm({ name: 'r' }, actor);
    const a = (await ops.createSpace({ realm: 'r', space: 'a' }, actor)).view as SpaceView;
    const b = (await ops.createSpace({ realm: 'r', space: 'b' }, actor)).view as SpaceView;
    expect([a.network.subnet, b.network.subnet]).toEqual([DEFAULT_POD_SUBNET.replace(/\.0\.0\/16$/, '.3.0/24'), DEFAULT_POD_SUBNET.replace(/\.0\.0\/16$/, '.4.0/24')]);
  });

  it('keeps an existing space\'s subnet when the host takes its range later', async () => {
    const ops = host.opened.operations;
    const before = (ops.query({ kind: 'space', realm: 'r', name: 'a' })[0] as SpaceView).network.subnet;
    const clash = `${tag}c`;
    await run('ip', ['link', 'add', clash, 'type', 'veth', 'peer', 'name', `${clash}p`]);
    try {
      await run('ip', ['addr', 'add', before.replace(/\.0\/24$/, '.200/24'), 'dev', clash]);
      await host.reopen();
      expect((await host.opened.operations.createSpace({ realm: 'r', space: 'a' }, actor)).created).toBe(false);
      expect((host.opened.operations.query({ kind: 'space', realm: 'r', name: 'a' })[0] as SpaceView).network.subnet).toBe(before);
    } finally {
      await run('ip', ['link', 'delete', clash]).catch(() => undefined);
    }
  });
});
