/**
 * The CNI adapter with the real plugins from containernetworking-plugins, on network namespaces this test makes
 * (processes started with `unshare --net`) and test-only bridges and subnets. Traffic stays between them.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { bridgeName } from '../../../src/model/names.js';
import { createCniNetworks, type CniNetworks } from '../../../src/runtime/cni/networks.js';

const run = promisify(execFile);
const tag = `kt${process.pid.toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'kukeon-cni-'));
const BIN = ['/usr/lib/cni'];
const netA = { name: `${tag}-a`, bridge: bridgeName(`${tag}-a`), subnet: '10.250.1.0/24', ipMasq: false };
const netB = { name: `${tag}-b`, bridge: bridgeName(`${tag}-b`), subnet: '10.250.2.0/24', ipMasq: false };
const processes: ChildProcess[] = [];
let cni: CniNetworks;

/** A process in a new network namespace; its netns is /proc/<pid>/ns/net. */
async function netns(): Promise<{ pid: number; path: string; child: ChildProcess }> {
  const child = spawn('unshare', ['--net', 'sleep', '120'], { stdio: 'ignore' });
  processes.push(child);
  await new Promise((r) => setTimeout(r, 50));
  const pid = child.pid!;
  return { pid, path: `/proc/${pid}/ns/net`, child };
}

async function inNetns(pid: number, ...cmd: string[]): Promise<string> {
  return (await run('nsenter', [`--net=/proc/${pid}/ns/net`, ...cmd], { timeout: 10_000 })).stdout;
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

beforeAll(async () => {
  cni = createCniNetworks({ confDir: join(dir, 'net.d'), ipamDir: join(dir, 'ipam'), cacheDir: join(dir, 'cache'), binDirs: BIN });
  expect((await cni.ensureNetwork(netA)).created).toBe(true);
  expect((await cni.ensureNetwork(netB)).created).toBe(true);
});

afterAll(async () => {
  await Promise.all(processes.map(killed));
  for (const n of [netA, netB]) {
    await cni.deleteNetwork(n.name).catch(() => undefined);
    await run('ip', ['link', 'delete', n.bridge]).catch(() => undefined);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('CNI networks (real plugins)', () => {
  it('rewrites nothing when the network is ensured again', async () => {
    expect(await cni.ensureNetwork(netA)).toEqual({ created: false });
    expect((await cni.listNetworks()).map((n) => n.name)).toEqual([netA.name, netB.name]);
  });

  it('gives a netns an address from the subnet on eth0, and returns the same address again', async () => {
    const ns = await netns();
    const att = await cni.attach(netA.name, `${tag}_c1_root`, ns.path);
    expect(att.address).toMatch(/^10\.250\.1\.\d+\/24$/);
    expect(await inNetns(ns.pid, 'ip', '-4', 'addr', 'show', 'eth0')).toContain(att.address);
    expect(await cni.attach(netA.name, `${tag}_c1_root`, ns.path)).toEqual(att);
    await cni.detach(netA.name, `${tag}_c1_root`, ns.path);
  });

  it('lets two cells of one network reach each other by address', async () => {
    const a = await netns();
    const b = await netns();
    const attA = await cni.attach(netA.name, `${tag}_ping_a`, a.path);
    const attB = await cni.attach(netA.name, `${tag}_ping_b`, b.path);
    const server = spawn('nsenter', [`--net=${b.path}`, 'busybox', 'nc', '-l', '-p', '7777', '-e', 'echo', 'pong'], { stdio: 'ignore' });
    processes.push(server);
    await new Promise((r) => setTimeout(r, 200));
    const reply = await inNetns(a.pid, 'busybox', 'sh', '-c', `echo ping | busybox nc -w 3 ${attB.address.split('/')[0]} 7777`);
    expect(reply.trim()).toBe('pong');
    expect(attA.address).not.toBe(attB.address);
    await cni.detach(netA.name, `${tag}_ping_a`, a.path);
    await cni.detach(netA.name, `${tag}_ping_b`, b.path);
  });

  it('puts different networks on different bridges and subnets', async () => {
    const a = await netns();
    const b = await netns();
    const attA = await cni.attach(netA.name, `${tag}_iso_a`, a.path);
    const attB = await cni.attach(netB.name, `${tag}_iso_b`, b.path);
    expect(attB.address).toMatch(/^10\.250\.2\./);
    expect((await run('ip', ['link', 'show', netA.bridge])).stdout).toContain(netA.bridge);
    expect((await run('ip', ['link', 'show', netB.bridge])).stdout).toContain(netB.bridge);
    // Each cell's host-side veth is enslaved to its own network's bridge: separate L2 segments.
    const members = async (bridge: string) => (await run('ip', ['-o', 'link', 'show', 'master', bridge])).stdout.trim().split('\n').filter(Boolean).length;
    expect(await members(netA.bridge)).toBe(1);
    expect(await members(netB.bridge)).toBe(1);
    await cni.detach(netA.name, `${tag}_iso_a`, a.path);
    await cni.detach(netB.name, `${tag}_iso_b`, b.path);
    expect(attA.address).toMatch(/^10\.250\.1\./);
  });

  it('releases the address on detach even when the netns is already gone', async () => {
    const ns = await netns();
    const att = await cni.attach(netA.name, `${tag}_gone`, ns.path);
    const ip = att.address.split('/')[0]!;
    expect(existsSync(join(dir, 'ipam', netA.name, ip))).toBe(true);
    await killed(ns.child);
    await cni.detach(netA.name, `${tag}_gone`, ns.path);
    expect(existsSync(join(dir, 'ipam', netA.name, ip))).toBe(false);
    await cni.detach(netA.name, `${tag}_gone`);
  });

  it('garbage-collects reservations of containers that no longer exist', async () => {
    const keep = await netns();
    const drop = await netns();
    await cni.attach(netA.name, `${tag}_keep`, keep.path);
    await cni.attach(netA.name, `${tag}_drop`, drop.path);
    const released = await cni.gc([{ network: netA.name, containerId: `${tag}_keep` }]);
    expect(released.map((r) => r.containerId)).toEqual([`${tag}_drop`]);
    expect((await cni.listAttachments(netA.name)).map((a) => a.containerId)).toEqual([`${tag}_keep`]);
    await cni.detach(netA.name, `${tag}_keep`, keep.path);
  });

  it('deletes a network: conflist, IPAM state and bridge', async () => {
    const net = { name: `${tag}-del`, bridge: bridgeName(`${tag}-del`), subnet: '10.250.9.0/24', ipMasq: false };
    await cni.ensureNetwork(net);
    const ns = await netns();
    await cni.attach(net.name, `${tag}_del`, ns.path);
    await cni.deleteNetwork(net.name);
    await expect(run('ip', ['link', 'show', net.bridge])).rejects.toThrow();
    expect(readdirSync(join(dir, 'net.d'))).not.toContain(`${net.name}.conflist`);
    expect(existsSync(join(dir, 'ipam', net.name))).toBe(false);
  });

  it('says which plugin is missing, and where it looked', async () => {
    const broken = createCniNetworks({ confDir: join(dir, 'x', 'net.d'), ipamDir: join(dir, 'x', 'ipam'), cacheDir: join(dir, 'x', 'cache'), binDirs: [join(dir, 'nowhere')] });
    const err = await broken.ensureNetwork({ ...netA, name: `${tag}-x` }).catch((e) => e);
    expect(isKukeError(err, 'NotFound')).toBe(true);
    expect(err.message).toMatch(/bridge.*nowhere/);
  });
});
