/**
 * The CNI adapter with the real plugins from containernetworking-plugins (/usr/lib/cni), on network namespaces
 * this file makes (`unshare --net sleep` processes), test-only bridges and 10.250.X.0/24 subnets. Traffic stays
 * between those namespaces and their bridges. Masquerading is covered in masquerade.test.ts.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { createCniNetworks, type CniNetworks } from '../../../src/runtime/cni/networks.js';
import type { NetworkSpec } from '../../../src/runtime/ports.js';
import { addressesIn, HostFixture, inNetns, killAndWait, linkExists, median, run, tcpPing } from './helpers.js';

const host = new HostFixture();
const dirs = { confDir: join(host.dir, 'net.d'), ipamDataDir: join(host.dir, 'ipam'), cacheDir: join(host.dir, 'cache') };
let cni: CniNetworks;
let netA: NetworkSpec;
let netB: NetworkSpec;
let ensured: { created: boolean }[] = [];
const id = (suffix: string) => `${host.tag}_s_${suffix}_root`;
const ipOf = (address: string) => address.split('/')[0]!;
const reservations = (net: NetworkSpec) => readdirSync(join(dirs.ipamDataDir, net.name)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
const cacheFile = (net: NetworkSpec, containerId: string) => join(dirs.cacheDir, 'results', `${net.name}-${containerId}-eth0`);

beforeAll(async () => {
  cni = createCniNetworks({ ...dirs, binDirs: ['/usr/lib/cni'] });
  netA = await host.network();
  netB = await host.network();
  ensured = [await cni.ensureNetwork(netA), await cni.ensureNetwork(netB)];
});

afterAll(async () => {
  for (const net of [netA, netB]) if (net) await cni.deleteNetwork(net.name).catch(() => undefined);
  await host.cleanup();
});

describe('CNI networks (real plugins)', () => {
  it('writes a 0600 conflist of bridge, loopback and portmap at CNI 1.0.0, and nothing again when ensured twice', async () => {
    expect(ensured).toEqual([{ created: true }, { created: true }]);
    expect(await cni.ensureNetwork(netA)).toEqual({ created: false });
    const path = join(dirs.confDir, `${netA.name}.conflist`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const conf = JSON.parse(readFileSync(path, 'utf8'));
    expect(conf.cniVersion).toBe('1.0.0');
    expect(conf.plugins.map((p: { type: string }) => p.type)).toEqual(['bridge', 'loopback', 'portmap']);
    expect(conf.plugins[0]).toMatchObject({ bridge: netA.bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: netA.subnet }]], dataDir: dirs.ipamDataDir } });
    expect(await cni.listNetworks()).toEqual([netA, netB].sort((a, b) => a.name.localeCompare(b.name)));
  });

  it('gives a netns an address from the subnet on eth0, brings lo up, and returns the same address when attached again', async () => {
    const ns = await host.netns();
    const att = await cni.attach(netA.name, id('one'), ns.path);
    const prefix = netA.subnet.split('.').slice(0, 3).join('.');
    expect(att).toMatchObject({ network: netA.name, containerId: id('one'), ifname: 'eth0', gateway: `${prefix}.1` });
    expect(att.address.startsWith(`${prefix}.`) && att.address.endsWith('/24')).toBe(true);
    expect(await addressesIn(ns, 'eth0')).toEqual([att.address]);
    expect(await inNetns(ns, 'ip', '-o', 'link', 'show', 'dev', 'lo')).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
    expect(existsSync(cacheFile(netA, id('one')))).toBe(true);

    expect(await cni.attach(netA.name, id('one'), ns.path)).toEqual(att);
    expect(await addressesIn(ns, 'eth0')).toEqual([att.address]);
    expect(reservations(netA)).toEqual([ipOf(att.address)]);
    expect(await cni.listAttachments(netA.name)).toEqual([att]);
    await cni.detach(netA.name, id('one'), ns.path);
  });

  it('lets two processes of one netns (two containers of a cell) talk on 127.0.0.1', async () => {
    const ns = await host.netns();
    await cni.attach(netA.name, id('lo'), ns.path);
    expect(await tcpPing(host, ns, ns, '127.0.0.1', 7001)).toBe('pong');
    await cni.detach(netA.name, id('lo'), ns.path);
  });

  it('lets two cells of one network reach each other by address', async () => {
    const a = await host.netns();
    const b = await host.netns();
    const attA = await cni.attach(netA.name, id('peer-a'), a.path);
    const attB = await cni.attach(netA.name, id('peer-b'), b.path);
    expect(attA.address).not.toBe(attB.address);
    expect(await tcpPing(host, a, b, ipOf(attB.address), 7002)).toBe('pong');
    expect(await tcpPing(host, b, a, ipOf(attA.address), 7003)).toBe('pong');
    await cni.detach(netA.name, id('peer-a'), a.path);
    await cni.detach(netA.name, id('peer-b'), b.path);
  });

  it('puts two networks on different bridges and subnets that do not share L2', async () => {
    const a1 = await host.netns();
    const a2 = await host.netns();
    const b = await host.netns();
    const attA1 = await cni.attach(netA.name, id('l2-a1'), a1.path);
    const attA2 = await cni.attach(netA.name, id('l2-a2'), a2.path);
    const attB = await cni.attach(netB.name, id('l2-b'), b.path);
    const subnetOf = (address: string) => `${address.split('.').slice(0, 3).join('.')}.0/24`;
    expect([subnetOf(attA1.address), subnetOf(attA2.address), subnetOf(attB.address)]).toEqual([netA.subnet, netA.subnet, netB.subnet]);
    expect(netA.bridge).not.toBe(netB.bridge);
    const members = async (bridge: string) => run('ip', ['-o', 'link', 'show', 'master', bridge]).then((r) => r.stdout.trim().split('\n').filter(Boolean).length);
    expect(await members(netA.bridge)).toBe(2);
    expect(await members(netB.bridge)).toBe(1);
    // ARP is L2: a peer on the same bridge answers, a cell of the other network is not on this segment at all.
    const arping = (target: string) => inNetns(a1, 'busybox', 'arping', '-I', 'eth0', '-c', '1', '-w', '1', target).then(() => true, () => false);
    expect(await arping(ipOf(attA2.address))).toBe(true);
    expect(await arping(ipOf(attB.address))).toBe(false);
    for (const [net, c, ns] of [[netA, 'l2-a1', a1], [netA, 'l2-a2', a2], [netB, 'l2-b', b]] as const) await cni.detach(net.name, id(c), ns.path);
  });

  it('gives a netns exactly the address asked for (host-local\'s ips capability), again in a new netns, and refuses it to another container', async () => {
    const prefix = netA.subnet.split('.').slice(0, 3).join('.');
    const wanted = `${prefix}.77`;
    const ns = await host.netns();
    const att = await cni.attach(netA.name, id('fixed'), ns.path, { ip: wanted });
    expect(att.address).toBe(`${wanted}/24`);
    expect(await addressesIn(ns, 'eth0')).toEqual([`${wanted}/24`]);
    expect(reservations(netA)).toContain(wanted);
    // Attached again with the same ask: unchanged.
    expect(await cni.attach(netA.name, id('fixed'), ns.path, { ip: wanted })).toEqual(att);

    const other = await host.netns();
    const err = await cni.attach(netA.name, id('thief'), other.path, { ip: wanted }).catch((e: unknown) => e);
    expect(isKukeError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toBe(`address ${wanted} of network ${netA.name} is still reserved for container ${id('fixed')}, so ${id('thief')} cannot have it`);
    expect(await linkExists('eth0', other)).toBe(false);
    expect(reservations(netA).filter((ip) => ip === wanted)).toHaveLength(1);

    // Stop/start of a cell: detached, then attached from a new netns with the same ask: the same address.
    await cni.detach(netA.name, id('fixed'), ns.path);
    const fresh = await host.netns();
    expect((await cni.attach(netA.name, id('fixed'), fresh.path, { ip: wanted })).address).toBe(`${wanted}/24`);
    expect(await addressesIn(fresh, 'eth0')).toEqual([`${wanted}/24`]);
    // Asked for another address while attached: moved to it, the old one released.
    const moved = await cni.attach(netA.name, id('fixed'), fresh.path, { ip: `${prefix}.78` });
    expect(await addressesIn(fresh, 'eth0')).toEqual([moved.address]);
    expect(moved.address).toBe(`${prefix}.78/24`);
    expect(reservations(netA)).not.toContain(wanted);
    await cni.detach(netA.name, id('fixed'), fresh.path);
  });

  it('attaches again when CHECK fails because eth0 disappeared from the netns', async () => {
    const ns = await host.netns();
    await cni.attach(netA.name, id('check'), ns.path);
    await inNetns(ns, 'ip', 'link', 'delete', 'eth0');
    const again = await cni.attach(netA.name, id('check'), ns.path);
    expect(await addressesIn(ns, 'eth0')).toEqual([again.address]);
    expect((await cni.listAttachments(netA.name)).filter((a) => a.containerId === id('check'))).toEqual([again]);
    await cni.detach(netA.name, id('check'), ns.path);
  });

  it('moves an attachment to the new netns of a restarted cell and frees the old one', async () => {
    const old = await host.netns();
    const fresh = await host.netns();
    await cni.attach(netA.name, id('moved'), old.path);
    const att = await cni.attach(netA.name, id('moved'), fresh.path);
    expect(await addressesIn(fresh, 'eth0')).toEqual([att.address]);
    expect(await linkExists('eth0', old)).toBe(false);
    expect((await cni.listAttachments(netA.name)).filter((a) => a.containerId === id('moved'))).toEqual([att]);
    await cni.detach(netA.name, id('moved'), fresh.path);
  });

  it('releases the address, the veth and the cache on detach, and detaching again is harmless', async () => {
    const ns = await host.netns();
    const att = await cni.attach(netA.name, id('detach'), ns.path);
    await cni.detach(netA.name, id('detach'), ns.path);
    expect(reservations(netA)).not.toContain(ipOf(att.address));
    expect(await linkExists('eth0', ns)).toBe(false);
    expect(existsSync(cacheFile(netA, id('detach')))).toBe(false);
    await cni.detach(netA.name, id('detach'), ns.path);
    await cni.detach(netA.name, id('detach'));
    expect(await cni.listAttachments(netA.name)).toEqual([]);
  });

  it('releases the address when the netns process was killed first, with the stale path or without one', async () => {
    for (const [suffix, passPath] of [['gone-path', true], ['gone-nopath', false]] as const) {
      const ns = await host.netns();
      const att = await cni.attach(netA.name, id(suffix), ns.path);
      expect(reservations(netA)).toContain(ipOf(att.address));
      await killAndWait(ns.child);
      await cni.detach(netA.name, id(suffix), passPath ? ns.path : undefined);
      expect(reservations(netA)).not.toContain(ipOf(att.address));
      expect(existsSync(cacheFile(netA, id(suffix)))).toBe(false);
    }
    expect(await cni.listAttachments(netA.name)).toEqual([]);
  });

  it('never enters a netns whose path now names another namespace (a reused pid)', async () => {
    const victim = await host.netns();
    const mine = await host.netns();
    const victimAtt = await cni.attach(netA.name, id('victim'), victim.path);
    await cni.attach(netA.name, id('reused'), mine.path);
    // As if `mine` exited and its pid now belonged to `victim`: the cache points at a path that is another netns.
    const file = cacheFile(netA, id('reused'));
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), netns: victim.path }));
    await cni.detach(netA.name, id('reused'), victim.path);
    expect(await addressesIn(victim, 'eth0')).toEqual([victimAtt.address]);
    expect((await cni.listAttachments(netA.name)).map((a) => a.containerId)).toEqual([id('victim')]);
    await cni.detach(netA.name, id('victim'), victim.path);
    await cni.detach(netA.name, id('reused'), mine.path);
  });

  it('hands out distinct addresses to cells attached at the same time', async () => {
    const spaces = await Promise.all([1, 2, 3, 4].map(() => host.netns()));
    const atts = await Promise.all(spaces.map((ns, i) => cni.attach(netB.name, id(`par${i}`), ns.path)));
    expect(new Set(atts.map((a) => a.address)).size).toBe(4);
    for (const [i, ns] of spaces.entries()) expect(await addressesIn(ns, 'eth0')).toEqual([atts[i]!.address]);
    await Promise.all(spaces.map((ns, i) => cni.detach(netB.name, id(`par${i}`), ns.path)));
    expect(reservations(netB)).toEqual([]);
  });

  it('garbage-collects the attachments of containers that no longer exist, including a reservation without a cache', async () => {
    const keep = await host.netns();
    const drop = await host.netns();
    const kept = await cni.attach(netA.name, id('keep'), keep.path);
    const dropped = await cni.attach(netA.name, id('drop'), drop.path);
    const prefix = netA.subnet.split('.').slice(0, 3).join('.');
    writeFileSync(join(dirs.ipamDataDir, netA.name, `${prefix}.250`), `${id('ghost')}\r\neth0`);
    const report = await cni.gc([{ network: netA.name, containerId: id('keep') }]);
    expect(report.released.map((r) => r.containerId).sort()).toEqual([id('drop'), id('ghost')].sort());
    expect(report.masqueradeChainsRemoved).toEqual([]);
    expect(await cni.listAttachments(netA.name)).toEqual([kept]);
    expect(reservations(netA)).toEqual([ipOf(kept.address)]);
    expect(await linkExists('eth0', drop)).toBe(false);
    expect(dropped.address).not.toBe(kept.address);
    await cni.detach(netA.name, id('keep'), keep.path);
  });

  it('deletes a network with a live attachment: bridge, conflist, IPAM state and cache go, and again is harmless', async () => {
    const net = await host.network();
    await cni.ensureNetwork(net);
    const ns = await host.netns();
    await cni.attach(net.name, id('del'), ns.path);
    expect(await linkExists(net.bridge)).toBe(true);
    await cni.deleteNetwork(net.name);
    expect(await linkExists(net.bridge)).toBe(false);
    expect(existsSync(join(dirs.confDir, `${net.name}.conflist`))).toBe(false);
    expect(existsSync(join(dirs.ipamDataDir, net.name))).toBe(false);
    expect(existsSync(cacheFile(net, id('del')))).toBe(false);
    expect(await linkExists('eth0', ns)).toBe(false);
    await cni.deleteNetwork(net.name);
    expect((await cni.listNetworks()).map((n) => n.name)).not.toContain(net.name);
  });

  it("marks the bridge with the install, never joins another install's bridge, and leaves it when deleting by name", async () => {
    const net = await host.network();
    await cni.ensureNetwork(net);
    const ns = await host.netns();
    await cni.attach(net.name, id('mark'), ns.path);
    const alias = readFileSync(`/sys/class/net/${net.bridge}/ifalias`, 'utf8').trim();
    expect(alias).toBe(`kukeon instance=${cni.instance} network=${net.name}`);

    // Another install (its own conf dir, so its own id) handed the same bridge name.
    const other = createCniNetworks({ confDir: join(host.dir, 'o', 'net.d'), ipamDataDir: join(host.dir, 'o', 'ipam'), cacheDir: join(host.dir, 'o', 'cache'), binDirs: ['/usr/lib/cni'] });
    expect(other.instance).not.toBe(cni.instance);
    const refused = await other.ensureNetwork({ ...net, subnet: netB.subnet }).catch((e: unknown) => e);
    expect(isKukeError(refused, 'FailedPrecondition')).toBe(true);
    expect((refused as Error).message).toContain(`bridge ${net.bridge} of network ${net.name} belongs to someone else`);
    // Its cleanup by that name (a conflist it may hold from before) leaves our bridge and our cell's address.
    writeFileSync(join(host.dir, 'o', 'net.d', `${net.name}.conflist`), readFileSync(join(dirs.confDir, `${net.name}.conflist`)));
    await other.deleteNetwork(net.name);
    expect(await linkExists(net.bridge)).toBe(true);
    expect((await addressesIn(ns, 'eth0')).length).toBe(1);

    await cni.deleteNetwork(net.name);
    expect(await linkExists(net.bridge)).toBe(false);
  });

  it('says which plugin is missing and where it looked, on ensure and on attach', async () => {
    const partial = join(host.dir, 'partial-bin');
    mkdirSync(partial);
    for (const p of ['host-local', 'loopback']) symlinkSync(`/usr/lib/cni/${p}`, join(partial, p));
    const broken = createCniNetworks({ confDir: join(host.dir, 'x', 'net.d'), ipamDataDir: join(host.dir, 'x', 'ipam'), cacheDir: join(host.dir, 'x', 'cache'), binDirs: [partial] });
    const onEnsure = await broken.ensureNetwork(await host.network()).catch((e: unknown) => e);
    expect(isKukeError(onEnsure, 'NotFound')).toBe(true);
    expect((onEnsure as Error).message).toContain(`"bridge" not found in ${partial}`);

    // A conflist written while the plugins were there, used after the bridge plugin went away.
    const later = createCniNetworks({ ...dirs, binDirs: [partial] });
    const ns = await host.netns();
    const onAttach = await later.attach(netA.name, id('missing'), ns.path).catch((e: unknown) => e);
    expect(isKukeError(onAttach, 'NotFound')).toBe(true);
    expect(await cni.listAttachments(netA.name)).toEqual([]);
  });

  it('refuses to attach to a network or a netns that does not exist', async () => {
    const ns = await host.netns();
    expect(isKukeError(await cni.attach(`${host.tag}-nope`, id('x'), ns.path).catch((e: unknown) => e), 'NotFound')).toBe(true);
    expect(isKukeError(await cni.attach(netA.name, id('x'), '/proc/999999999/ns/net').catch((e: unknown) => e), 'NotFound')).toBe(true);
    expect(isKukeError(await cni.attach(netA.name, '../etc', ns.path).catch((e: unknown) => e), 'InvalidArgument')).toBe(true);
  });

  it('attaches and detaches a fresh netns in well under a second (medians printed)', async () => {
    const attachMs: number[] = [];
    const detachMs: number[] = [];
    const checkMs: number[] = [];
    for (let i = 0; i < 11; i++) {
      const ns = await host.netns();
      let t = performance.now();
      await cni.attach(netA.name, id(`t${i}`), ns.path);
      attachMs.push(performance.now() - t);
      t = performance.now();
      await cni.attach(netA.name, id(`t${i}`), ns.path);
      checkMs.push(performance.now() - t);
      t = performance.now();
      await cni.detach(netA.name, id(`t${i}`), ns.path);
      detachMs.push(performance.now() - t);
      await killAndWait(ns.child);
    }
    const fmt = (v: number[]) => `median ${median(v).toFixed(1)} ms (min ${Math.min(...v).toFixed(1)}, max ${Math.max(...v).toFixed(1)})`;
    console.log(`CNI attach (ADD bridge+loopback): ${fmt(attachMs)}; attach again (CHECK): ${fmt(checkMs)}; detach (DEL bridge): ${fmt(detachMs)}`);
    expect(median(attachMs)).toBeLessThan(1000);
    expect(median(detachMs)).toBeLessThan(1000);
  });
});
