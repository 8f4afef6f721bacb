/**
 * Masquerading networks (ipMasq): the bridge plugin's nat chain per attachment is removed on every way out — DEL
 * with the netns (the plugin does it), DEL after the netns is gone (the adapter does it), and gc of a chain left
 * behind by a crash. Every chain this file could create is removed in afterAll.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { masqueradeChain } from '../../../src/runtime/cni/masquerade.js';
import { createCniNetworks, type CniNetworks } from '../../../src/runtime/cni/networks.js';
import type { NetworkSpec } from '../../../src/runtime/ports.js';
import { HostFixture, killAndWait, run } from './helpers.js';

const host = new HostFixture();
const dirs = { confDir: join(host.dir, 'net.d'), ipamDataDir: join(host.dir, 'ipam'), cacheDir: join(host.dir, 'cache') };
let cni: CniNetworks;
let net: NetworkSpec;

/** A container id on the masquerading network, registered for cleanup. */
function id(suffix: string): string {
  const containerId = `${host.tag}_m_${suffix}_root`;
  host.masquerading(net.name, containerId);
  return containerId;
}

async function chainExists(containerId: string): Promise<boolean> {
  return run('iptables', ['-w', '-t', 'nat', '-S', masqueradeChain(net.name, containerId)]).then(
    () => true,
    () => false,
  );
}

async function hooked(containerId: string): Promise<boolean> {
  return (await run('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING'])).stdout.includes(`-j ${masqueradeChain(net.name, containerId)}`);
}

beforeAll(async () => {
  cni = createCniNetworks({ ...dirs, binDirs: ['/usr/lib/cni'] });
  net = await host.network(true);
  await cni.ensureNetwork(net);
});

afterAll(async () => {
  if (net) await cni.deleteNetwork(net.name).catch(() => undefined);
  await host.cleanup();
});

describe('CNI masquerading networks (real plugins, iptables)', () => {
  it('names the chain exactly as the bridge plugin does, and DEL with the netns removes it', async () => {
    const ns = await host.netns();
    const c = id('live');
    const att = await cni.attach(net.name, c, ns.path);
    expect(await chainExists(c)).toBe(true);
    expect((await run('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING'])).stdout).toContain(`-s ${att.address.split('/')[0]}/32`);
    await cni.detach(net.name, c, ns.path);
    expect(await chainExists(c)).toBe(false);
    expect(await hooked(c)).toBe(false);
  });

  it('removes the chain itself when the netns died before DEL', async () => {
    const ns = await host.netns();
    const c = id('dead');
    await cni.attach(net.name, c, ns.path);
    await killAndWait(ns.child);
    await cni.detach(net.name, c, ns.path);
    expect(await chainExists(c)).toBe(false);
    expect(await hooked(c)).toBe(false);
    expect(await cni.listAttachments(net.name)).toEqual([]);
  });

  it('garbage-collects a chain whose attachment is otherwise gone, and keeps the chains of live containers', async () => {
    const keepNs = await host.netns();
    const lostNs = await host.netns();
    const keep = id('keep');
    const lost = id('lost');
    await cni.attach(net.name, keep, keepNs.path);
    const lostAtt = await cni.attach(net.name, lost, lostNs.path);
    // As after a crash between host-local's release and the chain's removal: no reservation, no cache, a chain.
    await killAndWait(lostNs.child);
    rmSync(join(dirs.ipamDataDir, net.name, lostAtt.address.split('/')[0]!));
    rmSync(join(dirs.cacheDir, 'results', `${net.name}-${lost}-eth0`));
    expect(await chainExists(lost)).toBe(true);

    const report = await cni.gc([{ network: net.name, containerId: keep }]);
    expect(report.released).toEqual([]);
    expect(report.masqueradeChainsRemoved).toEqual([masqueradeChain(net.name, lost)]);
    expect(await chainExists(lost)).toBe(false);
    expect(await hooked(lost)).toBe(false);
    expect(await chainExists(keep)).toBe(true);
    await cni.detach(net.name, keep, keepNs.path);
    expect(await chainExists(keep)).toBe(false);
    expect(readdirSync(join(dirs.ipamDataDir, net.name)).filter((f) => /^\d/.test(f))).toEqual([]);
  });
});
