/**
 * Whether the host ports a cell publishes are free, checked before the cell is recorded (create, apply): a host port
 * is held by a cell of this install for as long as the cell exists (model/ports.ts says why), and one a process of the
 * host listens on would have its traffic stolen by portmap's DNAT rules, so both are refused, as Docker refuses "port
 * is already allocated" and "address already in use". A host address must be one of the host's.
 *
 * Ports another install (or another CNI tool) forwards with portmap hold no socket; they are read from its iptables
 * rules. What this cannot see: other tools' DNAT rules without a listening socket (Docker and Podman keep one open for
 * each published port, so theirs are seen).
 */
import type { CellTemplate } from '../../events/specs.js';
import { isGone } from '../../machines/index.js';
import { ErrorKind, KukeError } from '../errors.js';
import { bindingOf, bindingsOverlap, formatBinding, formatPort, portMappingsOf } from '../model/ports.js';
import { describeKey } from '../model/streams.js';
import type { PortMapping } from '../runtime/ports.js';
import type { Engine } from './engine.js';

/** A cell by its place in the hierarchy. */
export interface CellPlace {
  realm: string;
  space: string;
  stack: string;
  cell: string;
}

/** A cell an earlier document of the same manifest will create or change, not recorded yet. */
export interface PlannedCell {
  ref: CellPlace;
  template: CellTemplate;
}

const sameCell = (a: CellPlace, b: CellPlace) => a.realm === b.realm && a.space === b.space && a.stack === b.stack && a.cell === b.cell;

/**
 * Throws unless every host port `template` publishes is free: AlreadyExists when another cell of this install (any
 * state but deleted) or a cell in `planned` publishes an overlapping one, FailedPrecondition when a socket of the
 * host holds it, InvalidArgument when its host address is not the host's. The cell's own recorded ports do not count
 * (an apply that changes the cell). Reads the host only when the template publishes something.
 */
export async function checkCellPorts(engine: Engine, ref: CellPlace, template: CellTemplate, planned: PlannedCell[] = []): Promise<void> {
  const mappings = portMappingsOf(template);
  if (mappings.length === 0) return;
  const what = `cell "${ref.cell}"`;

  const others: { holder: string; mappings: PortMapping[] }[] = [];
  for (const agg of engine.list('cell/', { live: true })) {
    const key = agg.key as CellPlace & { kind: string };
    if (sameCell(key, ref)) continue;
    const theirs = (agg.snapshot.context as { template?: CellTemplate | null }).template;
    if (theirs && !isGone(String(agg.snapshot.value))) others.push({ holder: describeKey(agg.key), mappings: portMappingsOf(theirs) });
  }
  for (const p of planned) {
    if (sameCell(p.ref, ref)) continue;
    // A planned cell replaces its recorded self: drop the recorded entry so it is not counted twice.
    const holder = describeKey({ kind: 'cell', ...p.ref });
    const i = others.findIndex((o) => o.holder === holder);
    if (i >= 0) others.splice(i, 1);
    others.push({ holder, mappings: portMappingsOf(p.template) });
  }
  for (const m of mappings) {
    for (const other of others) {
      const clash = other.mappings.find((o) => bindingsOverlap(bindingOf(o), bindingOf(m)));
      if (clash) {
        throw new KukeError(ErrorKind.AlreadyExists, `${what}: host port ${formatBinding(bindingOf(m))} is already published by ${other.holder} (${formatPort(clash)})`, {
          hint: 'choose another host port (-p hostPort:containerPort), or delete that cell first',
        });
      }
    }
  }

  await checkHostPorts(engine, what, mappings);
}

/**
 * Throws unless the host has every host address of `mappings` and no socket of the host holds one of their ports
 * (see {@link checkCellPorts}); `what` names the cell in the message. Also run when a cell starts, since a process
 * may have taken a stopped cell's port meanwhile. Nothing to check without a runtime.
 */
export async function checkHostPorts(engine: Engine, what: string, mappings: PortMapping[]): Promise<void> {
  const runtime = engine.runtime;
  if (!runtime || mappings.length === 0) return;
  const host = await runtime.networks.hostPortUse();
  for (const m of mappings) {
    if (m.hostIP && !m.hostIP.startsWith('127.') && !host.addresses.includes(m.hostIP)) {
      throw new KukeError(ErrorKind.InvalidArgument, `${what}: host address ${m.hostIP} of ${formatPort(m)} is not an address of this host`, {
        hint: `use one of ${['0.0.0.0', ...host.addresses.filter((a) => !a.startsWith('127.'))].join(', ')} or 127.0.0.1`,
      });
    }
    const forward = host.forwarded.find((f) => bindingsOverlap(f, bindingOf(m)));
    if (forward) {
      throw new KukeError(ErrorKind.FailedPrecondition, `${what}: host port ${formatBinding(bindingOf(m))} is taken: the host already forwards ${formatBinding(forward)} to ${forward.owner} (another install, or another CNI tool)`, {
        hint: 'choose another host port (-p hostPort:containerPort)',
      });
    }
    const socket = host.sockets.find((s) => bindingsOverlap(s, bindingOf(m)));
    if (socket) {
      throw new KukeError(ErrorKind.FailedPrecondition, `${what}: host port ${formatBinding(bindingOf(m))} is taken: a process on the host listens on ${formatBinding(socket)}`, {
        hint: 'choose another host port (-p hostPort:containerPort), or stop what listens there (ss -ltnup shows it)',
      });
    }
  }
}
