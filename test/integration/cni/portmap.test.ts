/**
 * Published ports through the real portmap plugin: a listener in a test netns on port 80, attached with a mapping
 * from a free high port on 127.0.0.1, is reached from the host through 127.0.0.1:<host port>; DEL removes the rules,
 * with the netns and without it; gc removes rules left without a cache. Traffic stays on loopback and the test's
 * bridge. The attachments' chains are removed in afterAll whatever happened (the shared CNI-HOSTPORT-* chains stay,
 * as portmap leaves them).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCniNetworks, type CniNetworks } from '../../../src/runtime/cni/networks.js';
import { listPortmapRules, portmapChain } from '../../../src/runtime/cni/portmap.js';
import type { NetworkSpec, PortMapping } from '../../../src/runtime/ports.js';
import { freeLoopbackPort as freePort, getThroughLoopback as ask, listenOnLoopback } from '../../support/loopback-http.js';
import { HostFixture, run, type Netns } from './helpers.js';

const host = new HostFixture();
const dirs = { confDir: join(host.dir, 'net.d'), ipamDataDir: join(host.dir, 'ipam'), cacheDir: join(host.dir, 'cache') };
let cni: CniNetworks;
let net: NetworkSpec;
const ids: string[] = [];

function id(suffix: string): string {
  const containerId = `${host.tag}_p_${suffix}_root`;
  ids.push(containerId);
  return containerId;
}

/**
 * Serves `pong` with busybox httpd on port 80 of the netns and asks through the host port until it answers (5 s).
 * (httpd rather than `nc -e echo`: echo exits without reading the request, and the unread bytes make the kernel
 * reset the connection before the answer arrives.)
 */
async function reach(ns: Netns, hostPort: number): Promise<string> {
  const www = join(host.dir, `www-${ns.pid}`);
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'index.html'), 'pong\n');
  host.spawnIn(ns, 'busybox', 'httpd', '-f', '-p', '80', '-h', www);
  return askUntilAnswered(hostPort);
}

