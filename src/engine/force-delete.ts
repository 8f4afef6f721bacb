/**
 * Forced delete (`kuke delete <kind> <name> --force`): removes an aggregate from the live state whatever state it is
 * in (Failed, stuck Creating or Deleting, a namespace containerd refuses, …), after cleaning what can be cleaned in
 * the runtime. Every cleanup step is attempted, a failure does not stop the next one, and what could not be removed
 * is recorded in the ForceDeleted event (`leftovers`), so `kuke history` tells what may remain on the host.
 *
 *   cell:  network attachment, root container, then the others (each: SIGKILL, task, container; then its own
 *          ForceDeleted), cgroup, container logs (unless kept), then the cell's ForceDeleted
 *   stack: cgroup                     space: CNI network, cgroup
 *   realm: containers kukeon labelled in its namespace, cgroup, namespace
 *
 * Children (with `--cascade`) are force-deleted before their parent. An effect in flight on the aggregate is
 * cancelled first (a saga stops at its next wait) and outwaited for a bounded time. The root goes first: once it is
 * gone, restart policies owe the others nothing (their cell is no longer up). An effect that was inside a runtime
 * call finishes that call afterwards and may bring something back: the cleanup runs again once it is done.
 */
import type { Leftover } from '../../events/common.js';
import type { CellTemplate } from '../../events/specs.js';
import { isGone, isTransient } from '../../machines/index.js';
import { ErrorKind, KukeError, isKukeError, toKukeError } from '../errors.js';
import { cgroupPath, containerdId, rootContainerName } from '../model/names.js';
import { childPrefix, describeKey, streamOf, type AggregateKey } from '../model/streams.js';
import type { Runtime } from '../runtime/ports.js';
import { LABELS } from './container-spec.js';
import { removeContainer } from './effects.js';
import { ensureIsolation } from './isolation.js';
import type { Aggregate, DispatchMeta, Engine } from './engine.js';
import { namespaceOf, rootNetns, spaceNetworkOf } from './sagas.js';

/** How long a forced delete waits for an aggregate's in-flight effect before it goes ahead anyway. */
export const FORCE_SETTLE_MS = 10_000;

/** What a forced delete left behind, by aggregate stream (empty lists when everything went). */
export type ForceDeleteReport = Map<string, Leftover[]>;

/** Options of {@link forceDelete}. */
export interface ForceDeleteOptions {
  meta: DispatchMeta;
  /** Force-delete live children first; without it, live children refuse the delete. */
  cascade: boolean;
  /** Keep the container logs of the deleted cells (by default they go with their cell). */
  keepLogs?: boolean;
  /** Bound on the wait for an in-flight effect (default {@link FORCE_SETTLE_MS}). */
  settleMs?: number;
}

/**
 * Force-deletes the aggregate (and, with `cascade`, its children first). Throws only for what the user can fix (it
 * does not exist, live children without `cascade`) or when the log cannot record it; runtime failures become
 * leftovers.
 */
export async function forceDelete(engine: Engine, agg: Aggregate, options: ForceDeleteOptions): Promise<ForceDeleteReport> {
  const report: ForceDeleteReport = new Map();
  await forceDeleteOne(engine, agg.key, options, report);
  return report;
}

async function forceDeleteOne(engine: Engine, key: AggregateKey, options: ForceDeleteOptions, report: ForceDeleteReport): Promise<void> {
  const stream = streamOf(key);
  const prefix = key.kind === 'cell' ? undefined : childPrefix(key);
  const children = prefix ? engine.list(prefix, { live: true }) : [];
  if (children.length > 0 && !options.cascade) {
    const child = key.kind === 'realm' ? 'space' : key.kind === 'space' ? 'stack' : 'cell';
    throw new KukeError(ErrorKind.FailedPrecondition, `${describeKey(key)} has ${children.length} ${child}(s)`, {
      hint: 'add --cascade to force-delete them too',
    });
  }
  for (const child of children) await forceDeleteOne(engine, child.key, options, report);
  const agg = await settledOrNot(engine, stream, options.settleMs ?? FORCE_SETTLE_MS);
  if (!agg || isGone(String(agg.snapshot.value))) return;
  const runtime = engine.runtime;
  if (!runtime) throw new KukeError(ErrorKind.Internal, 'a forced delete needs the runtime: this engine was opened without one');
  const cleanup = new Cleanup(engine);
  let steps: (c: Cleanup) => Promise<void>;
  let late: ((c: Cleanup) => Promise<void>) | undefined;
  switch (key.kind) {
    case 'cell':
      await cleanCellMembers(engine, runtime, agg, cleanup, options, report);
      steps = (c) => cleanCell(engine, runtime, agg, c, { detach: false, keepLogs: options.keepLogs ?? false });
      // A start saga cancelled late may have attached the network again.
      late = (c) => cleanCell(engine, runtime, agg, c, { detach: true, keepLogs: options.keepLogs ?? false });
      break;
    case 'stack':
    case 'space':
    case 'realm':
      steps = (c) => cleanScope(engine, runtime, agg, c);
      break;
    default:
      throw new KukeError(ErrorKind.InvalidArgument, `${key.kind}s are not deleted on their own`);
  }
  await steps(cleanup);
  await record(engine, stream, cleanup.leftovers, options.meta, report);
  againAfterEffects(engine, stream, late ?? steps);
}

