/**
 * Which install owns what it finds on the host. Installs of kukeon can share a host (other run path, namespace
 * suffix, cgroup root, even the same containerd), and bridges live in one host-wide namespace, so nothing is used or
 * deleted by name alone:
 *
 * - Every install has an id: 16 random hex digits in `<confDir>/kukeon-instance`, written once on first use (with
 *   O_EXCL, so two processes starting together agree). It stays with the run path, so moving the run path keeps
 *   the ownership of what it made. New network names carry its first 8 digits (model/names.ts `networkName`).
 * - A bridge the install uses carries the mark `kukeon instance=<id> network=<name>` in its alias (IFLA_IFALIAS,
 *   `/sys/class/net/<bridge>/ifalias`), written right after the bridge plugin creates the bridge at the first ADD.
 *   Before a bridge is used, a mark of another install (or another network) stops us; before it is deleted, only
 *   our own mark allows it, and an unmarked bridge (made before marks existed) is deleted only when nothing is
 *   plugged into it any more.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorKind, KukeError, toKukeError } from '../../errors.js';
import { INSTANCE_ID } from '../../model/names.js';

const run = promisify(execFile);

/** The file, in the CNI conf dir, that holds the install's id. */
export const INSTANCE_FILE = 'kukeon-instance';

/** Where the kernel shows network links. */
const SYS_NET = '/sys/class/net';

/** The install's id from `<dir>/kukeon-instance`, made (16 random hex digits) if there is none yet. */
export function readOrCreateInstanceId(dir: string): string {
  const path = join(dir, INSTANCE_FILE);
  for (let attempt = 0; ; attempt++) {
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw toKukeError(err, `reading ${path}`);
    }
    if (text !== undefined) {
      const id = text.trim();
      // An empty file is another process between its create and its write: read again.
      if (id === '' && attempt < 50) continue;
      if (!INSTANCE_ID.test(id)) {
        throw new KukeError(ErrorKind.DataLoss, `${path} does not hold an install id (16 hex digits)`, {
          hint: `restore it from a backup of the run path; only if this install owns no networks yet, delete it and one is made again`,
        });
      }
      return id;
    }
    try {
      writeFileSync(path, `${randomBytes(8).toString('hex')}\n`, { flag: 'wx', mode: 0o644 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw toKukeError(err, `writing ${path}`);
    }
  }
}

/** The alias that marks a bridge as used by `network` of install `instance`. */
export function bridgeMark(instance: string, network: string): string {
  return `kukeon instance=${instance} network=${network}`;
}

/** Reads a mark back; undefined if the alias is not one (empty, or set by someone else). */
export function parseBridgeMark(alias: string): { instance: string; network: string } | undefined {
  const m = /^kukeon instance=([0-9a-f]{16}) network=(\S+)$/.exec(alias.trim());
  return m ? { instance: m[1]!, network: m[2]! } : undefined;
}

/** A bridge as found on the host. */
export interface BridgeLink {
  /** Its alias, '' if it has none. */
  alias: string;
  /** The interfaces plugged into it (veths of cells). */
  ports: string[];
}

/** Who a bridge belongs to, as far as `instance` and its `network` are concerned. */
export type BridgeOwner = 'ours' | 'unmarked' | { other: string };

/** Whose the bridge is: ours (our mark for this network), unmarked, or someone else's (with the alias as found). */
export function bridgeOwner(link: BridgeLink, instance: string, network: string): BridgeOwner {
  if (link.alias.trim() === '') return 'unmarked';
  const mark = parseBridgeMark(link.alias);
  if (mark && mark.instance === instance && mark.network === network) return 'ours';
  return { other: link.alias.trim() };
}

/**
 * Whether a bridge may be deleted with `network`: when it is ours, or when it is unmarked (made before marks) and
 * nothing is plugged into it; else why not.
 */
export function bridgeDeletion(link: BridgeLink, instance: string, network: string): { delete: true } | { delete: false; reason: string } {
  const owner = bridgeOwner(link, instance, network);
  if (owner === 'ours') return { delete: true };
  if (owner !== 'unmarked') return { delete: false, reason: `it is marked "${owner.other}", not by this install's network ${network}` };
  if (link.ports.length > 0) return { delete: false, reason: `it has no owner mark and ${link.ports.length} interface(s) still plugged in (${link.ports.slice(0, 3).join(', ')})` };
  return { delete: true };
}

/** The bridge `name` on the host; undefined if there is no such link. FailedPrecondition if the link is not a bridge. */
export function readBridge(name: string): BridgeLink | undefined {
  const dir = join(SYS_NET, name);
  if (!existsSync(dir)) return undefined;
  if (!existsSync(join(dir, 'bridge'))) {
    throw new KukeError(ErrorKind.FailedPrecondition, `link ${name} exists but is not a bridge; kukeon leaves it alone`, { hint: `inspect it with: ip -d link show ${name}` });
  }
  let alias = '';
  let ports: string[] = [];
  try {
    alias = readFileSync(join(dir, 'ifalias'), 'utf8').trim();
    ports = readdirSync(join(dir, 'brif')).sort();
  } catch (err) {
    // Deleted between the checks: report it as absent.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw toKukeError(err, `reading bridge ${name}`);
  }
  return { alias, ports };
}

/** Writes our mark on a bridge (sysfs, else `ip link set … alias`, for a read-only /sys). */
export async function markBridge(name: string, instance: string, network: string): Promise<void> {
  const mark = bridgeMark(instance, network);
  try {
    writeFileSync(join(SYS_NET, name, 'ifalias'), mark);
  } catch {
    await run('ip', ['link', 'set', 'dev', name, 'alias', mark], { timeout: 30_000 });
  }
}

/** Deletes a bridge link; already gone is fine. */
export async function deleteBridgeLink(name: string): Promise<void> {
  try {
    await run('ip', ['link', 'delete', name, 'type', 'bridge'], { timeout: 30_000 });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message);
    if (!/Cannot find device|does not exist/.test(stderr)) throw new KukeError(ErrorKind.Internal, `could not delete bridge ${name}: ${stderr.trim()}`, { cause: err });
  }
}
