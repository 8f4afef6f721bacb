/**
 * What the CNI integration tests share: network namespaces owned by `unshare --net sleep` processes (the netns is
 * `/proc/<pid>/ns/net`, as a cell's root task's is), commands run inside them with nsenter, test-only networks
 * (random names, their FNV bridge names, 10.250.X.0/24 subnets no route uses yet), and a cleanup that removes
 * every process, bridge, masquerade chain and directory the test made, whatever happened.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bridgeName } from '../../../src/model/names.js';
import { masqueradeChain } from '../../../src/runtime/cni/masquerade.js';
import type { NetworkSpec } from '../../../src/runtime/ports.js';

export const run = promisify(execFile);

/** A process alone in a new network namespace. */
export interface Netns {
  pid: number;
  /** `/proc/<pid>/ns/net`. */
  path: string;
  child: ChildProcess;
}

/** Everything one test file creates on the host, and its removal. */
export class HostFixture {
  readonly tag = `kt${randomBytes(3).toString('hex')}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'kukeon-cni-'));
  private readonly processes: ChildProcess[] = [];
  private readonly bridges = new Set<string>();
  private readonly chains = new Set<string>();
  private readonly usedThirdOctets = new Set<number>();
  private nextNetwork = 0;

  /** A network spec with a unique name, its derived bridge and a free 10.250.X.0/24. */
  async network(ipMasq = false): Promise<NetworkSpec> {
    const name = `${this.tag}-n${this.nextNetwork++}`;
    const bridge = bridgeName(name);
    this.bridges.add(bridge);
    const routes = (await run('ip', ['-4', 'route', 'show'])).stdout;
    for (;;) {
      const x = 1 + Math.floor(Math.random() * 250);
      if (this.usedThirdOctets.has(x) || routes.includes(`10.250.${x}.`)) continue;
      this.usedThirdOctets.add(x);
      return { name, bridge, subnet: `10.250.${x}.0/24`, ipMasq };
    }
  }

  /** Remembers a container id on a masquerading network, so its chain is removed at the end whatever happens. */
  masquerading(network: string, containerId: string): void {
    this.chains.add(masqueradeChain(network, containerId));
  }

  /** Starts `unshare --net sleep` and waits until its netns differs from ours. */
  async netns(): Promise<Netns> {
    const child = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
    this.processes.push(child);
    const pid = child.pid;
    if (!pid) throw new Error('unshare did not start');
    const ours = readlinkSync('/proc/self/ns/net');
    const deadline = Date.now() + 5_000;
    for (;;) {
      let theirs = ours;
      try {
        theirs = readlinkSync(`/proc/${pid}/ns/net`);
      } catch {
        // not there yet
      }
      if (theirs !== ours) return { pid, path: `/proc/${pid}/ns/net`, child };
      if (Date.now() > deadline) throw new Error(`process ${pid} never entered a new network namespace`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Starts a long-running command inside a netns (a listener); killed at the end. */
  spawnIn(ns: Netns, ...cmd: string[]): ChildProcess {
    const child = spawn('nsenter', [`--net=${ns.path}`, ...cmd], { stdio: 'ignore' });
    this.processes.push(child);
    return child;
  }

  /** Removes everything, never throwing. */
  async cleanup(): Promise<void> {
    await Promise.all(this.processes.map(killAndWait));
    for (const bridge of this.bridges) await run('ip', ['link', 'delete', bridge]).catch(() => undefined);
    for (const chain of this.chains) {
      const rules = (await run('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING']).catch(() => ({ stdout: '' }))).stdout;
      for (const line of rules.split('\n').filter((l) => l.includes(`-j ${chain}`))) {
        const source = / -s (\S+)/.exec(line)?.[1];
        const comment = /--comment "(.*)" -j/.exec(line)?.[1]?.replace(/\\"/g, '"');
        if (source && comment) await run('iptables', ['-w', '-t', 'nat', '-D', 'POSTROUTING', '-s', source, '-j', chain, '-m', 'comment', '--comment', comment]).catch(() => undefined);
      }
      await run('iptables', ['-w', '-t', 'nat', '-F', chain]).catch(() => undefined);
      await run('iptables', ['-w', '-t', 'nat', '-X', chain]).catch(() => undefined);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs a command inside a netns and returns its stdout. */
export async function inNetns(ns: Netns, ...cmd: string[]): Promise<string> {
  return (await run('nsenter', [`--net=${ns.path}`, ...cmd], { timeout: 15_000 })).stdout;
}

/** The IPv4 addresses (with prefix) on an interface inside a netns; [] if the interface does not exist. */
export async function addressesIn(ns: Netns, ifname: string): Promise<string[]> {
  const out = await inNetns(ns, 'ip', '-4', '-o', 'addr', 'show', 'dev', ifname).catch(() => '');
  return [...out.matchAll(/inet (\S+)/g)].map((m) => m[1]!);
}

/** Whether a link exists (in the host netns, or in `ns`). */
export async function linkExists(name: string, ns?: Netns): Promise<boolean> {
  const cmd = ['ip', 'link', 'show', 'dev', name];
  return (ns ? inNetns(ns, ...cmd) : run(cmd[0]!, cmd.slice(1)).then((r) => r.stdout)).then(
    () => true,
    () => false,
  );
}

/** Kills a process we started (SIGKILL, by its pid) and waits until it is gone. */
export function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Sends `ping` from `from` to `address`:`port` where a busybox nc listener in `to` answers `pong`. */
export async function tcpPing(fixture: HostFixture, from: Netns, to: Netns, address: string, port: number): Promise<string> {
  fixture.spawnIn(to, 'busybox', 'nc', '-l', '-p', String(port), '-e', 'echo', 'pong');
  // The listener needs a moment to bind; retry the client (for up to 5 s) rather than sleeping a fixed time.
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      const out = await inNetns(from, 'busybox', 'sh', '-c', `echo ping | busybox nc -w 1 ${address} ${port}`);
      if (out.trim() || Date.now() > deadline) return out.trim();
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The median of some numbers. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