async function askUntilAnswered(hostPort: number, ms = 5_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const answer = await ask(hostPort);
    if (answer || Date.now() > deadline) return answer;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function chainExists(containerId: string): Promise<boolean> {
  return run('iptables', ['-w', '-t', 'nat', '-S', portmapChain(net.name, containerId)]).then(
    () => true,
    () => false,
  );
}

beforeAll(async () => {
  cni = createCniNetworks({ ...dirs, binDirs: ['/usr/lib/cni'] });
  net = await host.network();
  await cni.ensureNetwork(net);
});

afterAll(async () => {
  if (net) {
    for (const containerId of ids) await cni.detach(net.name, containerId).catch(() => undefined);
    await cni.gc([]).catch(() => undefined);
    await cni.deleteNetwork(net.name).catch(() => undefined);
  }
  await host.cleanup();
});

describe('published ports (real portmap plugin, iptables)', () => {
  it('forwards 127.0.0.1:<host port> to port 80 of the cell, and DEL removes the rules', async () => {
    const ns = await host.netns();
    const hostPort = await freePort();
    const containerId = id('web');
    const portMappings: PortMapping[] = [{ hostPort, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }];
    await cni.attach(net.name, containerId, ns.path, { portMappings });
    expect(await chainExists(containerId)).toBe(true);
    expect((await listPortmapRules()).filter((r) => r.network === net.name).map((r) => r.containerId)).toEqual([containerId]);
    // portmap's localhost handling: 127/8 may cross from the host to the bridge.
    expect((await run('sysctl', ['-n', `net.ipv4.conf.${net.bridge}.route_localnet`])).stdout.trim()).toBe('1');
    expect(await reach(ns, hostPort)).toBe('pong');

    await cni.detach(net.name, containerId, ns.path);
    expect(await chainExists(containerId)).toBe(false);
    expect(await askUntilAnswered(hostPort, 1_000)).toBe('');
  });

  it('forwards a mapping without a host address (every address of the host) from 127.0.0.1 too', async () => {
    const ns = await host.netns();
    const hostPort = await freePort();
    const containerId = id('any');
    await cni.attach(net.name, containerId, ns.path, { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] });
    expect(await reach(ns, hostPort)).toBe('pong');
    await cni.detach(net.name, containerId, ns.path);
    expect(await chainExists(containerId)).toBe(false);
  });

  it('sees a process of the host listening on a port, with its address, and the host\'s addresses', async () => {
    const server = await listenOnLoopback();
    const { port } = server.address() as { port: number };
    try {
      const use = await cni.hostPortUse();
      expect(use.sockets).toContainEqual({ protocol: 'tcp', port, address: '127.0.0.1' });
      expect(use.addresses).toContain('127.0.0.1');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect((await cni.hostPortUse()).sockets.some((s) => s.port === port && s.protocol === 'tcp')).toBe(false);
  });

  it('reports host ports another install forwards (they hold no socket), and not its own', async () => {
    const otherDir = join(host.dir, 'other');
    const other = createCniNetworks({ confDir: join(otherDir, 'net.d'), ipamDataDir: join(otherDir, 'ipam'), cacheDir: join(otherDir, 'cache'), binDirs: ['/usr/lib/cni'] });
    const otherNet = await host.network();
    await other.ensureNetwork(otherNet);
    const theirs = `${host.tag}_o_web_root`;
    const mine = id('mine');
    const [a, b] = [await host.netns(), await host.netns()];
    const [theirPort, myPort] = [await freePort(), await freePort()];
    try {
      await other.attach(otherNet.name, theirs, a.path, { portMappings: [{ hostPort: theirPort, containerPort: 80, protocol: 'udp', hostIP: '127.0.0.1' }] });
      await cni.attach(net.name, mine, b.path, { portMappings: [{ hostPort: myPort, containerPort: 80, protocol: 'tcp' }] });
      const { forwarded } = await cni.hostPortUse();
      expect(forwarded).toContainEqual({ protocol: 'udp', port: theirPort, address: '127.0.0.1', owner: `container ${theirs} of CNI network ${otherNet.name}` });
      expect(forwarded.some((f) => f.port === myPort)).toBe(false);
    } finally {
      await other.detach(otherNet.name, theirs).catch(() => undefined);
      await other.deleteNetwork(otherNet.name).catch(() => undefined);
      await cni.detach(net.name, mine).catch(() => undefined);
    }
  });

  it('removes the rules when the netns is gone, and gc removes rules whose cache and reservation were lost', async () => {
    const ns = await host.netns();
    const containerId = id('gone');
    await cni.attach(net.name, containerId, ns.path, { portMappings: [{ hostPort: await freePort(), containerPort: 80, protocol: 'udp' }] });
    ns.child.kill('SIGKILL');
    await new Promise((r) => ns.child.once('exit', r));
    await cni.detach(net.name, containerId, ns.path);
    expect(await chainExists(containerId)).toBe(false);

    // A crash after portmap's ADD and before the cache was written: only the iptables rules tell.
    const ns2 = await host.netns();
    const lost = id('lost');
    await cni.attach(net.name, lost, ns2.path, { portMappings: [{ hostPort: await freePort(), containerPort: 80, protocol: 'tcp' }] });
    rmSync(join(dirs.cacheDir, 'results', `${net.name}-${lost}-eth0`));
    for (const r of await run('ls', [join(dirs.ipamDataDir, net.name)]).then((o) => o.stdout.split('\n'))) {
      if (/^\d+\.\d+\.\d+\.\d+$/.test(r)) rmSync(join(dirs.ipamDataDir, net.name, r));
    }
    expect(await chainExists(lost)).toBe(true);
    const report = await cni.gc([]);
    expect(report.portChainsRemoved).toEqual([portmapChain(net.name, lost)]);
    expect(await chainExists(lost)).toBe(false);
  });
});
