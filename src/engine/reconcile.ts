/**
 * Reconcile: after a replay (and after every reconnect to containerd), compare what the log says with what the
 * runtime holds, and append what differs as facts with actor `reconcile`. Level-triggered and idempotent:
 * running it twice changes nothing the second time.
 *
 * 1. Containers the log says run: their task is gone → TaskLost; stopped → TaskExited with the real exit code
 *    (an exit that happened while the daemon was down).
 * 2. Aggregates caught in a transient state re-issue their one idempotent effect (containers first: cell sagas
 *    wait for them).
 * 3. Ready cells whose root container no longer runs are told (ContainerExited), and wind down to Exited.
 * 4. Garbage: containerd containers carrying our labels that no live aggregate owns, and network attachments of
 *    cells that are not up, are removed (nothing orphaned by a crash survives).
 * 5. cgroups of live scopes and running cells are re-created if missing (after a reboot).
 * 6. The isolation rules of the spaces (iptables chains) are rewritten if they differ from the live spaces' (after a
 *    reboot they are gone; after the last space went, leftovers are removed).
 * 7. Every live secret's data is read from the secret store and checked against the digest its events record: a
 *    missing or altered version fails the secret (re-applying it heals it). Versions no event names any more (a
 *    crash between the store's write and the append, a delete's removal that failed) are removed.
 *
 * No stored state may stop the daemon from starting, so every step is contained per aggregate: when a step fails
 * for one aggregate (a namespace containerd refuses, a path that vanished, a cgroup that cannot be made), the
 * failure is logged, that aggregate goes Failed with its reason (ReconcileFailed, actor reconcile), and the pass goes
 * on with the others. Failures that say nothing about one aggregate (containerd unavailable or slow, the engine
 * closing) are logged and leave every aggregate as it is: the next relist or restart tries again.
 */
import { isGone, isTransient } from '../../machines/index.js';
import { isRunningCell } from '../../machines/cell.js';
import type { SecretContext } from '../../machines/secret.js';
import { ErrorKind, isKukeError, toKukeError, type KukeError } from '../errors.js';
import { cgroupPath } from '../model/names.js';
import { streamOf } from '../model/streams.js';
import type { Runtime } from '../runtime/ports.js';
import { LABELS } from './container-spec.js';
import { exitData, removeContainer } from './effects.js';
import { ensureIsolation } from './isolation.js';
import type { Aggregate, DispatchMeta, Engine } from './engine.js';
import { namespaceOf, spaceNetworkOf } from './sagas.js';

/** What a reconcile pass did. */
export interface ReconcileReport {
  exitsFound: number;
  lostTasks: number;
  effectsReissued: number;
  cellsWoundDown: number;
  orphansRemoved: number;
  attachmentsReleased: number;
  cgroupsHealed: number;
  /** Whether the isolation rules had to be rewritten. */
  isolationHealed: boolean;
  /** Aggregates marked Failed because a step could not be carried out for them. */
  aggregatesFailed: number;
  /** Step failures logged (with or without an aggregate marked Failed). */
  stepFailures: number;
}

const META: DispatchMeta = { actor: { type: 'reconcile' } };

/**
 * Failures of the runtime, the host or the engine as a whole (containerd down or slow, a full disk, closing), not of
 * one aggregate: nothing is marked Failed for them.
 */
const SYSTEMIC = new Set<string>([ErrorKind.Unavailable, ErrorKind.DeadlineExceeded, ErrorKind.Canceled, ErrorKind.ResourceExhausted]);

type ContainerCtx = { realm: string; space: string; stack: string; cell: string; name: string; root: boolean; namespace: string; containerdId: string; pid: number | null; exitCode: number | null };

