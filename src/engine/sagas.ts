/**
 * Cell effects: sagas that bring a cell up, down or away by commanding its containers (aggregates of their own)
 * and the network, then report one fact. Each saga is idempotent: it looks at where every container is and only
 * does what is missing, so reconcile can re-run it after a crash at any point.
 *
 * Start:  cgroup → the cell's /etc files → root container running → network attached to the root's netns (its
 *         hosts file names its address) → other containers running (joined to the root's netns)
 *         → CellStarted{rootPid, address}
 * Stop:   other containers stopped → network detached → root stopped → CellStopped
 * Delete: containers deleted (others first) → network detached → cgroup removed → logs removed (unless kept)
 *         → /etc files removed → CellDeleted
 */
import type { CellTarget, StopReason } from '../../machines/cell.js';
import type { NetworkMode } from '../../machines/container.js';
import { isTransient } from '../../machines/index.js';
import type { ContainerTemplate } from '../../events/specs.js';
import { ErrorKind, KukeError } from '../errors.js';
import { containerdId, legacyNetworkName, realmNamespace, rootContainerName } from '../model/names.js';
import { streamOf } from '../model/streams.js';
import type { Runtime } from '../runtime/ports.js';
import { attachOptionsOf } from './cell-network.js';
import { cellCgroup } from './container-spec.js';
import { cellNamesOf } from './hosts.js';
import type { Aggregate, DispatchMeta, Engine, EffectRunner, FollowUp } from './engine.js';

type Fact = { type: string; data: unknown };
type Ctx = Parameters<EffectRunner>[1];

/** One container of the cell as the saga handles it. */
interface Member {
  stream: string;
  name: string;
  root: boolean;
  template: ContainerTemplate;
  containerdId: string;
  namespace: string;
}

/** Runs `startCell`, `stopCell` or `deleteCell`. */
export async function runCellEffect(runtime: Runtime, type: string, params: Record<string, unknown>, ctx: Ctx): Promise<Fact[]> {
  const cell = params as unknown as CellTarget & { reason?: StopReason; graceMs?: number; keepLogs?: boolean };
  switch (type) {
    case 'startCell':
      return startCell(runtime, cell, ctx);
    case 'stopCell':
      return stopCell(runtime, cell, cell.reason ?? 'kill', cell.graceMs ?? 0, ctx);
    case 'deleteCell':
      return deleteCell(runtime, cell, cell.keepLogs === true, ctx);
    default:
      throw new KukeError(ErrorKind.Unimplemented, `unknown cell effect ${type}`);
  }
}

/** The cell's members, the root first, from its template. */
function members(engine: Engine, cell: CellTarget): Member[] {
  const namespace = namespaceOf(engine, cell.realm);
  const ordered = [
    ...cell.template.containers.filter((c) => c.name === cell.template.root),
    ...cell.template.containers.filter((c) => c.name !== cell.template.root),
  ];
  return ordered.map((template) => {
    const root = template.name === cell.template.root;
    const name = root ? rootContainerName(cell.name) : template.name;
    return {
      stream: streamOf({ kind: 'container', realm: cell.realm, space: cell.space, stack: cell.stack, cell: cell.name, container: name }),
      name,
      root,
      template,
      containerdId: containerdId(cell.space, cell.stack, cell.name, template.name, root),
      namespace,
    };
  });
}

/** The containerd namespace of a realm, as recorded when it was created (an adopted realm keeps its old one). */
export function namespaceOf(engine: Engine, realm: string): string {
  const agg = engine.get(streamOf({ kind: 'realm', realm }));
  const recorded = (agg?.snapshot.context as { attributes?: { namespace?: string } } | undefined)?.attributes?.namespace;
  return recorded ?? realmNamespace(realm, engine.config.namespaceSuffix);
}

/**
 * The CNI network of a space, as stamped on its CreateSpace (the name depends on the install that created it; spaces
 * of older logs that somehow lack it fall back to the original `<realm>-<space>`).
 */
export function spaceNetworkOf(engine: Engine, realm: string, space: string): string {
  const agg = engine.get(streamOf({ kind: 'space', realm, space }));
  const recorded = (agg?.snapshot.context as { attributes?: { network?: { name?: string } } } | undefined)?.attributes?.network?.name;
  return recorded || legacyNetworkName(realm, space);
}

