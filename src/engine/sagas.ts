/**
 * Cell effects: sagas that bring a cell up, down or away by commanding its containers (aggregates of their own)
 * and the network, then report one fact. Each saga is idempotent: it looks at where every container is and only
 * does what is missing, so reconcile can re-run it after a crash at any point.
 *
 * Start:  cgroup → the cell's /etc files (its hosts file naming its address) → root container running (its task
 *         created, its netns attached, then started: network before the process) → other containers running (joined
 *         to the root's netns) → CellStarted{rootPid, address}. A root that exits by itself meanwhile ends the start
 *         with ContainerExited: the cell winds down to Exited.
 * Stop:   other containers stopped → network detached → root stopped → CellStopped
 * Delete: containers deleted (others first) → network detached → cgroup removed → logs removed (unless kept)
 *         → /etc files removed → CellDeleted
 */
import type { CellTarget, StopReason } from '../../machines/cell.js';
import type { NetworkMode } from '../../machines/container.js';
import { isTransient } from '../../machines/index.js';
import type { ContainerTemplate } from '../../events/specs.js';
import { ErrorKind, KukeError, isKukeError } from '../errors.js';
import { containerdId, legacyNetworkName, realmNamespace, rootContainerName } from '../model/names.js';
import { streamOf } from '../model/streams.js';
import type { Runtime } from '../runtime/ports.js';
import { attachOptionsOf } from './cell-network.js';
import { exitData } from './effects.js';
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

/** Where ensureRunning left a member: running (its pid, and the address its start attached), or exited by itself. */
type MemberOutcome = { running: true; pid: number; address: string | null } | { running: false; code: number | null };

/**
 * Brings one member to Running in the given network. A member that exits by itself once this saga started it has
 * started all the same (a one-shot): its exit is the outcome, recorded as any other exit.
 */
async function ensureRunning(engine: Engine, m: Member, network: NetworkMode, ctx: Ctx, deadline: number): Promise<MemberOutcome> {
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
    const context = agg?.snapshot.context as { template?: unknown; network?: NetworkMode | null; pid?: number | null; address?: string | null; exitCode?: number | null } | undefined;
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
        if (joinedRight && sameTemplate(context?.template, m.template)) return { running: true, pid: context!.pid!, address: context?.address ?? null };
        // Running in a stale network namespace (the root restarted) or with an old template: restart it.
        await send(engine, m.stream, 'StopContainer', { signal: 'SIGKILL', graceMs: 0 }, ctx.meta);
        break;
      }
      case 'Failed':
      case 'Created':
      case 'Stopped':
      case 'Exited':
        // A container that failed or exited before is started again; one that does so after our start is not.
        if (started && state === 'Exited') return { running: false, code: context?.exitCode ?? null };
        if (started && state === 'Failed') throw childError(agg!, `container "${m.name}" failed to start`);
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
  let rootStarted = false;
  try {
    await names.prepare(cell);
    const hostNetwork = root.template.hostNetwork;
    const network = spaceNetworkOf(engine, cell.realm, cell.space);
    const options = hostNetwork ? {} : await attachOptionsOf(engine, cell);
    // The root's start attaches its new netns between the task's create and start: its process starts networked.
    const rootNetwork: NetworkMode = hostNetwork ? { mode: 'host' } : { mode: 'new', attach: { network, options } };
    const rootRun = await ensureRunning(engine, root, rootNetwork, ctx, deadline);
    if (!rootRun.running) return [rootExited(root, rootRun.code)];
    rootStarted = true;
    let address = rootRun.address ?? undefined;
    if (!hostNetwork && !address) {
      // A root started before network-before-process (its start attached nothing): attached here, as it was then.
      address = (await runtime.networks.attach(network, root.containerdId, rootNetns(rootRun.pid), options)).address;
    }
    if (address) await names.attached(cell, address);
    for (const m of others) await ensureRunning(engine, m, memberNetwork(root.template, m.template, rootRun.pid), ctx, deadline);
    // The root may have exited while the others started, or does so at once (a one-shot): then the cell winds down.
    const rootNow = await settleRoot(engine, root, ctx);
    const exit = exitOfRoot(rootNow, root) ?? (String(rootNow.snapshot.value) === 'Running' ? await exitInRuntime(runtime, engine, root, rootRun.pid, ctx) : undefined);
    if (exit) return [exit];
    if (String(rootNow.snapshot.value) !== 'Running') throw childError(rootNow, `root container of cell "${cell.name}" stopped while the cell started`);
    return [{ type: 'CellStarted', data: { rootPid: rootRun.pid, ...(address ? { address } : {}) } }];
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    // Its root's exit took the cell to Stopping meanwhile: that stop owns what runs (this outcome is not recorded).
    if (engine.stateOf(ctx.stream) === 'Stopping') throw err;
    // A root that exited by itself once started (a member could not join its namespace then) is an exit, not a fault.
    const exit = rootStarted ? exitOfRoot(engine.get(root.stream)!, root) : undefined;
    if (exit) return [exit];
    // Leave nothing half-started: stop what runs, release the address, then report the failure.
    await stopAll(runtime, engine, cell, all, 'SIGKILL', 0, ctx, Date.now() + 30_000).catch((cleanupErr) =>
      engine.logger.warn({ err: cleanupErr, cell: cell.name }, 'cleanup after a failed start did not finish'),
    );
    throw err;
  }
}

