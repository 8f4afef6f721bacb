/**
 * What a cell asks of its network attachment (`AttachOptions`, src/runtime/ports.ts): its address and its published
 * ports; and how its address is chosen.
 *
 * Addresses (issue 10, item 6): a cell keeps one IPv4 address on its space's network for its whole life, across
 * stop/start, as a Podman or Docker container on a user-defined network does. The address is decided by
 * Operations when the cell is created (a static `spec.ip` / `--ip`, checked, or a free one: {@link nextAddress}) and
 * stamped in its template (`CellTemplate.ip`, events/specs.ts), so it is durable and a replay decides nothing. The
 * start saga passes it to CNI, where host-local hands out exactly that address (the `ips` capability).
 *
 * "Held" addresses are those of the space's live cells (not Deleted): their stamped `ip`, and the address a cell
 * holds right now (a cell recorded before addresses were stamped got one from host-local's pool).
 * Host addresses are never handed out: the network address, the gateway (the first host address, which the bridge
 * holds) and the broadcast address.
 */
import type { CellTarget } from '../../machines/cell.js';
import type { CellTemplate } from '../../events/specs.js';
import { portMappingsOf } from '../model/ports.js';
import { streamOf } from '../model/streams.js';
import type { AttachOptions } from '../runtime/ports.js';
import type { Engine } from './engine.js';
import { checkHostPorts } from './port-check.js';

function toInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function toIp(n: number): string {
  return [Math.floor(n / 2 ** 24) % 256, Math.floor(n / 2 ** 16) % 256, Math.floor(n / 256) % 256, n % 256].join('.');
}

/** The addresses of a subnet that matter here. */
interface Range {
  network: number;
  gateway: number;
  broadcast: number;
}

function rangeOf(subnet: string): Range {
  const [ip = '', len = '32'] = subnet.split('/');
  const size = 2 ** (32 - Number(len));
  const network = toInt(ip) - (toInt(ip) % size);
  return { network, gateway: network + 1, broadcast: network + size - 1 };
}

/**
 * Why `ip` cannot be a cell's address in `subnet`, or undefined: outside it, or its network, gateway or broadcast
 * address.
 *
 * @example
 * addressProblem('10.86.3.0/24', '10.86.3.1') // 'it is the gateway of 10.86.3.0/24 (the space's bridge holds it)'
 */
export function addressProblem(subnet: string, ip: string): string | undefined {
  const r = rangeOf(subnet);
  const n = toInt(ip);
  if (n < r.network || n > r.broadcast) return `it is outside the space's subnet ${subnet}`;
  if (n === r.network) return `it is the network address of ${subnet}`;
  if (n === r.gateway) return `it is the gateway of ${subnet} (the space's bridge holds it)`;
  if (n === r.broadcast) return `it is the broadcast address of ${subnet}`;
  return undefined;
}

/**
 * The lowest address of `subnet` a cell may have (gateway, network and broadcast skipped) that is not in `held`;
 * undefined when all are held.
 *
 * @example
 * firstFreeAddress('10.86.3.0/24', ['10.86.3.2']) // '10.86.3.3'
 */
export function firstFreeAddress(subnet: string, held: Iterable<string>): string | undefined {
  const r = rangeOf(subnet);
  const taken = new Set([...held].map(toInt));
  for (let n = r.gateway + 1; n < r.broadcast; n++) if (!taken.has(n)) return toIp(n);
  return undefined;
}

/**
 * The address a new cell gets: the lowest free one that no cell of the space ever had (in the engine's memory), else
 * the free one released longest ago. A just-released address is handed out last because peers of the deleted cell
 * keep its MAC in their neighbour caches (REACHABLE, refreshed by their own traffic): a new cell given that address
 * at once is unreachable from them until they flush (seen in the names e2e: 15 s of retries did not recover). This
 * is host-local's reason for handing out addresses round-robin.
 *
 * @param released addresses of deleted cells of the space, oldest release first (a later entry wins for repeats)
 * @example
 * nextAddress('10.86.3.0/24', ['10.86.3.2'], ['10.86.3.3']) // '10.86.3.4'
 */