/** Runs one reconcile pass. `scope: 'tasks'` only re-checks running tasks (after an event-stream reconnect). */
export async function reconcile(engine: Engine, runtime: Runtime, options: { scope?: 'all' | 'tasks' } = {}): Promise<ReconcileReport> {
  const report: ReconcileReport = { exitsFound: 0, lostTasks: 0, effectsReissued: 0, cellsWoundDown: 0, orphansRemoved: 0, attachmentsReleased: 0, cgroupsHealed: 0, isolationHealed: false, aggregatesFailed: 0, stepFailures: 0 };
  const contain = containment(engine, report);
  const aggregates = [...engine.all()];

  // 1. running containers against their tasks
  for (const agg of aggregates) {
    if (agg.kind !== 'container' || String(agg.snapshot.value) !== 'Running') continue;
    await contain('checkTasks', agg, async () => {
      const c = agg.snapshot.context as ContainerCtx;
      const task = await runtime.containers.getTask(c.namespace, c.containerdId);
      if (!task || (task.status !== 'stopped' && task.pid !== c.pid)) {
        if ((await engine.dispatch(agg.stream, 'TaskLost', c.pid ? { pid: c.pid } : {}, META)).accepted) report.lostTasks++;
      } else if (task.status === 'stopped') {
        const outcome = await engine.dispatch(agg.stream, 'TaskExited', exitData(c.pid ?? task.pid, task.exitCode ?? 255, task.exitedAt), META);
        if (outcome.accepted) report.exitsFound++;
      }
    });
  }
  if (options.scope === 'tasks') return report;

  // 2. transient aggregates: containers first, then scopes and cells. An effect that fails once re-issued reports
  // EffectFailed like any other; one that cannot even be re-issued (its context is unusable) fails its aggregate.
  const order = { container: 0, realm: 1, space: 2, stack: 3, cell: 4, daemon: 5, secret: 6 } as const;
  const transient = [...engine.all()].filter((a) => isTransient(a.kind, String(a.snapshot.value))).sort((a, b) => order[a.kind] - order[b.kind]);
  for (const agg of transient) {
    await contain(
      'reissueEffect',
      agg,
      () => {
        if (engine.reissueTransientEffect(agg.stream, META)) report.effectsReissued++;
      },
      { evenIfTransient: true },
    );
  }

  // 3. Ready cells whose root does not run
  for (const agg of [...engine.all()]) {
    if (agg.kind !== 'container') continue;
    const c = agg.snapshot.context as ContainerCtx;
    const state = String(agg.snapshot.value);
    if (!c.root || (state !== 'Exited' && state !== 'Stopped' && state !== 'Failed')) continue;
    const cellStream = streamOf({ kind: 'cell', realm: c.realm, space: c.space, stack: c.stack, cell: c.cell });
    const cell = engine.get(cellStream);
    if (!cell || !isRunningCell(String(cell.snapshot.value))) continue;
    await contain('windDown', cell, async () => {
      const outcome = await engine.dispatch(cellStream, 'ContainerExited', { container: c.name, root: true, code: c.exitCode }, META);
      if (outcome.accepted) report.cellsWoundDown++;
    });
  }

  await collectGarbage(engine, runtime, report, contain);
  await healCgroups(engine, runtime, report, contain);
  await checkSecrets(engine, runtime, report, contain);
  await contain('healIsolation', undefined, async () => {
    if ((await ensureIsolation(engine, runtime)).changed) {
      engine.logger.warn('rewrote the isolation rules of the spaces, which differed from the live spaces (a reboot, or a change by hand)');
      report.isolationHealed = true;
    }
  });
  return report;
}

type Contain = (step: string, agg: Aggregate | undefined, fn: () => unknown, options?: { evenIfTransient?: boolean }) => Promise<void>;

/**
 * Runs one step for one aggregate (or for none: host-wide cleanup) and contains its failure: logged, and the
 * aggregate marked Failed with the reason when the failure is its own. An aggregate already Failed keeps its first
 * reason (a broken aggregate does not add an event at every restart); one in a transient state is left to its
 * in-flight effect, which reports its own outcome, unless the step was to start that effect.
 */
function containment(engine: Engine, report: ReconcileReport): Contain {
  return async (step, agg, fn, options = {}) => {
    try {
      await fn();
      return;
    } catch (err) {
      report.stepFailures++;
      await recordFailure(engine, report, step, agg, toKukeError(err), options.evenIfTransient ?? false);
    }
  };
}

async function recordFailure(engine: Engine, report: ReconcileReport, step: string, agg: Aggregate | undefined, error: KukeError, evenIfTransient: boolean): Promise<void> {
  const log = engine.logger.child({ step, ...(agg ? { stream: agg.stream } : {}) });
  if (engine.isClosed) return;
  if (!agg || SYSTEMIC.has(error.kind)) {
    log.warn({ err: error }, 'reconcile step failed; it is tried again at the next relist or start');
    return;
  }
  const state = engine.stateOf(agg.stream);
  if (isGone(state) || state === 'Failed' || (isTransient(agg.kind, state) && !evenIfTransient)) {
    log.warn({ err: error, state }, 'reconcile step failed; the aggregate is left as it is');
    return;
  }
  log.error({ err: error, state }, 'reconcile step failed: the aggregate goes Failed; the daemon serves the others');
  try {
    const outcome = await engine.dispatch(agg.stream, 'ReconcileFailed', { step, error: { kind: error.kind, message: error.message } }, META);
    if (outcome.accepted) report.aggregatesFailed++;
  } catch (recordErr) {
    if (!engine.isClosed) log.error({ err: recordErr }, 'could not record the reconcile failure');
  }
}

