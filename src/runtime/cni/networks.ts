/**
 * CNI networks: one bridge network per space (bridge + host-local IPAM), one attachment per cell (its root
 * container's network namespace, `/proc/<pid>/ns/net`). No loopback plugin: runc brings `lo` up in every network
 * namespace it creates (checked in the integration tests, where a cell's containers talk on 127.0.0.1), and each
 * plugin exec costs several milliseconds on ADD, CHECK and DEL.
 *
 * Files, all under the kukeon run path so the daemon in its cell and an in-process kuke see the same:
 *   <confDir>/<network>.conflist                 the network (0600)
 *   <ipamDir>/<network>/<ip>                     host-local reservations (file content: container id)
 *   <cacheDir>/results/<network>-<id>-eth0.json  the ADD result and the netns it was made for
 *
 * Idempotent: ADD on an attachment whose cached result still passes CHECK returns it unchanged; DEL is always
 * attempted (also when the netns is gone, so the address is released) and forgets the cache.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorKind, KukeError, toKukeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Attachment, NetworkSpec, Networks } from '../ports.js';
import { execPlugin, findPlugin, type CniArgs } from './exec.js';

const run = promisify(execFile);
const CNI_VERSION = '1.0.0';
const IFNAME = 'eth0';

/** Options of {@link createCniNetworks}. */
export interface CniOptions {
  confDir: string;
  ipamDir: string;
  cacheDir: string;
  /** Plugin directories, searched in order. */
  binDirs: string[];
  logger?: Logger;
}

interface Conflist {
  cniVersion: string;
  name: string;
  plugins: ({ type: string } & Record<string, unknown>)[];
}

interface CachedResult {
  network: string;
  containerId: string;
  netns: string;
  result: { ips?: { address: string; gateway?: string }[] } & Record<string, unknown>;
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** The CNI adapter. */
export class CniNetworks implements Networks {
  constructor(private readonly options: CniOptions) {
    for (const dir of [options.confDir, options.ipamDir, join(options.cacheDir, 'results')]) mkdirSync(dir, { recursive: true, mode: 0o750 });
  }

  private conflistPath(name: string): string {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new KukeError(ErrorKind.InvalidArgument, `invalid network name "${name}"`);
    return join(this.options.confDir, `${name}.conflist`);
  }

  private cachePath(network: string, containerId: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(containerId)) throw new KukeError(ErrorKind.InvalidArgument, `invalid container id "${containerId}"`);
    return join(this.options.cacheDir, 'results', `${network}-${containerId}-${IFNAME}.json`);
  }

