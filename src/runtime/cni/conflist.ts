/**
 * A space's network as a CNI network configuration list: what is written, how it is read back, and the per-plugin
 * configuration libcni would send (`name`, `cniVersion`, `prevResult` and `runtimeConfig` injected into each
 * plugin's object).
 *
 * The list is `bridge` (with host-local IPAM), `loopback`, then `portmap`. `loopback` ignores CNI_IFNAME and brings
 * `lo` up in the netns, so the containers of a cell can talk on 127.0.0.1 whoever made the netns. `portmap`
 * (containernetworking-plugins, with the `portMappings` capability) forwards a cell's published host ports to its
 * address with iptables DNAT rules in a chain of its own per attachment (`CNI-DN-…`), and sets `route_localnet` on
 * the bridge so that 127.0.0.1:<host port> reaches the cell from the host.
 */
import { ErrorKind, KukeError } from '../../errors.js';
import { interfaceNameProblem, MAX_IFNAME_LENGTH, networkNameProblem } from '../../model/names.js';
import type { AttachOptions, NetworkSpec, PortMapping } from '../ports.js';

/** One plugin entry of a conflist. */
export type PluginConf = { type: string } & Record<string, unknown>;

/** A CNI network configuration list. */
export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
}

/** CNI spec versions we can write, best first. Both support CHECK and prevResult on DEL. */
export const CNI_VERSIONS = ['1.0.0', '0.4.0'] as const;

/** The plugin types a space network uses. */
export const NETWORK_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap'] as const;

/**
 * What an attachment passes to the plugins that declare the matching capability (CNI CONVENTIONS.md), as libcni's
 * `CapabilityArgs`: `portMappings` for portmap, `ips` for host-local. Kept in the result cache so DEL and CHECK see
 * what ADD saw.
 */
export interface CapabilityArgs {
  portMappings?: PortMapping[];
  ips?: string[];
}

/**
 * Plugins that do nothing at all without their capability's arguments (portmap with no mappings passes the result
 * through on ADD and returns at once on CHECK and DEL), so running them would only cost a process.
 */
const INERT_WITHOUT: Record<string, keyof CapabilityArgs> = { portmap: 'portMappings' };

/**
 * A mapping given to portmap's DEL when the mappings of the ADD are unknown (its cache entry was lost): portmap
 * tears down the attachment's whole chain, which is named after the network and container, whatever it is given.
 */
export const PORTMAP_TEARDOWN: PortMapping = { hostPort: 1, containerPort: 1, protocol: 'tcp' };

export const BRIDGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Throws InvalidArgument unless `name` can be a network name: CNI's rule, and short enough for the file names made of
 * it (`<realm>.<space>.<instance tag>`, or `<realm>-<space>` from older versions).
 */
export function checkNetworkName(name: string): void {
  const problem = networkNameProblem(name);
  if (problem !== undefined) throw new KukeError(ErrorKind.InvalidArgument, `invalid network name "${name}": it ${problem}`);
}

/** Parses an IPv4 CIDR (`10.86.0.0/24`) into its network number and prefix; InvalidArgument otherwise. */
export function parseSubnet(subnet: string): { base: number; prefix: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(subnet);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : -1;
  if (!m || octets.some((o) => o > 255) || prefix < 8 || prefix > 30) {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid subnet "${subnet}": expected an IPv4 CIDR with a prefix from /8 to /30, e.g. 10.86.0.0/24`);
  }
  const base = octets.reduce((acc, o) => acc * 256 + o, 0);
  if (base % 2 ** (32 - prefix) !== 0) throw new KukeError(ErrorKind.InvalidArgument, `invalid subnet "${subnet}": host bits are set`);
  return { base, prefix };
}

/** Checks a spec before anything is written: name, bridge (≤ 15 chars, IFNAMSIZ) and subnet. */
export function checkNetworkSpec(spec: NetworkSpec): void {
  checkNetworkName(spec.name);
  if (!BRIDGE_NAME.test(spec.bridge) || interfaceNameProblem(spec.bridge) !== undefined) {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid bridge name "${spec.bridge}" for network ${spec.name}: at most ${MAX_IFNAME_LENGTH} letters, digits, '-', '_' or '.'`);
  }
  parseSubnet(spec.subnet);
}

