/**
 * Two installs side by side on one containerd, with the same realm, space, stack and cell names (issue 9, item 8):
 * each its own run path, namespace suffix, cgroup root and CNI state, the same pod subnet, real runc and CNI plugins
 * with masquerading.
 * Both reach Ready on bridges of their own, and deleting one install's space leaves the other's bridge, netns,
 * masquerade chain and cell intact and reachable.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CellTemplate } from '../../../events/specs.js';
import { masqueradeChain } from '../../../src/runtime/cni/masquerade.js';
import type { CellView, SpaceView } from '../../../src/model/resources.js';
import { startHost, type TestHost } from '../../support/host.js';

const run = promisify(execFile);
const actor = { actor: { type: 'user' as const, uid: 0 } };
const ref = { realm: 'r', space: 's', stack: 't', cell: 'web' };
let one: TestHost;
let two: TestHost;

function template(host: TestHost): CellTemplate {
  const c = { name: 'main', image: host.image, command: [], args: ['sleep', '600'], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' as const };
  return { root: 'main', containers: [c], labels: {} };
}

async function provision(host: TestHost): Promise<void> {
  const ops = host.opened.operations;
  await ops.createRealm({ name: ref.realm }, actor);
  await host.importImage(ref.realm);
  await ops.createSpace({ realm: ref.realm, space: ref.space }, actor);
  await ops.createStack({ realm: ref.realm, space: ref.space, stack: ref.stack }, actor);
  await ops.createCell({ ...ref, template: template(host), start: true }, actor);
}

const space = (host: TestHost) => host.opened.operations.query({ kind: 'space', realm: ref.realm, name: ref.space })[0] as SpaceView;
const cell = (host: TestHost) => host.opened.operations.getCell(ref);
const linkExists = (name: string) => existsSync(`/sys/class/net/${name}`);
const natRules = async () => (await run('iptables', ['-w', '-t', 'nat', '-S'])).stdout;

async function reachable(address: string): Promise<boolean> {
  return run('busybox', ['ping', '-c', '1', '-W', '2', address.split('/')[0]!], { timeout: 10_000 }).then(
    () => true,
    () => false,
  );
}

async function eth0Of(view: CellView): Promise<string> {
  return (await run('nsenter', [`--net=/proc/${view.rootPid}/ns/net`, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { timeout: 10_000 })).stdout;
}

beforeAll(async () => {
  one = await startHost({ subnet: '10.252.0.0/16', name: 'a', ipMasq: true });
  two = await startHost({ subnet: '10.252.0.0/16', name: 'b', ipMasq: true, ctrd: one.ctrd });
  await provision(one);
  await provision(two);
}, 180_000);

afterAll(async () => {
  await two?.cleanup();
  await one?.cleanup();
}, 180_000);

describe('two installs on one containerd with the same names', () => {
  it('runs a Ready cell in each, on its own namespace, network, bridge (marked with its install), subnet and address', async () => {
    const [a, b] = [cell(one), cell(two)];
    expect([a.state, b.state]).toEqual(['Ready', 'Ready']);
    expect(a.containers[0]!.containerdId).toBe(b.containers[0]!.containerdId);
    expect(one.opened.operations.listRealms()[0]!.namespace).not.toBe(two.opened.operations.listRealms()[0]!.namespace);
    const [na, nb] = [space(one).network, space(two).network];
    expect(na.name).not.toBe(nb.name);
    expect(na.bridge).not.toBe(nb.bridge);
    // Same pod subnet: the second install skipped the /24 the first one's bridge is on.
    expect([na.subnet, nb.subnet]).toEqual(['10.252.0.0/24', '10.252.1.0/24']);
    for (const [host, net] of [[one, na], [two, nb]] as const) {
      expect(linkExists(net.bridge)).toBe(true);
      expect(readFileSync(`/sys/class/net/${net.bridge}/ifalias`, 'utf8').trim()).toBe(`kukeon instance=${host.runtime.networks.instance} network=${net.name}`);
    }
    expect(await eth0Of(a)).toContain(a.address!);
    expect(await eth0Of(b)).toContain(b.address!);
    expect(await reachable(a.address!)).toBe(true);
    expect(await reachable(b.address!)).toBe(true);
    const rules = await natRules();
    expect(rules).toContain(masqueradeChain(na.name, a.containers[0]!.containerdId));
    expect(rules).toContain(masqueradeChain(nb.name, b.containers[0]!.containerdId));
  });

  it("deletes one install's space and leaves the other's bridge, netns, chain and cell intact and reachable", async () => {
    const gone = space(one).network;
    const kept = space(two).network;
    const before = cell(two);
    const keptChain = masqueradeChain(kept.name, before.containers[0]!.containerdId);
    await one.opened.operations.deleteSpace({ realm: ref.realm, space: ref.space, cascade: true }, actor);
    expect(linkExists(gone.bridge)).toBe(false);
    expect((await natRules()).includes(masqueradeChain(gone.name, before.containers[0]!.containerdId))).toBe(false);

    // The other install, asked again after a reconcile of its own, still has all of it.
    await two.reopen();
    const after = cell(two);
    expect(after.state).toBe('Ready');
    expect(after.rootPid).toBe(before.rootPid);
    expect(linkExists(kept.bridge)).toBe(true);
    expect(await eth0Of(after)).toContain(before.address!);
    expect(await natRules()).toContain(keptChain);
    expect(await reachable(before.address!)).toBe(true);
  });
});
