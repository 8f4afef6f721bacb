/**
 * The CNI adapter (the `Networks` port): one bridge network per space, one attachment per cell, made by running
 * the plugin binaries ourselves (exec.ts) and chaining them as libcni does.
 *
 * Files, all under the kukeon run path so that the daemon in its cell and an in-process `kuke` see the same:
 *   <confDir>/<network>.conflist                  the network: bridge (+ host-local IPAM), loopback, portmap (0600)
 *   <ipamDataDir>/<network>/<ip>                  host-local reservations (content: container id, ifname)
 *   <cacheDir>/results/<network>-<id>-eth0        the ADD result and capability args (published ports), libcni's
 *                                                 cache format plus the netns identity
 *   <confDir>/kukeon-instance                     the install's id (ownership.ts)
 *
 * Ownership (ownership.ts): bridges are host-wide, so each one we use is marked with the install's id and network,
 * a bridge marked by someone else is never joined, and a bridge is deleted only when it is ours.
 *
 * Decisions (measured and tested in test/integration/cni):
 * - cniVersion: the best of 1.0.0 and 0.4.0 that every installed plugin reports in VERSION (asked once per
 *   adapter). containernetworking-plugins 1.1.1 (Debian 12) speak 1.0.0.
 * - `lo`: the loopback plugin is in the chain for ADD and CHECK, so `lo` is up in any netns we attach (runc
 *   brings it up for the namespaces it creates, a netns made some other way has it down). DEL skips loopback: all
 *   it would do is take `lo` down while the root container may still be shutting down and talking on 127.0.0.1,
 *   and the namespace disappears with its last process anyway.
 * - DEL without a netns: when the netns is gone (or its `/proc/<pid>` now belongs to another process, detected by
 *   the nsfs inode recorded at ADD), CNI_NETNS is left empty. bridge then only releases the address through
 *   host-local; the kernel already destroyed the veth with the namespace, and the masquerade chain the plugin
 *   would have removed is removed here (masquerade.ts).
 * - Published ports: `portMappings` go to portmap as `runtimeConfig` (libcni's capability args) on ADD, CHECK and
 *   DEL, and are cached with the result, since portmap's DEL does nothing without them. portmap is not run for an
 *   attachment without ports (it would do nothing). Its rules live in the host's netns, so DEL removes them also
 *   when the cell's netns is gone; rules whose cache was lost are removed by portmap's DEL given a stand-in mapping.
 * - Idempotency: ADD on an attachment whose cached result is for the same netns, asked with the same ports, and
 *   passes CHECK returns it unchanged; otherwise DEL then ADD. A reservation left without a cache (cache lost) makes host-local refuse a
 *   second address for the id: then DEL and ADD once more.
 */
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ErrorKind, isKukeError, KukeError, toKukeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { bridgeName } from '../../model/names.js';
import type { Attachment, AttachOptions, HostPortUse, IsolationSpec, NetworkSpec, Networks } from '../ports.js';
import { checkContainerId, netnsIdentity, ResultCache, writeFileAtomic, type CachedAttachment, type CniResult } from './cache.js';
import {
  buildConflist,
  capabilityArgsOf,
  checkNetworkName,
  checkNetworkSpec,
  NETWORK_PLUGINS,
  parseConflist,
  pickCniVersion,
  pluginConfig,
  PORTMAP_TEARDOWN,
  sameCapabilityArgs,
  skipsWithout,
  specOf,
  type CapabilityArgs,
  type Conflist,
} from './conflist.js';
import { execPlugin, type CniCommand } from './exec.js';
import { hostIPv4Addresses, readHostSockets } from './host-sockets.js';
import { readHostSubnets } from './host-subnets.js';
import { ipamNetworks, readReservations, releaseReservations } from './ipam.js';
import { applyIsolation, hostIptables, type IptablesRunner } from './isolation.js';
import { listMasqueradeRules, removeMasquerade } from './masquerade.js';
import { listForwardedPorts, listPortmapRules } from './portmap.js';
import { bridgeDeletion, bridgeOwner, deleteBridgeLink, markBridge, readBridge, readOrCreateInstanceId } from './ownership.js';

/** The interface every attachment gets inside the cell's netns. */
export const IFNAME = 'eth0';

/** Where plugins are looked for when no bin dirs are given: the upstream location, then Debian's. */
export const DEFAULT_CNI_BIN_DIRS = ['/opt/cni/bin', '/usr/lib/cni'];

