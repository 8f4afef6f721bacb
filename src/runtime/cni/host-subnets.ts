/**
 * The IPv4 ranges the host already uses, which a new space's subnet must not overlap: every route's destination
 * (on a link or through a gateway, in any routing table) and every interface address's subnet (a link that is
 * down has no route but keeps its address, and comes back with it).
 *
 * Sources, all read-only: `ip -j -4 route show table all` and `ip -j -4 addr show` (iproute2, in the daemon's
 * image), and the kernel's main table `/proc/net/route`, which is there even without iproute2.
 *
 * Catch-all routes are not ranges in use: the default route, and anything shorter than a /8, such as the
 * 0.0.0.0/1 + 128.0.0.0/1 pair a VPN installs to override the default route (OpenVPN's def1, wg-quick). A space's
 * /24 is more specific than those, so the host still reaches it on its bridge.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Logger } from '../../log.js';

const run = promisify(execFile);

/** Routes shorter than this are catch-alls (see the header). */
export const MIN_ROUTE_PREFIX = 8;

/** `a.b.c.d/n` with the host bits cleared, or undefined when `ip` is not an IPv4 address or `prefix` not 0–32. */
export function subnetOf(ip: string, prefix: number): string | undefined {
  const octets = ip.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return undefined;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  const n = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const base = n - (n % size);
  return `${[base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join('.')}/${prefix}`;
}

function sorted(set: Set<string>): string[] {
  return [...set].sort();
}

/**
 * The destinations of `/proc/net/route` (addresses and masks as little-endian hex), as CIDRs, sorted and unique;
 * the default route and other catch-alls left out.
 *
 * @example
 * procRouteSubnets('Iface\tDestination\tGateway\tFlags\t…\nbr0\t0000560A\t00000000\t0001\t0\t0\t0\t00FFFFFF…')
 * // ['10.86.0.0/24']
 */
export function procRouteSubnets(table: string): string[] {
  const out = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [destination, mask] = [f[1]!, f[7]!];
    if (!/^[0-9A-Fa-f]{8}$/.test(destination) || !/^[0-9A-Fa-f]{8}$/.test(mask)) continue;
    const prefix = leBytes(mask).reduce((bits, b) => bits + b.toString(2).replace(/0/g, '').length, 0);
    if (prefix < MIN_ROUTE_PREFIX) continue;
    const cidr = subnetOf(leBytes(destination).join('.'), prefix);
    if (cidr) out.add(cidr);
  }
  return sorted(out);
}

/** The destinations of `ip -j -4 route show table all` (`default`, `a.b.c.d/n` or a host `a.b.c.d`), catch-alls left out. */
export function ipRouteSubnets(json: string): string[] {
  const out = new Set<string>();
  for (const route of parseArray(json)) {
    const dst = (route as { dst?: unknown }).dst;
    if (typeof dst !== 'string' || dst === 'default') continue;
    const [ip = '', len] = dst.split('/');
    const prefix = len === undefined ? 32 : Number(len);
    if (prefix < MIN_ROUTE_PREFIX) continue;
    const cidr = subnetOf(ip, prefix);
    if (cidr) out.add(cidr);
  }
  return sorted(out);
}

/** The subnets of every IPv4 address in `ip -j -4 addr show` (and of the peer of a point-to-point address). */
export function ipAddrSubnets(json: string): string[] {
  const out = new Set<string>();
  for (const link of parseArray(json)) {
    const infos = (link as { addr_info?: unknown }).addr_info;
    if (!Array.isArray(infos)) continue;
    for (const info of infos as { family?: unknown; local?: unknown; address?: unknown; prefixlen?: unknown }[]) {
      if (info.family !== 'inet' || typeof info.prefixlen !== 'number') continue;
      for (const ip of [info.local, info.address]) {
        const cidr = typeof ip === 'string' ? subnetOf(ip, info.prefixlen) : undefined;
        if (cidr) out.add(cidr);
      }
    }
  }
  return sorted(out);
}

function parseArray(json: string): unknown[] {
  try {
    const value = JSON.parse(json) as unknown;
    return Array.isArray(value) ? value.filter((v) => v !== null && typeof v === 'object') : [];
  } catch {
    return [];
  }
}

/** The bytes of a little-endian hex word, in address order. */
function leBytes(hex: string): number[] {
  return [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
}

/**
 * Every range in use on the host (see the header), sorted and unique. Without iproute2 only the main table is
 * read (logged once per call): routes of other tables and addresses of links that are down are then missed.
 */
export async function readHostSubnets(logger?: Logger): Promise<string[]> {
  const out = new Set(procRouteSubnets(readFileSync('/proc/net/route', 'utf8')));
  try {
    const [routes, addrs] = await Promise.all([
      run('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }),
      run('ip', ['-j', '-4', 'addr', 'show'], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }),
    ]);
    for (const cidr of [...ipRouteSubnets(routes.stdout), ...ipAddrSubnets(addrs.stdout)]) out.add(cidr);
  } catch (err) {
    logger?.warn({ err }, 'could not run iproute2 (ip): a new space avoids only the subnets of the main routing table');
  }
  return sorted(out);
}
