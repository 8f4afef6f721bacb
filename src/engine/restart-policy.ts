/**
 * Restart policies of a cell's other containers, as the original applies them: `always` restarts after any exit,
 * `on-failure` after a non-zero (or unknown) one, `never` — the default — not at all. Only while the cell is Ready
 * and its root runs: the root's own exit winds the cell down instead. The first restart is immediate, every later one
 * waits `restartBackoffSeconds` (default 30); `on-failure` gives up after `restartMaxRetries` (default 5) restarts in
 * a row. A run longer than the backoff and than 10 s ends the row. Counters live in memory, as in the original: a
 * daemon restart forgives, and an exit found by reconcile after an outage is owed its restart.
 *
 * A restart is a StartContainer dispatched by the engine, so history tells each one.
 */
import type { ContainerContext } from '../../machines/container.js';
import { streamOf } from '../model/streams.js';
import type { Engine, FollowUp } from './engine.js';
import { memberNetwork } from './sagas.js';

/** Defaults of the original. */
export const DEFAULT_RESTART_BACKOFF_SECONDS = 30;
export const DEFAULT_RESTART_MAX_RETRIES = 5;
/** A run at least this long (and longer than the backoff) ends a row of restarts: the container was healthy. */
export const STABLE_RUN_MS = 10_000;

interface Row {
  /** Restarts in the current row. */
  attempts: number;
  /** When the container last reached Running (ms). */
  startedAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
}

/** The restart follow-up of one engine, with its pending timers. */
export class RestartPolicies {
  private readonly rows = new Map<string, Row>();
  private closed = false;

  constructor(private readonly now: () => number = Date.now) {}

  /** Watches container transitions (give it to the engine's follow-ups). */
  readonly followUp: FollowUp = (record, before, after, engine) => {
    if (this.closed) return;
    if (after.kind === 'cell' && record.type === 'CellStarted') {
      // A fresh start of the cell starts every row anew; a container that exited while the cell started (its
      // restart could not run before the cell was Ready) is owed one now.
      const prefix = `container/${after.stream.slice('cell/'.length)}/`;
      for (const [stream, row] of this.rows) if (stream.startsWith(prefix)) this.forget(stream, row);
      for (const agg of engine.list(prefix)) {
        if (String(agg.snapshot.value) === 'Exited') this.owe(engine, agg.stream, agg.snapshot.context as ContainerContext, `seq:${record.seq}`);
      }
      return;
    }
    if (after.kind !== 'container' || !before) return;
    const from = String(before.snapshot.value);
    const to = String(after.snapshot.value);
    const row = this.rows.get(after.stream);
    if (to === 'Running' && from !== 'Running') {
      this.rowOf(after.stream).startedAt = this.now();
      return;
    }
    if (to === 'Deleted' && row) {
      this.forget(after.stream, row);
      return;
    }
    // An exit by itself: Running → Exited, or Starting → Exited for a task that exited before its start was recorded.
    // (A stop made by the cell's saga goes through Stopping.)
    if ((from !== 'Running' && from !== 'Starting') || to !== 'Exited') return;
    this.owe(engine, after.stream, after.snapshot.context as ContainerContext, `seq:${record.seq}`);
  };

  /**
   * After a replay: every container that sits Exited under a policy that restarts it is owed a restart now (the
   * original's reconciler observes it again on its first tick after a daemon restart).
   */
  resume(engine: Engine): void {
    for (const agg of engine.list('container/')) {
      if (String(agg.snapshot.value) === 'Exited') this.owe(engine, agg.stream, agg.snapshot.context as ContainerContext, 'resume');
    }
  }

  /** Cancels every pending restart (the engine is closing). */
  close(): void {
    this.closed = true;
    for (const [stream, row] of this.rows) this.forget(stream, row);
  }

  /** Schedules the restart an exit is owed under the container's policy, if any. */
  private owe(engine: Engine, stream: string, c: ContainerContext, cause: string): void {
    const template = c.template;
    if (c.root || !template || template.restartPolicy === 'never') return;
    if (template.restartPolicy === 'on-failure' && c.exitCode === 0) return;
    const backoffMs = (template.restartBackoffSeconds ?? DEFAULT_RESTART_BACKOFF_SECONDS) * 1000;
    const row = this.rowOf(stream);
    if (row.timer) return; // already owed
    if (row.startedAt !== undefined && this.now() - row.startedAt > Math.max(backoffMs, STABLE_RUN_MS)) row.attempts = 0;
    const maxRetries = template.restartMaxRetries ?? DEFAULT_RESTART_MAX_RETRIES;
    if (template.restartPolicy === 'on-failure' && row.attempts >= maxRetries) {
      engine.logger.warn({ stream, attempts: row.attempts, exitCode: c.exitCode }, 'restart policy on-failure gave up');
      return;
    }
    const delay = row.attempts === 0 ? 0 : backoffMs;
    row.attempts++;
    row.timer = setTimeout(() => {
      row.timer = undefined;
      this.restart(engine, stream, cause);
    }, delay);
    row.timer.unref?.();
  }

  private rowOf(stream: string): Row {
    let row = this.rows.get(stream);
    if (!row) {
      row = { attempts: 0, startedAt: undefined, timer: undefined };
      this.rows.set(stream, row);
    }
    return row;
  }

  private forget(stream: string, row: Row): void {
    clearTimeout(row.timer);
    this.rows.delete(stream);
  }

  /** Restarts the container if it is still owed one: still Exited, its cell Ready, its root running. */
  private restart(engine: Engine, stream: string, cause: string): void {
    if (this.closed || engine.isClosed) return;
    const container = engine.get(stream);
    if (!container || String(container.snapshot.value) !== 'Exited') return;
    const c = container.snapshot.context as ContainerContext;
    const cellKey = { kind: 'cell' as const, realm: c.realm, space: c.space, stack: c.stack, cell: c.cell };
    if (engine.stateOf(streamOf(cellKey)) !== 'Ready') return;
    const root = engine.list(`container/${c.realm}/${c.space}/${c.stack}/${c.cell}/`).find((a) => (a.snapshot.context as ContainerContext).root);
    const rootContext = root?.snapshot.context as ContainerContext | undefined;
    if (!root || String(root.snapshot.value) !== 'Running' || !rootContext?.pid || !rootContext.template || !c.template) return;
    const network = memberNetwork(rootContext.template, c.template, rootContext.pid);
    void engine.dispatch(stream, 'StartContainer', { network }, { actor: { type: 'engine', name: `restart policy ${c.template.restartPolicy}` }, cause }).catch((err) => {
      if (!engine.isClosed) engine.logger.error({ err, stream }, 'restart by policy failed');
    });
  }
}