/** Options of {@link createCniNetworks}. */
export interface CniNetworksOptions {
  /** Required. Where conflists are written (`<run>/cni/net.d`). */
  confDir: string;
  /** host-local's data dir (`<run>/cni/ipam`); required unless the older alias `ipamDir` is given. */
  ipamDataDir?: string;
  /** @deprecated alias of `ipamDataDir`, kept for callers written before it. */
  ipamDir?: string;
  /** Required. The result cache (`<run>/cni/cache`). */
  cacheDir: string;
  /** Plugin directories, the first holding a plugin wins; default {@link DEFAULT_CNI_BIN_DIRS}. */
  binDirs?: string[];
  /** How long one plugin exec may take; default 30 s. */
  pluginTimeoutMs?: number;
  /** The install's id; default the one kept in `<confDir>/kukeon-instance` (made on first use). */
  instance?: string;
  /** How iptables is run for isolation (isolation.ts); default the host's binaries. */
  iptables?: IptablesRunner;
  logger?: Logger;
}

/** An attachment that must survive {@link CniNetworks.gc}. */
export interface LiveAttachment {
  network: string;
  containerId: string;
}

/** What {@link CniNetworks.gc} released. */
export interface GcReport {
  /** Attachments (reservations and/or cached results) of containers not in `live`, now DELeted. */
  released: Attachment[];
  /** Masquerade chains of containers not in `live` that had nothing else left, now removed. */
  masqueradeChainsRemoved: string[];
  /** Port forwarding chains (portmap's `CNI-DN-…`) of containers not in `live` that had nothing else left, now removed. */
  portChainsRemoved: string[];
}

/** The CNI adapter. Construct with {@link createCniNetworks}. */
export class CniNetworks implements Networks {
  readonly instance: string;
  private readonly confDir: string;
  private readonly ipamDataDir: string;
  private readonly binDirs: string[];
  private readonly cache: ResultCache;
  private readonly timeoutMs: number | undefined;
  private readonly logger: Logger | undefined;
  private cniVersion: Promise<string> | undefined;
  /** Per-attachment queue: attach/detach of one container never interleave within this process. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly iptables: IptablesRunner;
  /** Isolation updates run one after the other: each writes the whole rule set it was given. */
  private isolationQueue: Promise<unknown> = Promise.resolve();

  constructor(options: CniNetworksOptions) {
    const ipamDataDir = options.ipamDataDir ?? options.ipamDir;
    if (!ipamDataDir) throw new KukeError(ErrorKind.InvalidArgument, 'CNI networks need ipamDataDir (host-local state directory)');
    this.confDir = options.confDir;
    this.ipamDataDir = ipamDataDir;
    this.binDirs = options.binDirs?.length ? options.binDirs : DEFAULT_CNI_BIN_DIRS;
    this.cache = new ResultCache(options.cacheDir);
    this.timeoutMs = options.pluginTimeoutMs;
    this.logger = options.logger;
    mkdirSync(this.confDir, { recursive: true, mode: 0o750 });
    mkdirSync(this.ipamDataDir, { recursive: true, mode: 0o750 });
    mkdirSync(this.cache.dir, { recursive: true, mode: 0o750 });
    this.instance = options.instance ?? readOrCreateInstanceId(this.confDir);
    this.iptables = options.iptables ?? hostIptables;
  }

  // ---------------------------------------------------------------------------------------------- networks

  async ensureNetwork(spec: NetworkSpec): Promise<{ created: boolean }> {
    checkNetworkSpec(spec);
    if (spec.ipMasq && !onPath('iptables')) {
      throw new KukeError(ErrorKind.FailedPrecondition, `network ${spec.name} masquerades its traffic, which needs iptables, and iptables is not on PATH`, {
        hint: 'apt-get install iptables (or bind it into the daemon image)',
      });
    }
    this.refuseOthersBridge(spec.bridge, spec.name);
    const path = this.conflistPath(spec.name);
    const text = `${JSON.stringify(buildConflist(spec, await this.negotiatedVersion(), this.ipamDataDir), null, 2)}\n`;
    const existing = readIfExists(path);
    if (existing === text) return { created: false };
    writeFileAtomic(path, text);
    if (existing !== undefined) this.logger?.info({ network: spec.name }, 'rewrote the network conflist');
    return { created: existing === undefined };
  }

