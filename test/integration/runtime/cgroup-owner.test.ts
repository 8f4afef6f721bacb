/**
 * An install given another install's cgroup root (issue 9, item 8: an ownership mark checked before anything is
 * deleted), on one containerd with real cgroups: the second install creates nothing under the root and removes
 * nothing of the first's, even with the same realm name and a forced delete; the first install is untouched.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupMark } from '../../../src/runtime/cgroups/ownership.js';
import type { CniNetworks } from '../../../src/runtime/cni/networks.js';
import { startHost, type TestHost } from '../../support/host.js';
import { kindOf } from '../../support/thrown.js';

const actor = { actor: { type: 'user' as const, uid: 0 } };
let owner: TestHost;
let intruder: TestHost;
const present = (path: string) => ['memory', 'pids', 'systemd'].map((h) => existsSync(join('/sys/fs/cgroup', h, path)));
const instanceOf = (host: TestHost) => (host.runtime.networks as CniNetworks).instance;

beforeAll(async () => {
  owner = await startHost({ subnet: '10.250.0.0/16', name: 'own' });
  intruder = await startHost({ subnet: '10.250.0.0/16', name: 'in', ctrd: owner.ctrd, cgroupRoot: owner.settings.engine.cgroupRoot });
  await owner.opened.operations.createRealm({ name: 'r' }, actor);
}, 180_000);

afterAll(async () => {
  await intruder?.cleanup();
  await owner?.cleanup();
}, 180_000);

describe('a cgroup root that belongs to another install', () => {
  const root = () => owner.settings.engine.cgroupRoot;

  it('carries the mark of the install that made it', () => {
    expect(present(`${root()}/${cgroupMark(instanceOf(owner))}`)).toEqual([true, true, true]);
    expect(present(`${root()}/r`)).toEqual([true, true, true]);
  });

  it('refuses the other install a realm there: FailedPrecondition naming both installs, no group created', async () => {
    const err = await intruder.opened.operations.createRealm({ name: 'q' }, actor).catch((e: unknown) => e);
    expect(await kindOf(Promise.reject(err))).toBe('FailedPrecondition');
    expect((err as Error).message).toContain(`cgroup root ${root()} belongs to another kukeon install (${instanceOf(owner)}), not to this one (${instanceOf(intruder)})`);
    expect(present(`${root()}/q`)).toEqual([false, false, false]);
    expect(present(`${root()}/${cgroupMark(instanceOf(intruder))}`)).toEqual([false, false, false]);
  }, 60_000);

  it("leaves the first install's groups in place when the other force-deletes a realm of the same name, and says so", async () => {
    await intruder.opened.operations.createRealm({ name: 'r' }, actor).catch(() => undefined);
    const { leftovers } = await intruder.opened.operations.deleteRealm({ realm: 'r', force: true, cascade: true }, actor);
    expect(leftovers.map((l) => l.resource)).toContain(`cgroup ${root()}/r`);
    expect(leftovers.find((l) => l.resource === `cgroup ${root()}/r`)!.error.kind).toBe('FailedPrecondition');
    expect(present(`${root()}/r`)).toEqual([true, true, true]);
    expect(owner.opened.operations.listRealms().find((r) => r.name === 'r')!.state).toBe('Ready');
  }, 60_000);

  it('still lets the install that owns it remove its own groups', async () => {
    await owner.opened.operations.deleteRealm({ realm: 'r' }, actor);
    expect(present(`${root()}/r`)).toEqual([false, false, false]);
    expect(present(`${root()}/${cgroupMark(instanceOf(owner))}`)).toEqual([true, true, true]);
  }, 60_000);
});
