/**
 * Opening the engine with everything wired: effects through the runtime ports, cross-aggregate follow-ups, and
 * (for the live daemon) the exit watcher. Upper layers use this and Operations, never the parts.
 */
import type { Logger } from '../log.js';
import type { Runtime, Subscription } from '../runtime/ports.js';
import type { EventStore } from '../store/types.js';
import type { EngineConfig } from './config.js';
import { deleteExitedAutoDeleteCells, deleteWhenExited } from './auto-delete.js';
import { createEffectRunner } from './effects.js';
import { Engine, type EngineOptions } from './engine.js';
import { watchExits } from './exit-watcher.js';
import { cellNamesOf, drainCellNames, keepNamesCurrent, stopCellNames } from './hosts.js';
import { Operations } from './operations.js';
import { reconcile, type ReconcileReport } from './reconcile.js';
import { RestartPolicies } from './restart-policy.js';
import { notifyCellOfExit } from './sagas.js';

export { Engine } from './engine.js';
export { Operations } from './operations.js';
export type { ReconcileReport } from './reconcile.js';

/** Options of {@link openEngine}. */
export interface OpenEngineOptions {
  store: EventStore;
  runtime: Runtime;
  config?: Partial<EngineConfig>;
  logger?: Logger;
  now?: () => Date;
  onApplied?: EngineOptions['onApplied'];
  /** Run reconcile after replay (default true). */
  reconcile?: boolean;
  /**
   * Take up what the daemon owes after an outage (default false): the restarts its restart policies scheduled, and the
   * deletion of autoDelete cells left Exited.
   */
  resumeRestarts?: boolean;
  /** Watch task exits (default true). */
  watch?: boolean;
}

/** A running engine with its operations. */
export interface OpenedEngine {
  engine: Engine;
  operations: Operations;
  reconcileReport: ReconcileReport | undefined;
  /** Stops watching and closes the engine (and its log). */
  close(options?: { graceMs?: number }): Promise<void>;
  /** Simulates a SIGKILL (tests): stops watching, and nothing more reaches the log. */
  crash(): void;
}

/** Replays the log, reconciles with the runtime, and starts watching exits. */
export async function openEngine(options: OpenEngineOptions): Promise<OpenedEngine> {
  const restarts = new RestartPolicies();
  const engine = await Engine.open({
    store: options.store,
    runtime: options.runtime,
    effects: createEffectRunner(options.runtime),
    followUps: [notifyCellOfExit, restarts.followUp, keepNamesCurrent, deleteWhenExited],
    ...(options.config ? { config: options.config } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.onApplied ? { onApplied: options.onApplied } : {}),
  });
  let watcher: Subscription | undefined;
  let report: ReconcileReport | undefined;
  if (options.reconcile !== false) {
    try {
      report = await reconcile(engine, options.runtime);
    } catch (err) {
      // Reconcile contains failures per aggregate; anything that still escapes must not keep the log unserved.
      engine.logger.error({ err }, 'reconcile did not finish; serving what the log says (the next start tries again)');
    }
  }
  // Hosts files of spaces whose cells changed while no one was writing them (or a write was lost to a crash).
  await cellNamesOf(engine, options.runtime.cellFiles)
    .refreshAll()
    .catch((err) => engine.logger.warn({ err }, 'could not rewrite the hosts files of the cells'));
  if (options.watch !== false) watcher = watchExits(engine, options.runtime, { skipFirstResync: options.reconcile === false });
  if (options.resumeRestarts) {
    restarts.resume(engine);
    deleteExitedAutoDeleteCells(engine);
  }
  return {
    engine,
    operations: new Operations(engine),
    reconcileReport: report,
    async close(closeOptions) {
      watcher?.close();
      restarts.close();
      await engine.close(closeOptions);
      await drainCellNames(engine);
    },
    crash() {
      watcher?.close();
      restarts.close();
      stopCellNames(engine);
      engine.crash();
    },
  };
}