async function collectGarbage(engine: Engine, runtime: Runtime, report: ReconcileReport, contain: Contain): Promise<void> {
  const owned = new Set<string>();
  for (const agg of engine.all()) {
    if (agg.kind !== 'container' || isGone(String(agg.snapshot.value))) continue;
    const c = agg.snapshot.context as ContainerCtx;
    if (c.containerdId) owned.add(`${c.namespace}/${c.containerdId}`);
  }
  for (const realm of engine.list('realm/', { live: true })) {
    const namespace = namespaceOf(engine, (realm.snapshot.context as { identity: { realm: string } }).identity.realm);
    let records: Awaited<ReturnType<Runtime['containers']['listContainers']>> = [];
    await contain('collectGarbage', realm, async () => {
      try {
        records = await runtime.containers.listContainers(namespace, { [LABELS.managed]: 'true' });
      } catch (err) {
        if (!isKukeError(err, ErrorKind.NotFound)) throw err;
      }
    });
    for (const record of records) {
      if (owned.has(`${namespace}/${record.id}`)) continue;
      // Not in our log (or deleted there): a leftover of an interrupted deletion. No aggregate owns it, so a
      // failure to remove it is only logged (and tried again at the next start).
      await contain('collectGarbage', undefined, async () => {
        await removeContainer(runtime, namespace, record.id);
        engine.logger.warn({ namespace, id: record.id }, 'removed an orphaned container');
        report.orphansRemoved++;
      });
    }
  }
  // Attachments are held by cells that are up (or coming up); any other is a leak.
  const holders = new Map<string, { network: string; containerId: string }>();
  for (const agg of engine.list('cell/')) {
    const state = String(agg.snapshot.value);
    if (!isRunningCell(state) && state !== 'Creating' && state !== 'Stopping' && state !== 'Deleting') continue;
    const c = agg.snapshot.context as { realm: string; space: string; stack: string; name: string; template: { root: string } | null };
    if (!c.template) continue;
    const holder = { network: spaceNetworkOf(engine, c.realm, c.space), containerId: `${c.space}_${c.stack}_${c.name}_root` };
    holders.set(`${holder.network}/${holder.containerId}`, holder);
  }
  await contain('releaseAttachments', undefined, async () => {
    const { released } = await runtime.networks.gc([...holders.values()]);
    for (const att of released) engine.logger.warn({ network: att.network, containerId: att.containerId, address: att.address }, 'released an orphaned network attachment');
    report.attachmentsReleased += released.length;
  });
}

async function checkSecrets(engine: Engine, runtime: Runtime, report: ReconcileReport, contain: Contain): Promise<void> {
  const live = new Map<string, string | undefined>();
  for (const agg of engine.list('secret/', { live: true })) {
    const c = agg.snapshot.context as SecretContext;
    const ref = { realm: c.identity.realm, space: c.identity.space, name: c.identity.name };
    live.set(`${ref.realm}/${ref.space}/${ref.name}`, c.digest ?? undefined);
    if (String(agg.snapshot.value) !== 'Ready' || !c.digest) continue;
    await contain('checkSecrets', agg, () => runtime.secrets.get(ref, c.digest!));
  }
  await contain('pruneSecrets', undefined, async () => {
    for (const ref of await runtime.secrets.list()) {
      const key = `${ref.realm}/${ref.space}/${ref.name}`;
      await runtime.secrets.prune(ref, live.has(key) ? live.get(key) : undefined);
    }
  });
}

async function healCgroups(engine: Engine, runtime: Runtime, report: ReconcileReport, contain: Contain): Promise<void> {
  for (const agg of [...engine.all()]) {
    const key = agg.key;
    const up = String(agg.snapshot.value) === 'Ready' || (key.kind === 'cell' && isRunningCell(String(agg.snapshot.value)));
    if (!up || key.kind === 'container' || key.kind === 'daemon' || key.kind === 'secret') continue;
    await contain('healCgroups', agg, async () => {
      const path = cgroupPath(
        { realm: key.realm, ...('space' in key ? { space: key.space } : {}), ...('stack' in key ? { stack: key.stack } : {}), ...('cell' in key ? { cell: key.cell } : {}) },
        engine.config.cgroupRoot,
      );
      if (await runtime.cgroups.exists(path)) return;
      await runtime.cgroups.ensure(path);
      report.cgroupsHealed++;
    });
  }
}
