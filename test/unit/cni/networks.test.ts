/**
 * The adapter's protocol logic (chaining, caching, idempotency, DEL without a netns) against fake plugins that log
 * every call. The real plugins are exercised in test/integration/cni.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { createCniNetworks, type CniNetworks } from '../../../src/runtime/cni/networks.js';
import { FakePlugins, fakeBridge } from './fake-plugins.js';

const fake = new FakePlugins();
afterAll(() => fake.remove());

const spec = { name: 'r-s', bridge: 'k-00000001', subnet: '10.9.0.0/24', ipMasq: false };
let root: string;
let cni: CniNetworks;
let nsA: string;
let nsB: string;

/** Short view of the calls: "COMMAND plugin netns". */
const calls = () => fake.calls().map((c) => `${c.command} ${c.plugin} ${c.netns === '' ? '-' : c.netns === nsA ? 'A' : c.netns === nsB ? 'B' : c.netns}`);

beforeEach(async () => {
  root = join(fake.dir, `run-${Math.random().toString(36).slice(2)}`);
  mkdirSync(root);
  nsA = join(root, 'netns-a');
  nsB = join(root, 'netns-b');
  writeFileSync(nsA, '');
  writeFileSync(nsB, '');
  for (const m of ['dup', 'fail-check']) rmSync(fake.marker(m), { force: true });
  fakeBridge(fake);
  fake.plugin('host-local', 'exit 0');
  fake.plugin('loopback', 'exit 0');
  fake.plugin('portmap', 'exit 0');
  cni = createCniNetworks({ confDir: join(root, 'net.d'), ipamDataDir: join(root, 'ipam'), cacheDir: join(root, 'cache'), binDirs: [fake.dir] });
  await cni.ensureNetwork(spec);
  fake.clearCalls();
});