export function nextAddress(subnet: string, held: Iterable<string>, released: readonly string[]): string | undefined {
  const heldSet = new Set(held);
  // Oldest release first; an address released again moves to its latest place (a Set keeps insertion order).
  const byRelease = new Set<string>();
  for (const ip of released) {
    byRelease.delete(ip);
    byRelease.add(ip);
  }
  const neverUsed = firstFreeAddress(subnet, [...heldSet, ...byRelease]);
  if (neverUsed !== undefined) return neverUsed;
  for (const ip of byRelease) if (!heldSet.has(ip) && addressProblem(subnet, ip) === undefined) return ip;
  return undefined;
}

/** The addresses that deleted cells of a space had, oldest deletion first. */
export function releasedAddresses(engine: Engine, realm: string, space: string): string[] {
  const gone = engine.list(`cell/${realm}/${space}/`).filter((agg) => String(agg.snapshot.value) === 'Deleted');
  return gone
    .sort((a, b) => a.seq - b.seq)
    .flatMap((agg) => {
      const c = agg.snapshot.context as { template?: CellTemplate | null; address?: string | null };
      const ips = [c.template?.ip, c.address?.split('/')[0]].filter((ip): ip is string => typeof ip === 'string' && ip !== '');
      return [...new Set(ips)];
    });
}

/** The subnet a space's CreateSpace stamped, undefined when the space does not exist (or predates subnets). */
export function spaceSubnetOf(engine: Engine, realm: string, space: string): string | undefined {
  const agg = engine.get(streamOf({ kind: 'space', realm, space }));
  return (agg?.snapshot.context as { attributes?: { network?: { subnet?: string } } } | undefined)?.attributes?.network?.subnet;
}

/**
 * The addresses held by the live cells of a space, each with the cell holding it (`stack/cell`), but those of the
 * cell `except` (a stream), which may keep its own.
 */
export function heldAddresses(engine: Engine, realm: string, space: string, except?: string): Map<string, string> {
  const held = new Map<string, string>();
  for (const agg of engine.list(`cell/${realm}/${space}/`, { live: true })) {
    if (agg.stream === except) continue;
    const c = agg.snapshot.context as { stack: string; name: string; template: CellTemplate | null; address: string | null };
    const holder = `${c.stack}/${c.name}`;
    if (c.template?.ip) held.set(c.template.ip, holder);
    if (c.address) held.set(c.address.split('/')[0]!, holder);
  }
  return held;
}

/** Whether a cell's root uses the host's network (then the cell has no address of its own). */
export function onHostNetwork(template: CellTemplate): boolean {
  return template.containers.find((c) => c.name === template.root)?.hostNetwork === true;
}

/**
 * What the start saga passes to `Networks.attach` for a cell: its stamped address, and its published ports (the
 * union of its containers': they all live in the root's network namespace). Throws FailedPrecondition when a process
 * of the host has taken one of those ports since the cell was created (portmap would steal its traffic), so the start
 * fails with that reason, as `docker start` does with "address already in use".
 */
export async function attachOptionsOf(engine: Engine, cell: CellTarget): Promise<AttachOptions> {
  const portMappings = portMappingsOf(cell.template);
  await checkHostPorts(engine, `cell "${cell.name}"`, portMappings);
  const ip = addressOf(engine, cell);
  return { ...(ip ? { ip } : {}), ...(portMappings.length ? { portMappings } : {}) };
}

/**
 * The address a starting cell asks for: its stamped one. A cell recorded before addresses were stamped, started by
 * reconcile or a restart before Operations stamped it, asks for the first address no other live cell of the space
 * holds, so that it cannot take a stamped cell's. None on the host's network.
 */
function addressOf(engine: Engine, cell: CellTarget): string | undefined {
  if (onHostNetwork(cell.template)) return undefined;
  if (cell.template.ip) return cell.template.ip;
  const subnet = spaceSubnetOf(engine, cell.realm, cell.space);
  if (!subnet) return undefined;
  return firstFreeAddress(subnet, heldAddresses(engine, cell.realm, cell.space, streamOf({ kind: 'cell', realm: cell.realm, space: cell.space, stack: cell.stack, cell: cell.name })).keys());
}