/** The cell's fact for its root's own exit: the cell winds down to Exited, keeping the code. */
function rootExited(root: Member, code: number | null): Fact {
  return { type: 'ContainerExited', data: { container: root.name, root: true, code } };
}

/**
 * The root, once it has run for the start's settle time (EngineConfig.startSettleMs) or exited within it: a root
 * that runs to its end at once ends the start Exited with its code rather than Ready then Exited a moment later.
 */
async function settleRoot(engine: Engine, root: Member, ctx: Ctx): Promise<Aggregate> {
  const settleMs = engine.config.startSettleMs;
  if (settleMs > 0) {
    await engine.waitFor(root.stream, (a) => String(a.snapshot.value) !== 'Running', { timeoutMs: settleMs, signal: ctx.signal, what: root.stream }).catch((err: unknown) => {
      if (!isKukeError(err, ErrorKind.DeadlineExceeded)) throw err;
    });
  }
  return engine.get(root.stream)!;
}

/**
 * The root's exit as the runtime already knows it, before its event arrives: a one-shot root (`true`) is done within
 * a millisecond of its start, and its start should say so (`kuke create --start`: "exited with code 0") instead of
 * Ready. The exit is recorded on the root (as reconcile records a missed one); the cell's fact is returned.
 */
async function exitInRuntime(runtime: Runtime, engine: Engine, root: Member, pid: number, ctx: Ctx): Promise<Fact | undefined> {
  const task = await runtime.containers.getTask(root.namespace, root.containerdId);
  if (task?.status !== 'stopped' || task.pid !== pid) return undefined;
  await engine.dispatch(root.stream, 'TaskExited', exitData(pid, task.exitCode ?? 255, task.exitedAt), { ...ctx.meta, actor: { type: 'runtime' } });
  return rootExited(root, task.exitCode ?? null);
}

/** The root's exit, if it is Exited (by itself: a stop of the cell's own leaves it Stopped). */
function exitOfRoot(agg: Aggregate, root: Member): Fact | undefined {
  if (String(agg.snapshot.value) !== 'Exited') return undefined;
  return rootExited(root, (agg.snapshot.context as { exitCode?: number | null }).exitCode ?? null);
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
 * Coordination: when a container exits by itself (Running → Exited, or Starting → Exited for one that exited as it
 * started), its cell is told, so that a cell whose root died winds down to Exited, also while it was starting.
 * Stops made by the cell's own saga are not exits "by itself".
 */
export const notifyCellOfExit: FollowUp = (record, before, after, engine) => {
  if (after.kind !== 'container' || !before) return;
  const from = String(before.snapshot.value);
  if ((from !== 'Running' && from !== 'Starting') || String(after.snapshot.value) !== 'Exited') return;
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