describe('CNI adapter protocol', () => {
  it('asks each plugin its versions once and writes 0.4.0 when one of them lags', async () => {
    fake.plugin('loopback', 'exit 0', '"0.3.1","0.4.0"');
    const fresh = createCniNetworks({ confDir: join(root, 'v', 'net.d'), ipamDataDir: join(root, 'v', 'ipam'), cacheDir: join(root, 'v', 'cache'), binDirs: [fake.dir] });
    await fresh.ensureNetwork(spec);
    await fresh.ensureNetwork({ ...spec, name: 'r-t' });
    expect(fake.calls(true).map((c) => `${c.command} ${c.plugin}`)).toEqual(['VERSION bridge', 'VERSION host-local', 'VERSION loopback', 'VERSION portmap']);
    expect(JSON.parse(readFileSync(join(root, 'v', 'net.d', 'r-s.conflist'), 'utf8')).cniVersion).toBe('0.4.0');
  });

  it('chains ADD through bridge then loopback with prevResult, and caches the result as libcni does', async () => {
    const att = await cni.attach('r-s', 's_t_c_root', nsA);
    expect(att).toEqual({ network: 'r-s', containerId: 's_t_c_root', ifname: 'eth0', address: '10.9.0.2/24', gateway: '10.9.0.1' });
    expect(calls()).toEqual(['ADD bridge A', 'ADD loopback A']);
    const [bridge, loopback] = fake.calls();
    expect(bridge!.stdin).toMatchObject({ type: 'bridge', name: 'r-s', cniVersion: '1.0.0' });
    expect(bridge!.stdin).not.toHaveProperty('prevResult');
    expect(loopback!.stdin).toMatchObject({ type: 'loopback', name: 'r-s', prevResult: { ips: [{ address: '10.9.0.2/24' }] } });
    expect(bridge!.ifname).toBe('eth0');
    const cached = JSON.parse(readFileSync(join(root, 'cache', 'results', 'r-s-s_t_c_root-eth0'), 'utf8'));
    expect(cached).toMatchObject({ kind: 'cniCacheV1', containerId: 's_t_c_root', ifName: 'eth0', networkName: 'r-s', netns: nsA, result: { ips: [{ address: '10.9.0.2/24' }] } });
    expect(JSON.parse(Buffer.from(cached.config, 'base64').toString()).plugins.map((p: { type: string }) => p.type)).toEqual(['bridge', 'loopback', 'portmap']);
    expect(cached).not.toHaveProperty('capabilityArgs');
  });

  it('answers a repeated attach from the cache after CHECK, without a second ADD', async () => {
    const first = await cni.attach('r-s', 's_t_c_root', nsA);
    fake.clearCalls();
    expect(await cni.attach('r-s', 's_t_c_root', nsA)).toEqual(first);
    expect(calls()).toEqual(['CHECK bridge A', 'CHECK loopback A']);
    expect(fake.calls()[0]!.stdin).toMatchObject({ prevResult: { ips: [{ address: '10.9.0.2/24' }] } });
  });

  it('DELs and ADDs again when CHECK fails', async () => {
    await cni.attach('r-s', 's_t_c_root', nsA);
    writeFileSync(fake.marker('fail-check'), '');
    fake.clearCalls();
    const again = await cni.attach('r-s', 's_t_c_root', nsA);
    expect(calls()).toEqual(['CHECK bridge A', 'DEL bridge A', 'ADD bridge A', 'ADD loopback A']);
    expect(again.address).toBe('10.9.0.3/24');
  });

  it('moves to a new netns: DEL in the old one while it exists, without a netns once it is gone', async () => {
    await cni.attach('r-s', 's_t_c_root', nsA);
    fake.clearCalls();
    await cni.attach('r-s', 's_t_c_root', nsB);
    expect(calls()).toEqual(['DEL bridge A', 'ADD bridge B', 'ADD loopback B']);
    rmSync(nsB);
    writeFileSync(nsA, '');
    fake.clearCalls();
    await cni.attach('r-s', 's_t_c_root', nsA);
    expect(calls()).toEqual(['DEL bridge -', 'ADD bridge A', 'ADD loopback A']);
  });

  it('DELs only the bridge (lo stays up) with the cached result, and forgets the attachment', async () => {
    await cni.attach('r-s', 's_t_c_root', nsA);
    fake.clearCalls();
    await cni.detach('r-s', 's_t_c_root', nsA);
    expect(calls()).toEqual(['DEL bridge A']);
    expect(fake.calls()[0]!.stdin).toMatchObject({ prevResult: { ips: [{ address: '10.9.0.2/24' }] } });
    expect(existsSync(join(root, 'cache', 'results', 'r-s-s_t_c_root-eth0'))).toBe(false);
  });

  it('still DELs, with no netns, when the netns is gone or was never given', async () => {
    await cni.attach('r-s', 's_t_c_root', nsA);
    rmSync(nsA);
    fake.clearCalls();
    await cni.detach('r-s', 's_t_c_root', nsA);
    await cni.detach('r-s', 'other_t_c_root');
    expect(calls()).toEqual(['DEL bridge -', 'DEL bridge -']);
  });

  it('uses the cached netns rather than a different path a caller passes', async () => {
    await cni.attach('r-s', 's_t_c_root', nsA);
    fake.clearCalls();
    await cni.detach('r-s', 's_t_c_root', nsB);
    expect(calls()).toEqual(['DEL bridge A']);
  });

  it('releases a reservation whose cache was lost when host-local refuses a duplicate, then adds again', async () => {
    writeFileSync(fake.marker('dup'), '');
    const att = await cni.attach('r-s', 's_t_c_root', nsA);
    expect(calls()).toEqual(['ADD bridge A', 'DEL bridge A', 'ADD bridge A', 'ADD loopback A']);
    expect(att.address).toBe('10.9.0.2/24');
  });

  it('undoes a failed ADD and reports the plugin error with its kind, caching nothing', async () => {
    fake.plugin('loopback', `[ "$CNI_COMMAND" = ADD ] && { printf '{"code":7,"msg":"bad loopback config"}'; exit 1; }; exit 0`);
    const err = await cni.attach('r-s', 's_t_c_root', nsA).catch((e: unknown) => e);
    expect(isKukeError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toMatch(/attaching s_t_c_root to network r-s: .*bad loopback config/);
    expect(calls()).toEqual(['ADD bridge A', 'ADD loopback A', 'DEL bridge A']);
    expect(existsSync(join(root, 'cache', 'results', 'r-s-s_t_c_root-eth0'))).toBe(false);
  });

  it('DELs with the cached conflist after the network file is gone', async () => {
    await cni.attach('r-s', 's_t_c_root', nsA);
    rmSync(join(root, 'net.d', 'r-s.conflist'));
    fake.clearCalls();
    await cni.detach('r-s', 's_t_c_root', nsA);
    expect(calls()).toEqual(['DEL bridge A']);
  });

  it('frees reservation files itself when neither the conflist nor a cache is left', async () => {
    rmSync(join(root, 'net.d', 'r-s.conflist'));
    mkdirSync(join(root, 'ipam', 'r-s'), { recursive: true });
    writeFileSync(join(root, 'ipam', 'r-s', '10.9.0.7'), 's_t_c_root\r\neth0');
    writeFileSync(join(root, 'ipam', 'r-s', '10.9.0.8'), 'x_t_c_root\r\neth0');
    await cni.detach('r-s', 's_t_c_root');
    expect(calls()).toEqual([]);
    expect(existsSync(join(root, 'ipam', 'r-s', '10.9.0.7'))).toBe(false);
    expect(existsSync(join(root, 'ipam', 'r-s', '10.9.0.8'))).toBe(true);
  });

  it('deletes a network whose conflist is damaged, releasing its attachments from the cached copy', async () => {
    await cni.attach('r-s', 's_t_c_root', nsA);
    writeFileSync(join(root, 'net.d', 'r-s.conflist'), '{ not json');
    expect(await cni.listNetworks()).toEqual([]);
    fake.clearCalls();
    await cni.deleteNetwork('r-s');
    expect(calls()).toEqual(['DEL bridge A']);
    expect(existsSync(join(root, 'net.d', 'r-s.conflist'))).toBe(false);
    expect(await cni.listAttachments()).toEqual([]);
  });

  it('never runs two operations on one attachment at once', async () => {
    const [a, b] = await Promise.all([cni.attach('r-s', 's_t_c_root', nsA), cni.attach('r-s', 's_t_c_root', nsA)]);
    expect(a).toEqual(b);
    expect(calls()).toEqual(['ADD bridge A', 'ADD loopback A', 'CHECK bridge A', 'CHECK loopback A']);
  });

  it('lists attachments from reservations (with the network prefix and cached gateway) and cache-only results', async () => {
    await cni.attach('r-s', 's_t_c_root', nsA);
    mkdirSync(join(root, 'ipam', 'r-s'), { recursive: true });
    writeFileSync(join(root, 'ipam', 'r-s', '10.9.0.2'), 's_t_c_root\r\neth0');
    writeFileSync(join(root, 'ipam', 'r-s', '10.9.0.9'), 'old_t_c_root');
    writeFileSync(join(root, 'ipam', 'r-s', 'last_reserved_ip.0'), '10.9.0.9');
    await cni.attach('r-s', 'cacheonly_t_c_root', nsB);
    expect(await cni.listAttachments()).toEqual([
      { network: 'r-s', containerId: 'cacheonly_t_c_root', ifname: 'eth0', address: '10.9.0.3/24', gateway: '10.9.0.1' },
      { network: 'r-s', containerId: 'old_t_c_root', ifname: 'eth0', address: '10.9.0.9/24' },
      { network: 'r-s', containerId: 's_t_c_root', ifname: 'eth0', address: '10.9.0.2/24', gateway: '10.9.0.1' },
    ]);
    const report = await cni.gc([{ network: 'r-s', containerId: 's_t_c_root' }]);
    expect(report.released.map((a) => a.containerId)).toEqual(['cacheonly_t_c_root', 'old_t_c_root']);
  });

  it('runs portmap only for a cell with published ports, giving it the mappings as runtimeConfig on ADD, CHECK and DEL', async () => {
    const portMappings = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const, hostIP: '127.0.0.1' }];
    await cni.attach('r-s', 's_t_c_root', nsA, { portMappings });
    expect(calls()).toEqual(['ADD bridge A', 'ADD loopback A', 'ADD portmap A']);
    const add = fake.calls()[2]!.stdin;
    expect(add).toMatchObject({ type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings }, prevResult: { ips: [{ address: '10.9.0.2/24' }] } });
    // Only the plugin that declares the capability is given it.
    expect(fake.calls()[0]!.stdin).not.toHaveProperty('runtimeConfig');
    const cached = JSON.parse(readFileSync(join(root, 'cache', 'results', 'r-s-s_t_c_root-eth0'), 'utf8'));
    expect(cached.capabilityArgs).toEqual({ portMappings });
    fake.clearCalls();
    await cni.attach('r-s', 's_t_c_root', nsA, { portMappings });
    expect(calls()).toEqual(['CHECK bridge A', 'CHECK loopback A', 'CHECK portmap A']);
    expect(fake.calls()[2]!.stdin).toMatchObject({ runtimeConfig: { portMappings } });
    fake.clearCalls();
    await cni.detach('r-s', 's_t_c_root');
    expect(calls()).toEqual(['DEL portmap A', 'DEL bridge A']);
    expect(fake.calls()[0]!.stdin).toMatchObject({ runtimeConfig: { portMappings } });
  });

  it('DELs the old mappings and ADDs the new ones when a cell is attached again with other ports', async () => {
    await cni.attach('r-s', 's_t_c_root', nsA, { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
    fake.clearCalls();
    await cni.attach('r-s', 's_t_c_root', nsA, { portMappings: [{ hostPort: 9090, containerPort: 80, protocol: 'udp' }] });
    expect(calls()).toEqual(['DEL portmap A', 'DEL bridge A', 'ADD bridge A', 'ADD loopback A', 'ADD portmap A']);
    expect(fake.calls()[0]!.stdin).toMatchObject({ runtimeConfig: { portMappings: [{ hostPort: 8080 }] } });
    expect(fake.calls()[4]!.stdin).toMatchObject({ runtimeConfig: { portMappings: [{ hostPort: 9090, protocol: 'udp' }] } });
  });

  it('removes the port rules when the netns is gone, and lets portmap clean by chain name when the cache was lost', async () => {
    await cni.attach('r-s', 's_t_c_root', nsA, { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
    rmSync(nsA);
    fake.clearCalls();
    await cni.detach('r-s', 's_t_c_root', nsA);
    expect(calls()).toEqual(['DEL portmap -', 'DEL bridge -']);

    // A reservation without a cache entry: which ports it had is unknown, portmap is asked to tear down anyway.
    mkdirSync(join(root, 'ipam', 'r-s'), { recursive: true });
    writeFileSync(join(root, 'ipam', 'r-s', '10.9.0.7'), 'lost_t_c_root\r\neth0');
    fake.clearCalls();
    await cni.detach('r-s', 'lost_t_c_root');
    expect(calls()).toEqual(['DEL portmap -', 'DEL bridge -']);
    expect((fake.calls()[0]!.stdin.runtimeConfig as { portMappings: unknown[] }).portMappings).toHaveLength(1);
  });

  it('brings a conflist written before portmap up to date at the next attach', async () => {
    const path = join(root, 'net.d', 'r-s.conflist');
    const old = JSON.parse(readFileSync(path, 'utf8'));
    old.plugins = old.plugins.filter((p: { type: string }) => p.type !== 'portmap');
    writeFileSync(path, JSON.stringify(old));
    await cni.attach('r-s', 's_t_c_root', nsA, { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
    expect(calls()).toEqual(['ADD bridge A', 'ADD loopback A', 'ADD portmap A']);
    expect(JSON.parse(readFileSync(path, 'utf8')).plugins.map((p: { type: string }) => p.type)).toEqual(['bridge', 'loopback', 'portmap']);
  });

  it('rejects container ids and network names that could escape their directories', async () => {
    expect(isKukeError(await cni.attach('r-s', '../x', nsA).catch((e: unknown) => e), 'InvalidArgument')).toBe(true);
    expect(isKukeError(await cni.detach('../r', 's_t_c_root').catch((e: unknown) => e), 'InvalidArgument')).toBe(true);
    expect(isKukeError(await cni.deleteNetwork('a/b').catch((e: unknown) => e), 'InvalidArgument')).toBe(true);
  });
});