/**
 * An effect that was inside a runtime call when the forced delete ran finishes that call afterwards, and may bring
 * back what was just removed (a container record, a task, a namespace): once it is done, the same cleanup runs again.
 * What it still cannot remove is logged (the ForceDeleted event is written already).
 */
function againAfterEffects(engine: Engine, stream: string, steps: (c: Cleanup) => Promise<void>): void {
  if (engine.effectsInFlightOn(stream) === 0) return;
  engine.afterEffects(stream, async () => {
    const late = new Cleanup(engine);
    await steps(late);
    if (late.leftovers.length > 0) engine.logger.warn({ stream, leftovers: late.leftovers }, 'forced delete: an effect that finished afterwards left these behind');
  });
}

/**
 * Cancels the aggregate's effect in flight (a saga stops at its next wait and reports the failure) and waits, bounded,
 * for the aggregate to leave its transient state; goes ahead anyway when it does not.
 */
async function settledOrNot(engine: Engine, stream: string, settleMs: number): Promise<Aggregate | undefined> {
  const agg = engine.get(stream);
  if (!agg || !isTransient(agg.kind, String(agg.snapshot.value))) return agg;
  engine.cancelEffects(stream);
  try {
    return await engine.waitFor(stream, (a) => !isTransient(a.kind, String(a.snapshot.value)), { timeoutMs: settleMs, what: stream });
  } catch (err) {
    if (!isKukeError(err, ErrorKind.DeadlineExceeded)) throw err;
    engine.logger.warn({ stream, state: engine.stateOf(stream) }, 'forced delete: the aggregate did not settle; going ahead');
    return engine.get(stream);
  }
}

/** Runs cleanup steps, each on its own: a failure is collected as a leftover and the next step still runs. */
class Cleanup {
  readonly leftovers: Leftover[] = [];
  constructor(private readonly engine: Engine) {}

  async attempt(resource: string, step: () => Promise<unknown>): Promise<boolean> {
    try {
      await step();
      return true;
    } catch (err) {
      // Already gone is what we wanted.
      if (isKukeError(err, ErrorKind.NotFound)) return true;
      const error = toKukeError(err);
      this.engine.logger.warn({ resource, err: error }, 'forced delete: could not remove');
      this.leftovers.push({ resource, error: { kind: error.kind, message: error.message } });
      return false;
    }
  }
}

async function record(engine: Engine, stream: string, leftovers: Leftover[], meta: DispatchMeta, report: ForceDeleteReport): Promise<void> {
  const outcome = await engine.dispatch(stream, 'ForceDeleted', { leftovers }, meta);
  // Rejected only when it is gone already (an in-flight delete finished meanwhile): that is the goal too.
  if (!outcome.accepted && !isGone(String(outcome.aggregate.snapshot.value))) {
    throw new KukeError(ErrorKind.Internal, `forced delete of ${stream} was refused: ${outcome.rejection.message}`);
  }
  report.set(stream, leftovers);
}

/** One containerd container of a cell: from its aggregate, or from the template when it has none. */
interface Member {
  stream: string;
  namespace: string;
  containerdId: string;
  root: boolean;
}

function cellMembers(engine: Engine, cell: Aggregate): Member[] {
  const key = cell.key as Extract<AggregateKey, { kind: 'cell' }>;
  const prefix = childPrefix(key)!;
  const members = new Map<string, Member>();
  for (const agg of engine.list(prefix, { live: true })) {
    const c = agg.snapshot.context as { namespace: string; containerdId: string; root: boolean };
    if (c.containerdId) members.set(agg.stream, { stream: agg.stream, namespace: c.namespace, containerdId: c.containerdId, root: c.root });
  }
  // Containers of the template that have no live aggregate may still exist in containerd (a crash mid-create).
  const template = (cell.snapshot.context as { template: CellTemplate | null }).template;
  const namespace = namespaceOf(engine, key.realm);
  for (const t of template?.containers ?? []) {
    const root = t.name === template!.root;
    const name = root ? rootContainerName(key.cell) : t.name;
    const stream = streamOf({ kind: 'container', realm: key.realm, space: key.space, stack: key.stack, cell: key.cell, container: name });
    if (members.has(stream)) continue;
    try {
      members.set(stream, { stream, namespace, containerdId: containerdId(key.space, key.stack, key.cell, t.name, root), root });
    } catch {
      // A name that cannot make an id was never created in containerd.
    }
  }
  return [...members.values()].sort((a, b) => Number(b.root) - Number(a.root));
}

