/**
 * Isolation between spaces (issue 10) with the real iptables, bridges made by the real bridge plugin, and network
 * namespaces this file makes: busybox httpd in a cell of space A; cells of A, B and C, the host, and an "outside"
 * namespace reached through a veth of the host (standing for the uplink) try to reach it, with the FORWARD policy
 * as found and then set to DROP by the test (restored afterwards, whatever happens). Traffic stays between these
 * namespaces and the host. The install id is random, so the chains are this test's; afterAll removes them.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorKind } from '../../../src/errors.js';
import { applyIsolation, isolationChains } from '../../../src/runtime/cni/isolation.js';
import { createCniNetworks, type CniNetworks } from '../../../src/runtime/cni/networks.js';
import type { IsolationSpec, NetworkSpec } from '../../../src/runtime/ports.js';
import { kindOf } from '../../support/thrown.js';
import { HostFixture, inNetns, run, type Netns } from './helpers.js';

const host = new HostFixture();
const instance = randomBytes(8).toString('hex');
const chains = isolationChains(instance);
const dirs = { confDir: join(host.dir, 'net.d'), ipamDataDir: join(host.dir, 'ipam'), cacheDir: join(host.dir, 'cache') };
const www = join(host.dir, 'www');
let cni: CniNetworks;
let forwardPolicy: string | undefined;
const nets: Record<'a' | 'b' | 'c', NetworkSpec> = {} as never;
const cells: Record<'a1' | 'a2' | 'b1' | 'c1' | 'pub' | 'out', Netns> = {} as never;
const ip: Record<'a1' | 'b1' | 'out' | 'outHost', string> = {} as never;
/** The host's end of the veth to the "outside" namespace. */
const hostVeth = `${host.tag}o`;
const outSubnet = `10.251.${1 + Math.floor(Math.random() * 250)}`;
/** The host port published (portmap) to httpd in cell `pub` of space A, on the host's address facing the outside. */
const published = 40_000 + Math.floor(Math.random() * 10_000);

const spec = (n: NetworkSpec, allowFrom: NetworkSpec[] = []): IsolationSpec => ({ network: n.name, bridge: n.bridge, allowFrom: allowFrom.map((x) => x.name) });

/** Whether `from` (a netns, or the host) gets an HTTP answer from `address`:`port` within 2 s. */
async function reaches(from: Netns | 'host', address: string, port = 80): Promise<boolean> {
  const cmd = ['busybox', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 ${address} ${port}`];
  const out = await (from === 'host' ? run(cmd[0]!, cmd.slice(1), { timeout: 10_000 }).then((r) => r.stdout) : inNetns(from, ...cmd)).catch(() => '');
  return out.startsWith('HTTP/1.');
}

/** Waits until the host gets an answer from an httpd just started (it binds after a moment). */
async function serving(address: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await reaches('host', address))) {
    if (Date.now() > deadline) throw new Error(`httpd on ${address} never answered the host`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function hooks(): Promise<string[]> {
  return (await run('iptables', ['-w', '-S', 'FORWARD'])).stdout.split('\n').filter((l) => l.includes(`-j ${chains.forward}`));
}

async function chainExists(chain: string): Promise<boolean> {
  return run('iptables', ['-w', '-S', chain]).then(
    () => true,
    () => false,
  );
}

beforeAll(async () => {
  forwardPolicy = /^-P FORWARD (\w+)/.exec((await run('iptables', ['-w', '-S', 'FORWARD'])).stdout)?.[1];
  if (!forwardPolicy) throw new Error('could not read the FORWARD policy');
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'index.html'), 'hello\n');
  cni = createCniNetworks({ ...dirs, binDirs: ['/usr/lib/cni'], instance });
  for (const k of ['a', 'b', 'c'] as const) {
    nets[k] = await host.network();
    await cni.ensureNetwork(nets[k]);
  }
  for (const [name, net] of [['a1', nets.a], ['a2', nets.a], ['b1', nets.b], ['c1', nets.c]] as const) {
    cells[name] = await host.netns();
    const att = await cni.attach(net.name, `${host.tag}_s_${name}_root`, cells[name].path);
    if (name === 'a1' || name === 'b1') ip[name] = att.address.split('/')[0]!;
  }
  // The outside: a namespace behind a veth of the host, on a subnet of its own, routed back through the host.
  cells.out = await host.netns();
  ip.outHost = `${outSubnet}.1`;
  ip.out = `${outSubnet}.2`;
  await run('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', `${hostVeth}p`]);
  await run('ip', ['link', 'set', `${hostVeth}p`, 'netns', String(cells.out.pid)]);
  await run('ip', ['addr', 'add', `${ip.outHost}/24`, 'dev', hostVeth]);
  await run('ip', ['link', 'set', hostVeth, 'up']);
  await inNetns(cells.out, 'ip', 'addr', 'add', `${ip.out}/24`, 'dev', `${hostVeth}p`);
  await inNetns(cells.out, 'ip', 'link', 'set', `${hostVeth}p`, 'up');
  await inNetns(cells.out, 'ip', 'route', 'add', 'default', 'via', ip.outHost);
  cells.pub = await host.netns();
  await cni.attach(nets.a.name, `${host.tag}_s_pub_root`, cells.pub.path, { portMappings: [{ hostPort: published, containerPort: 80, protocol: 'tcp', hostIP: ip.outHost }] });
  for (const name of ['a1', 'b1', 'pub', 'out'] as const) host.spawnIn(cells[name], 'busybox', 'httpd', '-f', '-p', '80', '-h', www);
  for (const name of ['a1', 'b1', 'out'] as const) await serving(ip[name]);
});

afterAll(async () => {
  if (forwardPolicy) await run('iptables', ['-w', '-P', 'FORWARD', forwardPolicy]).catch(() => undefined);
  await applyIsolation(instance, []).catch(() => undefined);
  await run('ip', ['link', 'delete', hostVeth]).catch(() => undefined);
  for (const net of Object.values(nets)) await cni.deleteNetwork(net.name).catch(() => undefined);
  await host.cleanup();
});

/** The reachability matrix this file checks, by the FORWARD policy in force. */
function checks(policy: 'as found' | 'DROP'): void {
  it(`(FORWARD ${policy}) lets cells of one space reach each other, and the host reach any cell`, async () => {
    await cni.ensureIsolation([spec(nets.a), spec(nets.b), spec(nets.c)]);
    expect(await reaches(cells.a2, ip.a1)).toBe(true);
    expect(await reaches('host', ip.a1)).toBe(true);
    expect(await reaches('host', ip.b1)).toBe(true);
  });

  it(`(FORWARD ${policy}) blocks a cell of another space, both ways`, async () => {
    await cni.ensureIsolation([spec(nets.a), spec(nets.b), spec(nets.c)]);
    expect(await reaches(cells.b1, ip.a1)).toBe(false);
    expect(await reaches(cells.c1, ip.a1)).toBe(false);
    expect(await reaches(cells.a1, ip.b1)).toBe(false);
  });

  it(`(FORWARD ${policy}) lets the spaces named in allowFrom in, one way only, and no other`, async () => {
    await cni.ensureIsolation([spec(nets.a, [nets.b]), spec(nets.b), spec(nets.c)]);
    expect(await reaches(cells.b1, ip.a1)).toBe(true);
    expect(await reaches(cells.c1, ip.a1)).toBe(false);
    expect(await reaches(cells.a1, ip.b1)).toBe(false);
    await cni.ensureIsolation([spec(nets.a), spec(nets.b), spec(nets.c)]);
    expect(await reaches(cells.b1, ip.a1)).toBe(false);
  });

  it(`(FORWARD ${policy}) lets a cell reach out of the host's other interfaces, and nothing outside open a connection in`, async () => {
    await cni.ensureIsolation([spec(nets.a), spec(nets.b), spec(nets.c)]);
    expect(await reaches(cells.a1, ip.out)).toBe(true);
    expect(await reaches(cells.out, ip.a1)).toBe(false);
  });

  it(`(FORWARD ${policy}) lets anyone reach a published port through the host's address, another space included`, async () => {
    await cni.ensureIsolation([spec(nets.a), spec(nets.b), spec(nets.c)]);
    expect(await reaches(cells.out, ip.outHost, published)).toBe(true);
    expect(await reaches(cells.b1, ip.outHost, published)).toBe(true);
  });
}

