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

/** The attachments that have port rules now; [] when iptables or the chain is missing (nothing was ever published). */
export async function listPortmapRules(): Promise<PortmapRule[]> {
  try {
    return parsePortmapRules((await run('iptables', ['-w', '-t', 'nat', '-S', PORTMAP_TOP_CHAIN], { timeout: 30_000 })).stdout);
  } catch {
    return [];
  }
}