const settled = (a: Aggregate) => !isTransient('container', String(a.snapshot.value));

async function waitSettled(engine: Engine, stream: string, ctx: Ctx, timeoutMs: number): Promise<Aggregate> {
  return engine.waitFor(stream, settled, { timeoutMs, signal: ctx.signal, what: stream });
}

async function send(engine: Engine, stream: string, type: string, data: unknown, meta: DispatchMeta): Promise<boolean> {
  const outcome = await engine.dispatch(stream, type, data, meta);
  return outcome.accepted;
}

function sameTemplate(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function childError(agg: Aggregate, what: string): KukeError {
  const error = (agg.snapshot.context as { error?: { kind: string; message: string } | null }).error;
  const state = String(agg.snapshot.value);
  // A workload that exits is the workload's business, not a fault of kukeon's.
  const kind = (error?.kind as ErrorKind | undefined) ?? (state === 'Exited' ? ErrorKind.FailedPrecondition : ErrorKind.Internal);
  return new KukeError(kind, `${what}: ${error?.message ?? `it is ${state}`}`);
}

/** The network namespace of a cell's root process: the one CNI attaches and the other containers join. */
export function rootNetns(rootPid: number): string {
  return `/proc/${rootPid}/ns/net`;
}

/** How a container other than the root joins its cell: the host's network if it or the root uses it, else the root's. */
export function memberNetwork(root: Pick<ContainerTemplate, 'hostNetwork'>, member: Pick<ContainerTemplate, 'hostNetwork'>, rootPid: number): NetworkMode {
  return root.hostNetwork || member.hostNetwork ? { mode: 'host' } : { mode: 'join', path: rootNetns(rootPid) };
}

/**
 * Brings one member to Running in the given network; returns its pid. A member other than the root that exits by
 * itself once started has started all the same (a one-shot sidecar): null, and its exit is recorded as any other.
 */
async function ensureRunning(engine: Engine, m: Member, network: NetworkMode, ctx: Ctx, deadline: number): Promise<number | null> {
  let started = false;
  for (let step = 0; step < 20; step++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new KukeError(ErrorKind.DeadlineExceeded, `container "${m.name}" did not start in time`);
    // A forced delete cancels this saga, or takes the cell out of Creating while it runs: then nothing more is
    // started (a Deleted member would otherwise be created again, owned by a cell that is gone).
    const cellState = engine.stateOf(ctx.stream);
    if (ctx.signal.aborted || cellState !== 'Creating') throw new KukeError(ErrorKind.Canceled, `the start of the cell was cancelled (it is ${cellState}) while container "${m.name}" was starting`);
    const agg = engine.get(m.stream);
    const state = agg ? String(agg.snapshot.value) : 'Absent';
    const context = agg?.snapshot.context as { template?: unknown; network?: NetworkMode | null; pid?: number | null } | undefined;
    switch (state) {
      case 'Absent':
      case 'Deleted':
        await send(engine, m.stream, 'CreateContainer', { template: m.template, root: m.root, namespace: m.namespace, containerdId: m.containerdId }, ctx.meta);
        break;
      case 'Creating':
      case 'Starting':
      case 'Stopping':
      case 'Deleting':
        await waitSettled(engine, m.stream, ctx, remaining);
        break;
      case 'Running': {
        const joinedRight = network.mode !== 'join' || (context?.network?.mode === 'join' && context.network.path === network.path);
        if (joinedRight && sameTemplate(context?.template, m.template)) return context!.pid!;
        // Running in a stale network namespace (the root restarted) or with an old template: restart it.
        await send(engine, m.stream, 'StopContainer', { signal: 'SIGKILL', graceMs: 0 }, ctx.meta);
        break;
      }
      case 'Failed':
      case 'Created':
      case 'Stopped':
      case 'Exited':
        // A container that failed or exited before is started again; one that does so after our start is not.
        if (started && state === 'Exited' && !m.root) return null;
        if (started && (state === 'Failed' || state === 'Exited')) {
          const code = (agg!.snapshot.context as { exitCode?: number | null }).exitCode;
          throw childError(agg!, state === 'Failed' ? `container "${m.name}" failed to start` : `container "${m.name}" exited while the cell started (code ${String(code)})`);
        }
        if (!sameTemplate(context?.template, m.template)) await send(engine, m.stream, 'UpdateContainer', { template: m.template }, ctx.meta);
        await send(engine, m.stream, 'StartContainer', { network }, ctx.meta);
        started = true;
        break;
      default:
        throw new KukeError(ErrorKind.Internal, `container "${m.name}" is in unexpected state ${state}`);
    }
  }
  throw new KukeError(ErrorKind.Internal, `container "${m.name}" did not converge`);
}

/** Deletes children that are no longer in the template (after an update). */
async function removeOrphans(engine: Engine, cell: CellTarget, keep: Member[], ctx: Ctx, deadline: number): Promise<void> {
  const prefix = `${streamOf({ kind: 'cell', realm: cell.realm, space: cell.space, stack: cell.stack, cell: cell.name }).replace(/^cell\//, 'container/')}/`;
  const wanted = new Set(keep.map((m) => m.stream));
  for (const child of engine.list(prefix, { live: true })) {
    if (wanted.has(child.stream)) continue;
    await deleteMember(engine, child.stream, ctx, deadline);
  }
}

async function deleteMember(engine: Engine, stream: string, ctx: Ctx, deadline: number): Promise<void> {
  for (let step = 0; step < 10; step++) {
    const state = engine.stateOf(stream);
    if (state === 'Absent' || state === 'Deleted') return;
    if (isTransient('container', state)) {
      await waitSettled(engine, stream, ctx, Math.max(1, deadline - Date.now()));
      continue;
    }
    await send(engine, stream, 'DeleteContainer', {}, ctx.meta);
    const after = await waitSettled(engine, stream, ctx, Math.max(1, deadline - Date.now()));
    if (String(after.snapshot.value) === 'Failed') throw childError(after, `could not delete ${stream}`);
  }
}

async function stopMember(engine: Engine, m: { stream: string; name: string }, signal: string, graceMs: number, ctx: Ctx, deadline: number): Promise<void> {
  for (let step = 0; step < 10; step++) {
    const state = engine.stateOf(m.stream);
    if (isTransient('container', state)) {
      await waitSettled(engine, m.stream, ctx, Math.max(1, deadline - Date.now()));
      continue;
    }
    if (state !== 'Running') return;
    await send(engine, m.stream, 'StopContainer', { signal, graceMs }, ctx.meta);
  }
  throw new KukeError(ErrorKind.Internal, `container "${m.name}" did not stop`);
}

async function startCell(runtime: Runtime, cell: CellTarget, ctx: Ctx): Promise<Fact[]> {
  const engine = ctx.engine;
  const deadline = Date.now() + engine.config.cellStartTimeoutMs;
  const all = members(engine, cell);
  const [root, ...others] = all as [Member, ...Member[]];
  await runtime.cgroups.ensure(cellCgroup(engine.config, { ...cell, cell: cell.name }));
  await removeOrphans(engine, cell, all, ctx, deadline);
  const names = cellNamesOf(engine, runtime.cellFiles);
  try {
    await names.prepare(cell);
    const hostNetwork = root.template.hostNetwork;
    const rootPid = await ensureRunning(engine, root, hostNetwork ? { mode: 'host' } : { mode: 'new' }, ctx, deadline);
    if (rootPid === null) throw new KukeError(ErrorKind.Internal, `root container of cell "${cell.name}" has no pid`);
    let address: string | undefined;
    if (!hostNetwork) {
      const attachment = await runtime.networks.attach(spaceNetworkOf(engine, cell.realm, cell.space), root.containerdId, rootNetns(rootPid), await attachOptionsOf(engine, cell));
      address = attachment.address;
      await names.attached(cell, address);
    }
    for (const m of others) await ensureRunning(engine, m, memberNetwork(root.template, m.template, rootPid), ctx, deadline);
    // The root may have died while the others started: then the cell is not up.
    const rootNow = engine.get(root.stream);
    if (String(rootNow?.snapshot.value) !== 'Running') throw childError(rootNow!, `root container of cell "${cell.name}" stopped while the cell started`);
    return [{ type: 'CellStarted', data: { rootPid, ...(address ? { address } : {}) } }];
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    // Leave nothing half-started: stop what runs, release the address, then report the failure.
    await stopAll(runtime, engine, cell, all, 'SIGKILL', 0, ctx, Date.now() + 30_000).catch((cleanupErr) =>
      engine.logger.warn({ err: cleanupErr, cell: cell.name }, 'cleanup after a failed start did not finish'),
    );
    throw err;
  }
}

async function stopAll(
  runtime: Runtime,
  engine: Engine,
  cell: CellTarget,
  all: Member[],
  signal: string,
  graceMs: number,
  ctx: Ctx,
  deadline: number,
): Promise<void> {
  const [root, ...others] = all as [Member, ...Member[]];
  await Promise.all(others.map((m) => stopMember(engine, m, signal, graceMs, ctx, deadline)));
  const rootAgg = engine.get(root.stream);
  const rootPid = (rootAgg?.snapshot.context as { pid?: number | null } | undefined)?.pid;
  if (!root.template.hostNetwork) {
    // DEL while the netns still exists removes the veth cleanly; without it CNI still releases the address.
    const netns = String(rootAgg?.snapshot.value) === 'Running' && rootPid ? rootNetns(rootPid) : undefined;
    await runtime.networks.detach(spaceNetworkOf(engine, cell.realm, cell.space), root.containerdId, netns);
  }
  await stopMember(engine, root, signal, graceMs, ctx, deadline);
}

async function stopCell(runtime: Runtime, cell: CellTarget, reason: StopReason, graceMs: number, ctx: Ctx): Promise<Fact[]> {
  const engine = ctx.engine;
  const signal = reason === 'stop' ? 'SIGTERM' : 'SIGKILL';
  const deadline = Date.now() + graceMs + 60_000;
  await stopAll(runtime, engine, cell, members(engine, cell), signal, reason === 'stop' ? graceMs : 0, ctx, deadline);
  return [{ type: 'CellStopped', data: {} }];
}

async function deleteCell(runtime: Runtime, cell: CellTarget, keepLogs: boolean, ctx: Ctx): Promise<Fact[]> {
  const engine = ctx.engine;
  const deadline = Date.now() + 120_000;
  const all = members(engine, cell);
  // stopAll releases the network attachment (CNI DEL, always attempted) before the root goes.
  await stopAll(runtime, engine, cell, all, 'SIGKILL', 0, ctx, deadline);
  await removeOrphans(engine, cell, [], ctx, deadline);
  for (const m of [...all].reverse()) await deleteMember(engine, m.stream, ctx, deadline);
  await runtime.cgroups.remove(cellCgroup(engine.config, { ...cell, cell: cell.name }));
  // Last, once no shim holds a log open. Idempotent: a delete re-issued by reconcile after a crash gets here again.
  if (!keepLogs) await runtime.logs.removeCell({ realm: cell.realm, space: cell.space, stack: cell.stack, cell: cell.name });
  await cellNamesOf(engine, runtime.cellFiles).remove(cell);
  return [{ type: 'CellDeleted', data: {} }];
}

/**
 * Coordination: when a container exits by itself (Running → Exited), its cell is told, so that a cell whose
 * root died winds down to Exited. Stops made by the cell's own saga are not exits "by itself".
 */
export const notifyCellOfExit: FollowUp = (record, before, after, engine) => {
  if (after.kind !== 'container' || !before) return;
  if (String(before.snapshot.value) !== 'Running' || String(after.snapshot.value) !== 'Exited') return;
  const c = after.snapshot.context as { realm: string; space: string; stack: string; cell: string; name: string; root: boolean; exitCode: number | null };
  const cellStream = streamOf({ kind: 'cell', realm: c.realm, space: c.space, stack: c.stack, cell: c.cell });
  void engine
    .dispatch(cellStream, 'ContainerExited', { container: c.name, root: c.root, code: c.exitCode }, {
      actor: record.actor,
      cause: `seq:${record.seq}`,
      ...(record.correlation ? { correlation: record.correlation } : {}),
    })
    .catch((err) => {
      if (!engine.isClosed) engine.logger.error({ err, stream: cellStream }, 'could not tell the cell about an exit');
    });
};
