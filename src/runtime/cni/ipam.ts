/**
 * Reading host-local's state. host-local keeps `<dataDir>/<network>/<ip>` per reservation, whose content is the
 * container id and the interface (`<id>\r\n<ifname>` since plugins 0.8; only the id before), plus
 * `last_reserved_ip.<range>` and a `lock` file. Kukeon reads it to list attachments and, as a last resort when a
 * network's conflist is gone and the plugin cannot be asked, releases a container's files itself.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** One address host-local has handed out. */
export interface Reservation {
  network: string;
  /** The IPv4 address, without prefix. */
  ip: string;
  containerId: string;
  /** The interface, when host-local recorded it. */
  ifname?: string;
}

const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** Reads one reservation file's content (`<id>` or `<id>\r\n<ifname>`). */
export function parseReservation(text: string): { containerId: string; ifname?: string } {
  const [id = '', ifname = ''] = text.split(/\r?\n/).map((l) => l.trim());
  return ifname ? { containerId: id, ifname } : { containerId: id };
}

/** The networks that have a host-local directory. */
export function ipamNetworks(dataDir: string): string[] {
  try {
    return readdirSync(dataDir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}

/** The reservations of a network, sorted by address; none if it has no directory. */
export function readReservations(dataDir: string, network: string): Reservation[] {
  const dir = join(dataDir, network);
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Reservation[] = [];
  for (const ip of files) {
    if (!IPV4.test(ip)) continue;
    try {
      out.push({ network, ip, ...parseReservation(readFileSync(join(dir, ip), 'utf8')) });
    } catch {
      // released between readdir and read
    }
  }
  return out.sort((a, b) => ipNumber(a.ip) - ipNumber(b.ip));
}

/** Removes a container's reservation files directly (no plugin). Returns the addresses released. */
export function releaseReservations(dataDir: string, network: string, containerId: string, ifname: string): string[] {
  const released: string[] = [];
  for (const r of readReservations(dataDir, network)) {
    if (r.containerId !== containerId || (r.ifname !== undefined && r.ifname !== ifname)) continue;
    rmSync(join(dataDir, network, r.ip), { force: true });
    released.push(r.ip);
  }
  return released;
}

function ipNumber(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}