  async deleteNetwork(name: string): Promise<void> {
    checkNetworkName(name);
    const path = this.conflistPath(name);
    let bridge = bridgeName(name);
    try {
      const conf = this.load(name);
      if (conf) bridge = specOf(conf).bridge;
    } catch (err) {
      // A damaged conflist must not keep a network from being deleted: the bridge name is derived anyway.
      this.logger?.warn({ err, network: name }, 'deleting a network whose conflist is unreadable');
    }
    for (const att of await this.listAttachments(name)) await this.detach(name, att.containerId);
    await this.deleteOwnBridge(bridge, name);
    rmSync(join(this.ipamDataDir, name), { recursive: true, force: true });
    // The conflist goes last: if anything above fails, a retry still finds the network.
    rmSync(path, { force: true });
  }

  async listNetworks(): Promise<NetworkSpec[]> {
    const out: NetworkSpec[] = [];
    for (const file of readdirSync(this.confDir)) {
      if (!file.endsWith('.conflist')) continue;
      try {
        const conf = this.load(file.slice(0, -'.conflist'.length));
        if (conf) out.push(specOf(conf));
      } catch (err) {
        this.logger?.warn({ err, file }, 'skipping an unreadable conflist');
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async hostPortUse(): Promise<HostPortUse> {
    const ours = new Set((await this.listNetworks()).map((n) => n.name));
    const forwarded = (await listForwardedPorts())
      .filter((f) => !ours.has(f.network))
      .map((f) => ({ protocol: f.protocol, port: f.port, ...(f.address ? { address: f.address } : {}), owner: `container ${f.containerId} of CNI network ${f.network}` }));
    return { sockets: readHostSockets(), addresses: hostIPv4Addresses(), forwarded };
  }

  hostSubnets(): Promise<string[]> {
    return readHostSubnets(this.logger);
  }

  // ---------------------------------------------------------------------------------------------- attachments

  attach(network: string, containerId: string, netnsPath: string, options: AttachOptions = {}): Promise<Attachment> {
    return this.serialized(network, containerId, async () => {
      checkContainerId(containerId);
      const conf = await this.loadCurrent(network);
      if (!conf) throw new KukeError(ErrorKind.NotFound, `network ${network} does not exist (no conflist in ${this.confDir})`, { hint: 'the space must be provisioned first; see kuke get spaces' });
      const netnsId = netnsIdentity(netnsPath);
      if (!netnsId) throw new KukeError(ErrorKind.NotFound, `network namespace ${netnsPath} does not exist (has the cell's root task exited?)`);
      const capabilityArgs = capabilityArgsOf(options);

      const cached = this.cache.read(network, containerId, IFNAME);
      if (cached) {
        // Other port mappings (or another address) than the cached ADD's: the rules must be redone, so DEL and ADD.
        if (cached.netns === netnsPath && cached.netnsId === netnsId && sameCapabilityArgs(cached.capabilityArgs, capabilityArgs)) {
          try {
            await this.runChain(conf, 'CHECK', containerId, netnsPath, cached.result, capabilityArgs);
            return attachmentOf(cached);
          } catch (err) {
            this.logger?.info({ err, network, containerId }, 'cached CNI attachment fails CHECK; attaching again');
          }
        }
        await this.del(conf, containerId, this.liveNetns(cached, cached.netns), cached.result, cached.capabilityArgs ?? {});
        this.cache.remove(network, containerId, IFNAME);
      }

      const { bridge } = specOf(conf);
      this.refuseOthersBridge(bridge, network);
      let result: CniResult;
      try {
        result = await this.add(conf, containerId, netnsPath, capabilityArgs);
      } catch (err) {
        // host-local refuses a second address for an id that still holds one (a reservation whose cache was
        // lost): the DEL in add() released it, so one more ADD succeeds.
        if (!/duplicate allocation/i.test((err as Error).message)) throw this.addressHeld(network, containerId, options.ip) ?? err;
        this.logger?.info({ network, containerId }, 'a stale reservation blocked ADD; released it, adding again');
        result = await this.add(conf, containerId, netnsPath, capabilityArgs);
      }
      const entry: CachedAttachment = {
        kind: 'cniCacheV1',
        containerId,
        config: Buffer.from(JSON.stringify(conf)).toString('base64'),
        ifName: IFNAME,
        networkName: network,
        ...(Object.keys(capabilityArgs).length ? { capabilityArgs } : {}),
        result,
        netns: netnsPath,
        netnsId,
      };
      this.cache.write(entry);
      await this.markIfUnmarked(bridge, network);
      return attachmentOf(entry);
    });
  }

  detach(network: string, containerId: string, netnsPath?: string): Promise<void> {
    return this.serialized(network, containerId, async () => {
      checkNetworkName(network);
      checkContainerId(containerId);
      const cached = this.cache.read(network, containerId, IFNAME);
      // The cache knows where the ADD happened; a caller's path is used only when there is no cache.
      const netns = cached ? this.liveNetns(cached, netnsPath ?? cached.netns) : netnsPath && netnsIdentity(netnsPath) ? netnsPath : '';
      const conf = this.loadForTeardown(network) ?? configOf(cached);
      if (conf) {
        await this.del(conf, containerId, netns, cached?.result, cached ? (cached.capabilityArgs ?? {}) : this.lostCapabilityArgs(network, containerId));
      } else {
        // No conflist and no cached copy of it: nothing can run the plugin, so free the addresses directly.
        const ips = releaseReservations(this.ipamDataDir, network, containerId, IFNAME);
        if (ips.length) this.logger?.warn({ network, containerId, ips }, 'released reservations of a network without a conflist');
      }
      this.cache.remove(network, containerId, IFNAME);
    });
  }

  async listAttachments(network?: string): Promise<Attachment[]> {
    if (network) checkNetworkName(network);
    const cached = this.cache.list().filter((c) => c.ifName === IFNAME && (!network || c.networkName === network));
    const byKey = new Map(cached.map((c) => [`${c.networkName}/${c.containerId}`, c]));
    const networks = network ? [network] : ipamNetworks(this.ipamDataDir);
    const out = new Map<string, Attachment>();
    for (const net of networks) {
      let prefix: string | undefined;
      for (const r of readReservations(this.ipamDataDir, net)) {
        if (r.ifname !== undefined && r.ifname !== IFNAME) continue;
        const key = `${net}/${r.containerId}`;
        const c = byKey.get(key);
        const fromCache = c ? attachmentOrUndefined(c) : undefined;
        prefix ??= this.prefixOf(net) ?? fromCache?.address.split('/')[1] ?? '24';
        const gateway = fromCache?.gateway;
        out.set(key, { network: net, containerId: r.containerId, ifname: IFNAME, address: `${r.ip}/${prefix}`, ...(gateway ? { gateway } : {}) });
      }
    }
    // A cached result without a reservation still stands for a veth (and maybe a masquerade chain) to DEL.
    for (const [key, c] of byKey) {
      const att = attachmentOrUndefined(c);
      if (!out.has(key) && att) out.set(key, att);
    }
    return [...out.values()].sort((a, b) => a.network.localeCompare(b.network) || a.containerId.localeCompare(b.containerId));
  }

  /**
   * Garbage collection, beyond the port: DELs every attachment (host-local reservation or cached result) whose
   * container is not in `live`, which releases its address, and removes masquerade chains left for such containers
   * on the networks this adapter manages. Safe to run at any time with the full set of attachments that should
   * exist (cells Ready, or on their way up or down); returns what it released.
   */
  async gc(live: LiveAttachment[]): Promise<GcReport> {
    const keep = new Set(live.map((l) => `${l.network}/${l.containerId}`));
    const report: GcReport = { released: [], masqueradeChainsRemoved: [], portChainsRemoved: [] };
    for (const att of await this.listAttachments()) {
      if (keep.has(`${att.network}/${att.containerId}`)) continue;
      await this.detach(att.network, att.containerId);
      report.released.push(att);
      this.logger?.info({ network: att.network, containerId: att.containerId, address: att.address }, 'released an attachment of a container that no longer exists');
    }
    const networks = await this.listNetworks();
    const masquerading = new Set(networks.filter((n) => n.ipMasq).map((n) => n.name));
    if (masquerading.size > 0) {
      const rules = await listMasqueradeRules();
      for (const rule of rules) {
        if (!masquerading.has(rule.network) || keep.has(`${rule.network}/${rule.containerId}`)) continue;
        if (await removeMasquerade(rule.network, rule.containerId, rules)) report.masqueradeChainsRemoved.push(rule.chain);
      }
    }
    // Port rules left with neither a cache entry nor a reservation (a crash between portmap's ADD and the cache
    // write): portmap's own DEL removes them, given a stand-in mapping (PORTMAP_TEARDOWN says why).
    const ours = new Set(networks.map((n) => n.name));
    for (const rule of await listPortmapRules()) {
      if (!ours.has(rule.network) || keep.has(`${rule.network}/${rule.containerId}`)) continue;
      const conf = this.loadForTeardown(rule.network);
      if (!conf) continue;
      const portmapOnly = { ...conf, plugins: conf.plugins.filter((p) => p.type === 'portmap') };
      await this.serialized(rule.network, rule.containerId, () => this.runChain(portmapOnly, 'DEL', rule.containerId, '', undefined, { portMappings: [PORTMAP_TEARDOWN] }));
      report.portChainsRemoved.push(rule.chain);
      this.logger?.info({ network: rule.network, containerId: rule.containerId }, 'removed the port forwarding rules of a container that no longer exists');
    }
    return report;
  }

  /**
   * Why ADD could not give `containerId` the address it asked for, when host-local holds it for another container
   * (a reservation left by one that is gone, which reconcile releases at the daemon's start), else undefined.
   */
  private addressHeld(network: string, containerId: string, ip: string | undefined): KukeError | undefined {
    const holder = ip === undefined ? undefined : readReservations(this.ipamDataDir, network).find((r) => r.ip === ip && r.containerId !== containerId);
    if (!holder) return undefined;
    return new KukeError(ErrorKind.FailedPrecondition, `address ${ip} of network ${network} is still reserved for container ${holder.containerId}, so ${containerId} cannot have it`, {
      hint: 'if that container is gone, restart kukeond (kuke daemon restart): its reconcile releases the reservation',
    });
  }

  // ---------------------------------------------------------------------------------------------- isolation

  ensureIsolation(spaces: IsolationSpec[]): Promise<{ changed: boolean }> {
    const next = this.isolationQueue.catch(() => undefined).then(async () => {
      const report = await applyIsolation(this.instance, spaces, this.iptables);
      if (report.changed) this.logger?.info({ spaces: spaces.length }, spaces.length ? 'wrote the isolation rules of the spaces' : 'removed the isolation rules (no space left)');
      return report;
    });
    this.isolationQueue = next;
    return next;
  }

  // ---------------------------------------------------------------------------------------------- ownership

  /** FailedPrecondition if the bridge exists with another install's (or network's) mark: we never join it. */
  private refuseOthersBridge(bridge: string, network: string): void {
    const link = readBridge(bridge);
    const owner = link && bridgeOwner(link, this.instance, network);
    if (!owner || typeof owner === 'string') return;
    throw new KukeError(ErrorKind.FailedPrecondition, `bridge ${bridge} of network ${network} belongs to someone else (its alias is "${owner.other}"); kukeon does not share it`, {
      hint: 'delete this space and create it under another name, or remove the other install\'s network first',
    });
  }

  /** Marks the bridge ours once the plugin has made it (the first ADD); a failure only costs the mark, so it is logged. */
  private async markIfUnmarked(bridge: string, network: string): Promise<void> {
    try {
      const link = readBridge(bridge);
      if (link && bridgeOwner(link, this.instance, network) === 'unmarked') await markBridge(bridge, this.instance, network);
    } catch (err) {
      this.logger?.warn({ err, bridge, network }, 'could not mark the bridge as this install\'s');
    }
  }

  /** Deletes the bridge if it is ours; another install's, or an unmarked one still in use, is left with a warning. */
  private async deleteOwnBridge(bridge: string, network: string): Promise<void> {
    const link = readBridge(bridge);
    if (!link) return;
    const verdict = bridgeDeletion(link, this.instance, network);
    if (!verdict.delete) {
      this.logger?.warn({ bridge, network, reason: verdict.reason }, 'not deleting a bridge that is not this install\'s');
      return;
    }
    await deleteBridgeLink(bridge);
  }

  // ---------------------------------------------------------------------------------------------- plumbing

  private conflistPath(name: string): string {
    checkNetworkName(name);
    return join(this.confDir, `${name}.conflist`);
  }

  /**
   * Capability arguments for the DEL of an attachment whose cache entry is gone. When it still holds an address
   * nobody knows which host ports it had forwarded; portmap's DEL removes the container's rules by their chain name
   * whatever mappings it is given, so a stand-in mapping makes it clean up all the same. With no address either,
   * there is nothing of it to clean (a second DEL after a stop), and portmap is not run.
   */
  private lostCapabilityArgs(network: string, containerId: string): CapabilityArgs {
    const held = readReservations(this.ipamDataDir, network).some((r) => r.containerId === containerId);
    return held ? { portMappings: [PORTMAP_TEARDOWN] } : {};
  }

  /**
   * The network's conflist as this version writes it: one written by an older version (without the portmap plugin,
   * say) is rewritten first, so a space created before a plugin was added gets it at its cells' next start.
   */
  private async loadCurrent(network: string): Promise<Conflist | undefined> {
    const conf = this.load(network);
    if (!conf) return undefined;
    let current: Conflist;
    try {
      current = buildConflist(specOf(conf), conf.cniVersion, this.ipamDataDir);
    } catch {
      return conf; // not a network of ours: used as it is
    }
    const text = `${JSON.stringify(current, null, 2)}\n`;
    if (JSON.stringify(current) === JSON.stringify(conf)) return conf;
    writeFileAtomic(this.conflistPath(network), text);
    this.logger?.info({ network }, 'brought the network conflist up to date');
    return current;
  }

  /** The network's conflist, undefined if it has none; DataLoss if it is unreadable. */
  private load(name: string): Conflist | undefined {
    const path = this.conflistPath(name);
    const text = readIfExists(path);
    return text === undefined ? undefined : parseConflist(text, path);
  }

  /** The conflist for DEL: a damaged file must not keep an address from being released, so it reads as absent. */
  private loadForTeardown(network: string): Conflist | undefined {
    try {
      return this.load(network);
    } catch (err) {
      if (!isKukeError(err, ErrorKind.DataLoss)) throw err;
      this.logger?.warn({ err, network }, 'the network conflist is unreadable; tearing down from the cached copy');
      return undefined;
    }
  }

  private prefixOf(network: string): string | undefined {
    try {
      const conf = this.load(network);
      return conf ? specOf(conf).subnet.split('/')[1] : undefined;
    } catch {
      return undefined;
    }
  }

  /** Asks every plugin the network uses which spec versions it speaks, once; picks the best common one. */
  private negotiatedVersion(): Promise<string> {
    this.cniVersion ??= (async () => {
      const supported: Record<string, string[]> = {};
      for (const type of NETWORK_PLUGINS) {
        const out = (await execPlugin(type, { command: 'VERSION', containerId: '', netns: '', ifname: '' }, { cniVersion: '1.0.0' }, this.execOptions())) as
          | { supportedVersions?: string[] }
          | undefined;
        supported[type] = out?.supportedVersions ?? [];
      }
      const version = pickCniVersion(supported);
      this.logger?.debug({ version, supported }, 'CNI spec version chosen');
      return version;
    })().catch((err: unknown) => {
      this.cniVersion = undefined;
      throw err;
    });
    return this.cniVersion;
  }

  private execOptions(): { binDirs: string[]; timeoutMs?: number } {
    return this.timeoutMs === undefined ? { binDirs: this.binDirs } : { binDirs: this.binDirs, timeoutMs: this.timeoutMs };
  }

  /**
   * Runs the plugins of the list as libcni does: ADD in order, each given the previous plugin's result as
   * `prevResult`; CHECK in order and DEL in reverse, each given the cached result. Returns ADD's final result.
   */
  private async runChain(
    conf: Conflist,
    command: Exclude<CniCommand, 'VERSION'>,
    containerId: string,
    netns: string,
    prevResult: unknown,
    capabilityArgs: CapabilityArgs,
  ): Promise<unknown> {
    let plugins = command === 'DEL' ? [...conf.plugins].reverse() : conf.plugins;
    // Why loopback is skipped on DEL: see the header.
    if (command === 'DEL') plugins = plugins.filter((p) => p.type !== 'loopback');
    // A plugin that does nothing without its capability's arguments (portmap without port mappings) is not run.
    plugins = plugins.filter((p) => !skipsWithout(p, capabilityArgs));
    let result = prevResult;
    for (const plugin of plugins) {
      const started = performance.now();
      const out = await execPlugin(plugin.type, { command, containerId, netns, ifname: IFNAME }, pluginConfig(conf, plugin, result, capabilityArgs), this.execOptions());
      this.logger?.debug({ plugin: plugin.type, command, containerId, ms: Math.round(performance.now() - started) }, 'CNI plugin ran');
      if (command === 'ADD') result = out ?? result;
    }
    return result;
  }

  /** ADD; on failure DELs what the chain may have done (veth, address) before rethrowing. */
  private async add(conf: Conflist, containerId: string, netns: string, capabilityArgs: CapabilityArgs): Promise<CniResult> {
    try {
      const result = (await this.runChain(conf, 'ADD', containerId, netns, undefined, capabilityArgs)) as CniResult | undefined;
      if (!result?.ips?.[0]?.address) throw new KukeError(ErrorKind.Internal, `CNI ADD of ${containerId} to ${conf.name} returned no address`);
      return result;
    } catch (err) {
      await this.del(conf, containerId, netnsIdentity(netns) ? netns : '', undefined, capabilityArgs).catch((cleanupErr: unknown) =>
        this.logger?.warn({ err: cleanupErr, network: conf.name, containerId }, 'DEL after a failed ADD failed too'),
      );
      throw toKukeError(err).withContext(`attaching ${containerId} to network ${conf.name}`);
    }
  }

  /** DEL; with no netns the masquerade chain the plugin could not see is removed here. */
  private async del(conf: Conflist, containerId: string, netns: string, prevResult: unknown, capabilityArgs: CapabilityArgs): Promise<void> {
    await this.runChain(conf, 'DEL', containerId, netns, prevResult, capabilityArgs);
    let ipMasq = false;
    try {
      ipMasq = specOf(conf).ipMasq;
    } catch {
      // not a bridge network of ours: nothing to unmasquerade
    }
    if (!netns && ipMasq && (await removeMasquerade(conf.name, containerId))) {
      this.logger?.info({ network: conf.name, containerId }, 'removed the masquerade chain of an attachment whose netns is gone');
    }
  }

  /**
   * `path` if it still is the namespace the cached ADD was made in, else '' (gone, or the pid was reused: then
   * entering it would delete another namespace's eth0).
   */
  private liveNetns(cached: CachedAttachment, path: string): string {
    if (path !== cached.netns) {
      this.logger?.warn({ network: cached.networkName, containerId: cached.containerId, given: path, cached: cached.netns }, 'DEL for a netns other than the one attached; using the cached one');
      path = cached.netns;
    }
    const id = path ? netnsIdentity(path) : undefined;
    if (!id) return '';
    if (cached.netnsId && cached.netnsId !== id) {
      this.logger?.warn({ network: cached.networkName, containerId: cached.containerId, netns: path }, 'the attached netns is gone and its path now names another one');
      return '';
    }
    return path;
  }

  private serialized<T>(network: string, containerId: string, fn: () => Promise<T>): Promise<T> {
    const key = `${network}/${containerId}`;
    const next = (this.queues.get(key) ?? Promise.resolve()).catch(() => undefined).then(fn);
    this.queues.set(key, next);
    void next.finally(() => {
      if (this.queues.get(key) === next) this.queues.delete(key);
    }).catch(() => undefined);
    return next;
  }
}

/** Creates the CNI adapter (and its directories). */
export function createCniNetworks(options: CniNetworksOptions): CniNetworks {
  return new CniNetworks(options);
}

/** @deprecated the former name of {@link CniNetworksOptions}. */
export type CniOptions = CniNetworksOptions;

function attachmentOf(cached: CachedAttachment): Attachment {
  const att = attachmentOrUndefined(cached);
  if (!att) throw new KukeError(ErrorKind.Internal, `the CNI result of ${cached.containerId} on ${cached.networkName} holds no address`);
  return att;
}

function attachmentOrUndefined(cached: CachedAttachment): Attachment | undefined {
  const ip = cached.result.ips?.[0];
  if (!ip?.address) return undefined;
  return { network: cached.networkName, containerId: cached.containerId, ifname: cached.ifName, address: ip.address, ...(ip.gateway ? { gateway: ip.gateway } : {}) };
}

/** The conflist a cached result was made with (libcni keeps it for DEL after the file is gone). */
function configOf(cached: CachedAttachment | undefined): Conflist | undefined {
  if (!cached?.config) return undefined;
  try {
    return parseConflist(Buffer.from(cached.config, 'base64').toString('utf8'), `cached config of ${cached.containerId}`);
  } catch {
    return undefined;
  }
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw toKukeError(err, `reading ${path}`);
  }
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