/** Removes the cell's containers, the root first, each recorded (ForceDeleted) on its own stream. */
async function cleanCellMembers(engine: Engine, runtime: Runtime, cell: Aggregate, cleanup: Cleanup, options: ForceDeleteOptions, report: ForceDeleteReport): Promise<void> {
  const key = cell.key as Extract<AggregateKey, { kind: 'cell' }>;
  const template = (cell.snapshot.context as { template: CellTemplate | null }).template;
  const rootTemplate = template?.containers.find((c) => c.name === template.root);
  const members = cellMembers(engine, cell);
  const root = members.find((m) => m.root);
  const attached = root !== undefined && rootTemplate !== undefined && !rootTemplate.hostNetwork;
  const detachRoot = (c: Cleanup, netns?: string) =>
    c.attempt(`network attachment of ${root!.containerdId}`, () => runtime.networks.detach(spaceNetworkOf(engine, key.realm, key.space), root!.containerdId, netns));
  if (attached) {
    // Released first, while the root's netns may still exist (the veth then goes cleanly); CNI DEL works without it.
    const rootAgg = engine.get(root.stream);
    const pid = (rootAgg?.snapshot.context as { pid?: number | null } | undefined)?.pid;
    await detachRoot(cleanup, String(rootAgg?.snapshot.value) === 'Running' && pid ? rootNetns(pid) : undefined);
  }
  for (const m of members) {
    const steps = (c: Cleanup) => c.attempt(`containerd container ${m.containerdId} in namespace ${m.namespace}`, () => removeContainer(runtime, m.namespace, m.containerdId)).then(() => undefined);
    const own = new Cleanup(engine);
    await steps(own);
    cleanup.leftovers.push(...own.leftovers);
    if (engine.get(m.stream) && !isGone(engine.stateOf(m.stream))) await record(engine, m.stream, own.leftovers, options.meta, report);
    // The root's start attaches its network between the task's create and start: a start finishing late may have.
    againAfterEffects(engine, m.stream, m.root && attached ? (c) => steps(c).then(() => detachRoot(c)).then(() => undefined) : steps);
  }
}

/** What a cell holds besides its containers: its cgroup, its containers' logs unless kept, and with `detach` its network attachment. */
async function cleanCell(engine: Engine, runtime: Runtime, cell: Aggregate, cleanup: Cleanup, options: { detach: boolean; keepLogs: boolean }): Promise<void> {
  const key = cell.key as Extract<AggregateKey, { kind: 'cell' }>;
  const template = (cell.snapshot.context as { template: CellTemplate | null }).template;
  const rootTemplate = template?.containers.find((c) => c.name === template.root);
  if (options.detach && rootTemplate && !rootTemplate.hostNetwork) {
    const id = containerdId(key.space, key.stack, key.cell, rootTemplate.name, true);
    await cleanup.attempt(`network attachment of ${id}`, () => runtime.networks.detach(spaceNetworkOf(engine, key.realm, key.space), id));
  }
  const path = cgroupPath({ realm: key.realm, space: key.space, stack: key.stack, cell: key.cell }, engine.config.cgroupRoot);
  await cleanup.attempt(`cgroup ${path}`, () => runtime.cgroups.remove(path));
  if (!options.keepLogs) {
    const at = { realm: key.realm, space: key.space, stack: key.stack, cell: key.cell };
    await cleanup.attempt(`container logs of ${describeKey(key)}`, () => runtime.logs.removeCell(at));
  }
}

async function cleanScope(engine: Engine, runtime: Runtime, agg: Aggregate, cleanup: Cleanup): Promise<void> {
  const key = agg.key as Extract<AggregateKey, { kind: 'realm' | 'space' | 'stack' }>;
  const path = cgroupPath({ realm: key.realm, ...('space' in key ? { space: key.space } : {}), ...('stack' in key ? { stack: key.stack } : {}) }, engine.config.cgroupRoot);
  const attributes = (agg.snapshot.context as { attributes: { network?: { name: string } } | null }).attributes;
  if (key.kind === 'space' && attributes?.network) {
    const network = attributes.network.name;
    await cleanup.attempt(`CNI network ${network}`, () => runtime.networks.deleteNetwork(network));
    await cleanup.attempt('isolation rules of the spaces', () => ensureIsolation(engine, runtime, { except: agg.stream }));
  }
  if (key.kind === 'realm') {
    const namespace = namespaceOf(engine, key.realm);
    // What kukeon put in the namespace and no live cell owns any more (its cells are force-deleted first).
    let records: Awaited<ReturnType<Runtime['containers']['listContainers']>> = [];
    await cleanup.attempt(`containers in containerd namespace ${namespace}`, async () => {
      records = await runtime.containers.listContainers(namespace, { [LABELS.managed]: 'true' });
    });
    for (const r of records) {
      await cleanup.attempt(`containerd container ${r.id} in namespace ${namespace}`, () => removeContainer(runtime, namespace, r.id));
    }
    await cleanup.attempt(`cgroup ${path}`, () => runtime.cgroups.remove(path));
    await cleanup.attempt(`containerd namespace ${namespace}`, () => runtime.containers.deleteNamespace(namespace));
    return;
  }
  await cleanup.attempt(`cgroup ${path}`, () => runtime.cgroups.remove(path));
}