describe('isolation between spaces (real iptables, bridges and netns)', () => {
  it('blocks nothing before the rules exist (what issue 10 found), then hooks one chain at the top of FORWARD', async () => {
    if (forwardPolicy === 'ACCEPT') expect(await reaches(cells.b1, ip.a1)).toBe(true);
    expect(await cni.ensureIsolation([spec(nets.a), spec(nets.b), spec(nets.c)])).toEqual({ changed: true });
    const forward = (await run('iptables', ['-w', '-S', 'FORWARD'])).stdout.split('\n').filter((l) => l.startsWith('-A FORWARD'));
    expect(forward[0]).toBe(`-A FORWARD -m comment --comment "kukeon ${instance}" -j ${chains.forward}`);
    expect(await cni.ensureIsolation([spec(nets.c), spec(nets.b), spec(nets.a)])).toEqual({ changed: false });
    expect(await hooks()).toHaveLength(1);
  });

  checks('as found');

  describe('with the FORWARD policy DROP', () => {
    beforeAll(async () => {
      await run('iptables', ['-w', '-P', 'FORWARD', 'DROP']);
    });
    afterAll(async () => {
      await run('iptables', ['-w', '-P', 'FORWARD', forwardPolicy!]);
    });
    checks('DROP');
  });

  it('leaves the chains of another install alone and refuses to share its chain names', async () => {
    const other = randomBytes(8).toString('hex');
    const twin = `${instance.slice(0, 8)}${other.slice(8)}`;
    try {
      await applyIsolation(other, [spec(nets.c)]);
      expect(await kindOf(applyIsolation(twin, [spec(nets.c)]))).toBe(ErrorKind.FailedPrecondition);
      await cni.ensureIsolation([spec(nets.a)]);
      expect(await chainExists(isolationChains(other).forward)).toBe(true);
    } finally {
      await applyIsolation(other, []);
    }
    expect(await chainExists(isolationChains(other).forward)).toBe(false);
    expect(await chainExists(chains.forward)).toBe(true);
  });

  it('removes the hook and both chains with the last space', async () => {
    expect(await cni.ensureIsolation([])).toEqual({ changed: true });
    expect(await hooks()).toEqual([]);
    expect(await chainExists(chains.forward)).toBe(false);
    expect(await chainExists(chains.isolation)).toBe(false);
    expect(await cni.ensureIsolation([])).toEqual({ changed: false });
  });
});
