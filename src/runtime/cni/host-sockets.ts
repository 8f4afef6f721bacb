/**
 * The host's own use of ports, which a published port must not take over (portmap's DNAT rules would silently steal
 * a listener's traffic): sockets listening in the host's network namespace, read from /proc/net/{tcp,tcp6,udp,udp6}
 * (TCP sockets in LISTEN, UDP sockets bound and unconnected), and the host's IPv4 addresses.
 *
 * /proc/net lines: `sl local_address rem_address st …`, the address in hex as the kernel stores it (IPv4: one
 * little-endian 32-bit word; IPv6: four of them), the port in hex.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { HostSocket } from '../ports.js';

/** TCP_LISTEN and, for UDP, TCP_CLOSE (what an unconnected UDP socket reports) in /proc/net's `st` column. */
const LISTEN = '0A';
const UDP_UNCONNECTED = '07';

/** The IPv4 address of a /proc/net hex word (little-endian), e.g. `0100007F` → `127.0.0.1`. */
function ipv4OfHex(word: string): string {
  const n = parseInt(word, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

/**
 * The binding of a /proc/net local address as IPv4 traffic sees it: the IPv4 address, undefined for a wildcard
 * (`0.0.0.0`, or `::`, which takes IPv4 too unless IPV6_V6ONLY, which /proc does not show), and null for an IPv6-only
 * address (`::1`, a global v6 address), which no IPv4 port mapping can take.
 */
function addressOf(hex: string): string | undefined | null {
  if (hex.length === 8) {
    const ip = ipv4OfHex(hex);
    return ip === '0.0.0.0' ? undefined : ip;
  }
  if (hex.length !== 32) return null;
  const words = [0, 8, 16, 24].map((i) => hex.slice(i, i + 8));
  if (words.every((w) => /^0+$/.test(w))) return undefined;
  // ::ffff:a.b.c.d (an IPv4 address on a dual-stack socket): the first two words zero, the third 0000FFFF.
  if (/^0+$/.test(words[0]!) && /^0+$/.test(words[1]!) && words[2]!.toUpperCase() === 'FFFF0000') return ipv4OfHex(words[3]!);
  return null;
}

/** Parses one /proc/net/{tcp,tcp6,udp,udp6} file into the sockets that hold a port. */
export function parseProcNet(text: string, protocol: 'tcp' | 'udp'): HostSocket[] {
  const out: HostSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [local, , state] = [fields[1], fields[2], fields[3]];
    if (!local || !state || state !== (protocol === 'tcp' ? LISTEN : UDP_UNCONNECTED)) continue;
    const [hex, portHex] = local.split(':');
    const address = addressOf(hex ?? '');
    if (address === null || !portHex) continue;
    const port = parseInt(portHex, 16);
    if (port > 0) out.push({ protocol, port, ...(address ? { address } : {}) });
  }
  return out;
}

/** The sockets holding a port in the current network namespace (the host's, for kukeond and an in-process kuke). */
export function readHostSockets(procNet = '/proc/net'): HostSocket[] {
  const out: HostSocket[] = [];
  for (const [file, protocol] of [['tcp', 'tcp'], ['tcp6', 'tcp'], ['udp', 'udp'], ['udp6', 'udp']] as const) {
    let text: string;
    try {
      text = readFileSync(`${procNet}/${file}`, 'utf8');
    } catch {
      continue; // no IPv6 in this kernel: nothing listens there
    }
    out.push(...parseProcNet(text, protocol));
  }
  return out;
}

/** The host's IPv4 addresses, on every interface. */
export function hostIPv4Addresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a?.family === 'IPv4')
    .map((a) => a!.address);
}