/** The conflist of a space network. `ipamDataDir` is where host-local keeps reservations (under the run path). */
export function buildConflist(spec: NetworkSpec, cniVersion: string, ipamDataDir: string): Conflist {
  checkNetworkSpec(spec);
  return {
    cniVersion,
    name: spec.name,
    plugins: [
      {
        type: 'bridge',
        bridge: spec.bridge,
        isGateway: true,
        ipMasq: spec.ipMasq,
        hairpinMode: true,
        // libcni's capability convention: the runtimeConfig `ips` (a cell's stamped address) goes to the plugin
        // that declares it; bridge passes its whole config on to host-local, which hands out exactly that address.
        capabilities: { ips: true },
        ipam: { type: 'host-local', ranges: [[{ subnet: spec.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDataDir },
      },
      { type: 'loopback' },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}

/** The capability arguments of an attachment: only what it asks for, so that a cell without ports caches none. */
export function capabilityArgsOf(options: AttachOptions): CapabilityArgs {
  return {
    ...(options.portMappings?.length ? { portMappings: options.portMappings.map(portMappingOf) } : {}),
    ...(options.ip ? { ips: [options.ip] } : {}),
  };
}

/** A mapping as portmap reads it (its field order; no `hostIP` key when it binds every address). */
function portMappingOf(m: PortMapping): PortMapping {
  return { hostPort: m.hostPort, containerPort: m.containerPort, protocol: m.protocol, ...(m.hostIP ? { hostIP: m.hostIP } : {}) };
}

/** Whether two attachments asked the plugins for the same things (a cached one may predate capability args). */
export function sameCapabilityArgs(a: CapabilityArgs | undefined, b: CapabilityArgs): boolean {
  return JSON.stringify(a ?? {}) === JSON.stringify(b);
}

/** Whether `plugin` can be left out of a run of the chain given these capability arguments (see INERT_WITHOUT). */
export function skipsWithout(plugin: PluginConf, args: CapabilityArgs): boolean {
  const capability = INERT_WITHOUT[plugin.type];
  if (!capability) return false;
  const value = args[capability];
  return !Array.isArray(value) || value.length === 0;
}

/** The network spec a conflist describes; DataLoss if it is not one of ours (no bridge plugin, no subnet). */
export function specOf(conf: Conflist): NetworkSpec {
  const bridge = conf.plugins.find((p) => p.type === 'bridge');
  const ranges = (bridge?.ipam as { ranges?: { subnet?: string }[][] } | undefined)?.ranges;
  const subnet = ranges?.[0]?.[0]?.subnet;
  if (!bridge || typeof bridge.bridge !== 'string' || typeof subnet !== 'string') {
    throw new KukeError(ErrorKind.DataLoss, `network ${conf.name}: the conflist has no bridge plugin with a host-local subnet`);
  }
  return { name: conf.name, bridge: bridge.bridge, subnet, ipMasq: bridge.ipMasq === true };
}

/** Parses a conflist's text; DataLoss (naming the file) if it is not a conflist. */
export function parseConflist(text: string, path: string): Conflist {
  let conf: Partial<Conflist>;
  try {
    conf = JSON.parse(text) as Partial<Conflist>;
  } catch (err) {
    throw new KukeError(ErrorKind.DataLoss, `${path} is not JSON: ${(err as Error).message}`, { hint: 'delete the file; the space writes it again when it is provisioned' });
  }
  if (typeof conf.name !== 'string' || typeof conf.cniVersion !== 'string' || !Array.isArray(conf.plugins) || conf.plugins.some((p) => typeof p?.type !== 'string')) {
    throw new KukeError(ErrorKind.DataLoss, `${path} is not a CNI conflist (needs name, cniVersion and plugins[].type)`, {
      hint: 'delete the file; the space writes it again when it is provisioned',
    });
  }
  return conf as Conflist;
}

/**
 * One plugin's stdin, built as libcni's buildOneConfig does: the entry plus `name`, `cniVersion`, `prevResult`, and
 * `runtimeConfig` holding the capability arguments the plugin declares in its `capabilities` (and only those).
 */
export function pluginConfig(conf: Conflist, plugin: PluginConf, prevResult?: unknown, capabilityArgs: CapabilityArgs = {}): Record<string, unknown> {
  const declared = (plugin.capabilities ?? {}) as Record<string, unknown>;
  const runtimeConfig = Object.fromEntries(Object.entries(capabilityArgs).filter(([key, value]) => declared[key] === true && value !== undefined));
  return {
    ...plugin,
    cniVersion: conf.cniVersion,
    name: conf.name,
    ...(Object.keys(runtimeConfig).length ? { runtimeConfig } : {}),
    ...(prevResult !== undefined ? { prevResult } : {}),
  };
}

/**
 * The best version of {@link CNI_VERSIONS} that every plugin supports, given each plugin's VERSION answer
 * (`supportedVersions`). FailedPrecondition when there is none.
 */
export function pickCniVersion(supported: Record<string, string[]>): string {
  const best = CNI_VERSIONS.find((v) => Object.values(supported).every((list) => list.includes(v)));
  if (best) return best;
  const found = Object.entries(supported).map(([type, list]) => `${type}: ${list.join(', ') || 'none'}`).join('; ');
  throw new KukeError(ErrorKind.FailedPrecondition, `the installed CNI plugins share no spec version kukeon speaks (${CNI_VERSIONS.join(' or ')}); they support ${found}`, {
    hint: 'install containernetworking-plugins 0.8 or newer',
  });
}