  private load(name: string): Conflist {
    const path = this.conflistPath(name);
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as Conflist;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new KukeError(ErrorKind.NotFound, `network ${name} does not exist (no ${path})`, { hint: 'its space must be Ready; see kuke get spaces' });
      throw new KukeError(ErrorKind.DataLoss, `network ${name}: ${path} is unreadable: ${(err as Error).message}`, { hint: 'delete the file; the space re-creates it when provisioned' });
    }
  }

  /** The conflist of a network spec. */
  conflistOf(spec: NetworkSpec): Conflist {
    if (spec.bridge.length > 15) throw new KukeError(ErrorKind.InvalidArgument, `bridge name ${spec.bridge} is longer than 15 characters`);
    return {
      cniVersion: CNI_VERSION,
      name: spec.name,
      plugins: [
        {
          type: 'bridge',
          bridge: spec.bridge,
          isGateway: true,
          ipMasq: spec.ipMasq,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: spec.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: this.options.ipamDir },
        },
      ],
    };
  }

  async ensureNetwork(spec: NetworkSpec): Promise<{ created: boolean }> {
    for (const p of ['bridge', 'host-local']) findPlugin(p, this.options.binDirs);
    const path = this.conflistPath(spec.name);
    const text = `${JSON.stringify(this.conflistOf(spec), null, 2)}\n`;
    const existing = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (existing === text) return { created: false };
    writeAtomic(path, text);
    return { created: existing === undefined };
  }

  async deleteNetwork(name: string): Promise<void> {
    const path = this.conflistPath(name);
    let bridge: string | undefined;
    if (existsSync(path)) {
      bridge = (this.load(name).plugins.find((p) => p.type === 'bridge')?.bridge as string | undefined) ?? undefined;
    }
    for (const att of await this.listAttachments(name)) await this.detach(name, att.containerId);
    rmSync(join(this.options.ipamDir, name), { recursive: true, force: true });
    for (const file of readdirSync(join(this.options.cacheDir, 'results'))) if (file.startsWith(`${name}-`)) rmSync(join(this.options.cacheDir, 'results', file), { force: true });
    rmSync(path, { force: true });
    if (bridge) {
      try {
        await run('ip', ['link', 'delete', bridge, 'type', 'bridge']);
      } catch (err) {
        const stderr = String((err as { stderr?: string }).stderr ?? '');
        if (!/Cannot find device|does not exist/.test(stderr)) throw new KukeError(ErrorKind.Internal, `could not delete bridge ${bridge}: ${stderr.trim()}`, { cause: err });
      }
    }
  }

  async listNetworks(): Promise<NetworkSpec[]> {
    const out: NetworkSpec[] = [];
    for (const file of readdirSync(this.options.confDir)) {
      if (!file.endsWith('.conflist')) continue;
      const conf = this.load(file.slice(0, -'.conflist'.length));
      const bridge = conf.plugins.find((p) => p.type === 'bridge');
      const ranges = (bridge?.ipam as { ranges?: { subnet: string }[][] } | undefined)?.ranges;
      out.push({ name: conf.name, bridge: String(bridge?.bridge ?? ''), subnet: ranges?.[0]?.[0]?.subnet ?? '', ipMasq: bridge?.ipMasq === true });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Runs the chain for ADD/CHECK (in order) or DEL (in reverse), threading prevResult as libcni does. */
  private async chain(conf: Conflist, args: CniArgs, prevResult?: unknown): Promise<unknown> {
    const plugins = args.command === 'DEL' ? [...conf.plugins].reverse() : conf.plugins;
    let result = prevResult;
    for (const plugin of plugins) {
      const config = { ...plugin, cniVersion: conf.cniVersion, name: conf.name, ...(result !== undefined ? { prevResult: result } : {}) };
      const out = await execPlugin(plugin.type, this.options.binDirs, args, config);
      if (args.command === 'ADD') result = out ?? result;
    }
    return result;
  }

  async attach(network: string, containerId: string, netnsPath: string): Promise<Attachment> {
    const conf = this.load(network);
    const cachePath = this.cachePath(network, containerId);
    if (existsSync(cachePath)) {
      const cached = JSON.parse(readFileSync(cachePath, 'utf8')) as CachedResult;
      if (cached.netns === netnsPath) {
        try {
          await this.chain(conf, { command: 'CHECK', containerId, netns: netnsPath, ifname: IFNAME }, cached.result);
          return this.attachment(cached);
        } catch (err) {
          this.options.logger?.info({ err, network, containerId }, 'cached CNI attachment failed CHECK; re-adding');
        }
      }
      await this.detach(network, containerId, existsSync(cached.netns) ? cached.netns : undefined);
    }
    let result: CachedResult['result'];
    try {
      result = (await this.chain(conf, { command: 'ADD', containerId, netns: netnsPath, ifname: IFNAME })) as CachedResult['result'];
    } catch (err) {
      // Leave nothing half-attached: undo whatever the chain did before failing.
      await this.chain(conf, { command: 'DEL', containerId, netns: existsSync(netnsPath) ? netnsPath : '', ifname: IFNAME }).catch(() => undefined);
      throw toKukeError(err);
    }
    const cached: CachedResult = { network, containerId, netns: netnsPath, result };
    writeAtomic(cachePath, JSON.stringify(cached));
    return this.attachment(cached);
  }

  private attachment(cached: CachedResult): Attachment {
    const ip = cached.result.ips?.[0];
    if (!ip) throw new KukeError(ErrorKind.Internal, `CNI returned no address for ${cached.containerId} on ${cached.network}`);
    return { network: cached.network, containerId: cached.containerId, ifname: IFNAME, address: ip.address, ...(ip.gateway ? { gateway: ip.gateway } : {}) };
  }

  async detach(network: string, containerId: string, netnsPath?: string): Promise<void> {
    const cachePath = this.cachePath(network, containerId);
    const cached = existsSync(cachePath) ? (JSON.parse(readFileSync(cachePath, 'utf8')) as CachedResult) : undefined;
    const confPath = this.conflistPath(network);
    if (existsSync(confPath)) {
      const conf = this.load(network);
      const netns = netnsPath && existsSync(netnsPath) ? netnsPath : '';
      await this.chain(conf, { command: 'DEL', containerId, netns, ifname: IFNAME }, cached?.result);
      const bridge = conf.plugins.find((p) => p.type === 'bridge');
      // Without the netns the bridge plugin releases the address but cannot see which masquerade rules to drop.
      if (!netns && bridge?.ipMasq === true) await this.dropMasquerade(network, containerId);
    }
    rmSync(cachePath, { force: true });
  }

  /** Removes the ipMasq chain CNI made for an attachment (its rules carry `name: "<net>" id: "<container>"`). */
  private async dropMasquerade(network: string, containerId: string): Promise<void> {
    let rules: string;
    try {
      rules = (await run('iptables', ['-t', 'nat', '-S', 'POSTROUTING'])).stdout;
    } catch {
      return;
    }
    const marker = `name: \\"${network}\\" id: \\"${containerId}\\"`;
    for (const line of rules.split('\n')) {
      if (!line.startsWith('-A POSTROUTING') || !line.includes(containerId) || !line.includes(network)) continue;
      const chain = /-j (CNI-[0-9a-f]+)/.exec(line)?.[1];
      const args = line.replace(/^-A /, '-D ').match(/"[^"]*"|\S+/g)!.map((a) => a.replace(/^"|"$/g, ''));
      await run('iptables', ['-t', 'nat', ...args]).catch(() => undefined);
      if (chain) {
        await run('iptables', ['-t', 'nat', '-F', chain]).catch(() => undefined);
        await run('iptables', ['-t', 'nat', '-X', chain]).catch(() => undefined);
      }
      this.options.logger?.info({ network, containerId, chain, marker }, 'dropped a masquerade chain left behind');
    }
  }

  async listAttachments(network?: string): Promise<Attachment[]> {
    const out: Attachment[] = [];
    const networks = network ? [network] : readdirSync(this.options.ipamDir);
    const prefixes = new Map((await this.listNetworks()).map((n) => [n.name, n.subnet.split('/')[1] ?? '24']));
    for (const net of networks) {
      const dir = join(this.options.ipamDir, net);
      if (!existsSync(dir)) continue;
      for (const file of readdirSync(dir)) {
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(file)) continue;
        const [containerId = ''] = readFileSync(join(dir, file), 'utf8').split(/\r?\n/);
        out.push({ network: net, containerId: containerId.trim(), ifname: IFNAME, address: `${file}/${prefixes.get(net) ?? '24'}` });
      }
    }
    return out;
  }

  /**
   * Garbage collection (beyond the port): releases every reservation and cached result whose container is not in
   * `live`. Returns what it released.
   */
  async gc(live: { network: string; containerId: string }[]): Promise<Attachment[]> {
    const keep = new Set(live.map((l) => `${l.network}/${l.containerId}`));
    const released: Attachment[] = [];
    for (const att of await this.listAttachments()) {
      if (keep.has(`${att.network}/${att.containerId}`)) continue;
      await this.detach(att.network, att.containerId);
      released.push(att);
    }
    return released;
  }
}

/** Creates the adapter (and its directories). */
export function createCniNetworks(options: CniOptions): CniNetworks {
  return new CniNetworks(options);
}
