/**
 * The portmap plugin's iptables rules, read back without the plugin (the plugin itself adds and removes them). Its
 * names are deterministic (plugins/pkg/utils, plugins/meta/portmap): one nat chain per attachment, `CNI-DN-` + the
 * first 21 hex digits of sha512(network + containerId), jumped to from the shared `CNI-HOSTPORT-DNAT` chain by rules
 * commented `dnat name: "<network>" id: "<containerId>"`. gc uses the listing to find the rules of attachments whose
 * cache and reservation are both gone (a crash between the plugin's ADD and the cache write).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The shared nat chain portmap hooks into PREROUTING and OUTPUT (for local destinations); never deleted by it. */
export const PORTMAP_TOP_CHAIN = 'CNI-HOSTPORT-DNAT';

/** The nat chain portmap makes for one attachment's DNAT rules. */
export function portmapChain(network: string, containerId: string): string {
  return `CNI-DN-${createHash('sha512').update(network + containerId).digest('hex')}`.slice(0, 28);
}

/** One attachment's jump from `CNI-HOSTPORT-DNAT`, as read back from `iptables -S`. */
export interface PortmapRule {
  chain: string;
  network: string;
  containerId: string;
}

/** Parses `iptables -t nat -S CNI-HOSTPORT-DNAT` into the attachments' jumps (one per attachment, other rules skipped). */
export function parsePortmapRules(listing: string): PortmapRule[] {
  const out = new Map<string, PortmapRule>();
  for (const line of listing.split('\n')) {
    if (!line.startsWith(`-A ${PORTMAP_TOP_CHAIN} `)) continue;
    const chain = / -j (CNI-DN-[0-9a-f]{21})\b/.exec(line)?.[1];
    const comment = /--comment "dnat name: \\"([^"\\]+)\\" id: \\"([^"\\]+)\\""/.exec(line);
    if (chain && comment) out.set(chain, { chain, network: comment[1]!, containerId: comment[2]! });
  }
  return [...out.values()];
}

/** A host port some attachment's rules forward, as read back from its `CNI-DN-…` chain. */
export interface ForwardedPort extends PortmapRule {
  protocol: 'tcp' | 'udp';
  port: number;
  /** The host address the rule matches (`-d`); absent when it matches every local address. */
  address?: string;
}

/**
 * Parses a whole `iptables -t nat -S` listing into the host ports portmap forwards, with the attachment that owns
 * each (from the jumps of `CNI-HOSTPORT-DNAT`). Only the DNAT rules count (the marking rules repeat them).
 */
export function parseForwardedPorts(listing: string): ForwardedPort[] {
  const owners = new Map(parsePortmapRules(listing).map((r) => [r.chain, r]));
  const out: ForwardedPort[] = [];
  for (const line of listing.split('\n')) {
    const chain = /^-A (CNI-DN-[0-9a-f]{21}) /.exec(line)?.[1];
    const owner = chain && owners.get(chain);
    if (!owner || !/ -j DNAT /.test(line)) continue;
    const protocol = / -p (tcp|udp) /.exec(line)?.[1] as 'tcp' | 'udp' | undefined;
    const port = Number(/ --dport (\d+) /.exec(line)?.[1]);
    const address = / -d (\d+\.\d+\.\d+\.\d+)\/32 /.exec(line)?.[1];
    if (protocol && port > 0) out.push({ ...owner, protocol, port, ...(address ? { address } : {}) });
  }
  return out;
}

/** The host ports portmap forwards now, whoever asked; [] when iptables is missing. */
export async function listForwardedPorts(): Promise<ForwardedPort[]> {
  try {
    return parseForwardedPorts((await run('iptables', ['-w', '-t', 'nat', '-S'], { timeout: 30_000 })).stdout);
  } catch {
    return [];
  }
}

/** The attachments that have port rules now; [] when iptables or the chain is missing (nothing was ever published). */
export async function listPortmapRules(): Promise<PortmapRule[]> {
  try {
    return parsePortmapRules((await run('iptables', ['-w', '-t', 'nat', '-S', PORTMAP_TOP_CHAIN], { timeout: 30_000 })).stdout);
  } catch {
    return [];
  }
}
