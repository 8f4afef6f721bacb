/**
 * Subnet allocation: each space gets the first /24 of the pod subnet (default 10.86.0.0/16, engine/config.ts says
 * why) that no live space holds and the host neither routes nor has an address in (another install's bridges,
 * Podman's or Docker's, a VPN's routes: Networks.hostSubnets), so a space never shadows or is shadowed by someone
 * else's range. The choice is stamped into the space's CreateSpace event: it is durable and replayable, and an
 * existing space keeps its subnet whatever the host does later.
 */
import { ErrorKind, KukeError } from '../errors.js';

function toInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid IPv4 address "${ip}"`);
  }
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function toIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses `a.b.c.d/n` into its network address and prefix length. */
export function parseCidr(cidr: string): { base: number; prefix: number } {
  const [ip, len] = cidr.split('/');
  const prefix = Number(len);
  if (!ip || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid CIDR "${cidr}"`, { hint: 'use a.b.c.d/n, e.g. 10.86.0.0/16' });
  }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (toInt(ip) & mask) >>> 0, prefix };
}

/** Whether two CIDRs share an address. */
function overlaps(a: { base: number; prefix: number }, b: { base: number; prefix: number }): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return ((a.base & mask) >>> 0) === ((b.base & mask) >>> 0);
}

/**
 * The first /24 inside `parent` that overlaps nothing in `taken` (the subnets of live spaces, and the ranges the host
 * routes or is addressed in: another install's bridges, docker0, …).
 *
 * @example
 * allocateSubnet('10.86.0.0/16', ['10.86.0.0/24']) // '10.86.1.0/24'
 */
export function allocateSubnet(parent: string, taken: readonly string[]): string {
  const { base, prefix } = parseCidr(parent);
  if (prefix > 24) throw new KukeError(ErrorKind.InvalidArgument, `pod subnet ${parent} is smaller than a /24`);
  const used = taken.map(parseCidr);
  const count = 2 ** (24 - prefix);
  for (let i = 0; i < count; i++) {
    const candidate = { base: (base + i * 256) >>> 0, prefix: 24 };
    if (!used.some((u) => overlaps(u, candidate))) return `${toIp(candidate.base)}/24`;
  }
  const inside = taken.filter((t) => overlaps(parseCidr(t), { base, prefix }));
  const shown = inside.slice(0, 4).join(', ') + (inside.length > 4 ? `, and ${inside.length - 4} more` : '');
  throw new KukeError(ErrorKind.FailedPrecondition, `no free /24 left in pod subnet ${parent}: spaces and the host's routes or addresses use ${shown}`, {
    hint: 'delete unused spaces, or choose another --pod-subnet (kukeond and kuke init take it)',
  });
}
