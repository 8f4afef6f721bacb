/**
 * Restart policies of a cell's other containers, as the original applies them: `always` restarts after any exit,
 * `on-failure` after a non-zero (or unknown) one, `never` — the default — not at all. Only while the cell runs (Ready
 * or Degraded) and its root runs: the root's own exit winds the cell down instead. The first restart of a row is
 * immediate, every later one waits `restartBackoffSeconds` (default 30); `on-failure` gives up after
 * `restartMaxRetries` (default 5) restarts in a row. A run longer than the backoff and than the engine's
 * `restartStableMs` (10 s by default) ends the row: the container was healthy. That is also how long a restarted
 * container must run before its cell is Ready again rather than Degraded: a crash loop whose runs last a few seconds
 * would otherwise flip the cell between Ready and Degraded at every restart.
 *
 * Unlike the original, whose counters live in memory, every decision is an event on the container's stream (issue
 * 12): RestartScheduled (attempt, notBefore), RestartsExhausted, the restart itself (StartContainer with `restart`),
 * RestartsReset. A daemon restart therefore keeps the counts and the backoff: the timers are data, re-armed by
 * {@link RestartPolicies.resume} from the log. History tells each step, with the engine as the actor.
 *
 * The same follow-up keeps each cell's health current: a container that keeps failing (machines/container.ts
 * isFailing) is reported to its cell (ContainerFailing / ContainerRecovered), which is then Degraded instead of Ready.
 */
import { isRunningCell, type CellContext } from '../../machines/cell.js';
import { isFailing, type ContainerContext } from '../../machines/container.js';
import type { EventRecord } from '../../events/record.js';
import { streamOf } from '../model/streams.js';
import type { Aggregate, DispatchMeta, Engine, FollowUp } from './engine.js';
import { memberNetwork } from './sagas.js';

/** Defaults of the original. */
export const DEFAULT_RESTART_BACKOFF_SECONDS = 30;
export const DEFAULT_RESTART_MAX_RETRIES = 5;

/** The restart follow-up of one engine, with its pending timers (restarts owed, and runs to be declared stable). */
export class RestartPolicies {
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly stableTimers = new Map<string, NodeJS.Timeout>();
  /** When each container last reached Running (ms), as this process saw it. */
  private readonly startedAt = new Map<string, number>();
  private closed = false;

  constructor(private readonly now: () => number = Date.now) {}

  /** Watches container and cell transitions (give it to the engine's follow-ups). */
  readonly followUp: FollowUp = (record, before, after, engine) => {
    if (this.closed) return;
    if (after.kind === 'cell') {
      // A cell that is running again re-reads its containers: one that exited while the cell started (its restart
      // could not run before the cell was Ready) is owed its restart now, and the cell learns which ones fail.
      if (record.type === 'CellStarted') {
        for (const agg of this.containersOf(engine, after)) {
          if (String(agg.snapshot.value) === 'Exited') this.owe(engine, agg, record);
          this.reportHealth(engine, agg, record);
        }
      }
      return;
    }
    if (after.kind !== 'container') return;
    const from = before ? String(before.snapshot.value) : 'Absent';
    const to = String(after.snapshot.value);
    const c = after.snapshot.context as ContainerContext;
    if (to === 'Running' && from !== 'Running') {
      this.startedAt.set(after.stream, this.now());
      if (c.row > 0) this.armStable(engine, after.stream, c, 0);
    }
    if (to !== 'Running') this.clear(this.stableTimers, after.stream);
    if (to === 'Deleted') {
      this.clear(this.restartTimers, after.stream);
      this.startedAt.delete(after.stream);
    }
    // An exit by itself: Running → Exited, or Starting → Exited for a task that exited before its start was recorded.
    // (A stop made by the cell's saga goes through Stopping.)
    if ((from === 'Running' || from === 'Starting') && to === 'Exited') this.owe(engine, after, record);
    if (!before || isFailing(from, before.snapshot.context as ContainerContext) !== isFailing(to, c)) this.reportHealth(engine, after, record);
  };

  /**
   * After a replay and reconcile: re-arms what the log says is pending. A restart scheduled before the daemon went
   * down runs at its `notBefore` (at once if that has passed); an exit found by reconcile has been scheduled through
   * the follow-up already; a restarted container still running gets its stability timer from its last event; and
   * every running cell's health is brought in line with its containers.
   */
  resume(engine: Engine): void {
    for (const agg of engine.list('container/')) {
      const c = agg.snapshot.context as ContainerContext;
      const state = String(agg.snapshot.value);
      if (state === 'Exited') this.owe(engine, agg, undefined);
      if (state === 'Running' && c.row > 0) {
        // Its last event (normally TaskStarted) is when the run began, as far as the log tells.
        const ran = this.now() - Date.parse(agg.updatedAt);
        this.armStable(engine, agg.stream, c, Number.isFinite(ran) ? ran : 0);
      }
      this.reportHealth(engine, agg, undefined);
    }
  }

  /** Cancels every pending timer (the engine is closing). */
  close(): void {
    this.closed = true;
    for (const stream of [...this.restartTimers.keys()]) this.clear(this.restartTimers, stream);
    for (const stream of [...this.stableTimers.keys()]) this.clear(this.stableTimers, stream);
  }

  /**
   * Decides what an Exited container is owed under its policy and records it: a restart (RestartScheduled, then a
   * timer until its notBefore), or giving up (RestartsExhausted). A restart already scheduled is only re-armed.
   */
  private owe(engine: Engine, agg: Aggregate, record: EventRecord | undefined): void {
    const c = agg.snapshot.context as ContainerContext;
    const template = c.template;
    if (c.root || !template || template.restartPolicy === 'never' || c.gaveUp) return;
    if (c.backoff) {
      this.armRestart(engine, agg.stream, Date.parse(c.backoff.notBefore) - this.now());
      return;
    }
    if (template.restartPolicy === 'on-failure' && c.exitCode === 0) return;
    const backoffMs = (template.restartBackoffSeconds ?? DEFAULT_RESTART_BACKOFF_SECONDS) * 1000;
    // A run that lasted long enough ends the row even if its RestartsReset was not recorded (the daemon was down).
    const started = this.startedAt.get(agg.stream);
    const row = started !== undefined && this.now() - started > Math.max(backoffMs, engine.config.restartStableMs) ? 0 : c.row;
    const maxRetries = template.restartMaxRetries ?? DEFAULT_RESTART_MAX_RETRIES;
    const meta = this.meta(template.restartPolicy, record);
    if (template.restartPolicy === 'on-failure' && row >= maxRetries) {
      this.record(engine, agg.stream, 'RestartsExhausted', { attempts: row }, meta);
      return;
    }
    const delay = row === 0 ? 0 : backoffMs;
    const notBefore = new Date(this.now() + delay).toISOString();
    this.record(engine, agg.stream, 'RestartScheduled', { attempt: row + 1, notBefore }, meta, () => this.armRestart(engine, agg.stream, delay));
  }

  private armRestart(engine: Engine, stream: string, delayMs: number): void {
    if (this.restartTimers.has(stream)) return;
    const timer = setTimeout(() => {
      this.restartTimers.delete(stream);
      this.restart(engine, stream);
    }, Math.max(0, delayMs));
    timer.unref?.();
    this.restartTimers.set(stream, timer);
  }

  /** Once the container has run max(restartStableMs, its backoff) since its restart (`ranMs` of that already), the row ends. */
  private armStable(engine: Engine, stream: string, c: ContainerContext, ranMs: number): void {
    this.clear(this.stableTimers, stream);
    const backoffMs = (c.template?.restartBackoffSeconds ?? DEFAULT_RESTART_BACKOFF_SECONDS) * 1000;
    const pid = c.pid;
    const timer = setTimeout(() => {
      this.stableTimers.delete(stream);
      if (this.closed || engine.isClosed) return;
      const now = engine.get(stream);
      if (!now || String(now.snapshot.value) !== 'Running' || (now.snapshot.context as ContainerContext).pid !== pid) return;
      this.record(engine, stream, 'RestartsReset', {}, { actor: { type: 'engine', name: 'restart policy' } });
    }, Math.max(0, Math.max(engine.config.restartStableMs, backoffMs) - ranMs));
    timer.unref?.();
    this.stableTimers.set(stream, timer);
  }

  /** Restarts the container if it is still owed one: still Exited with its restart scheduled, its cell and root running. */
  private restart(engine: Engine, stream: string): void {
    if (this.closed || engine.isClosed) return;
    const container = engine.get(stream);
    if (!container || String(container.snapshot.value) !== 'Exited') return;
    const c = container.snapshot.context as ContainerContext;
    if (!c.backoff || !c.template) return;
    const cellKey = { kind: 'cell' as const, realm: c.realm, space: c.space, stack: c.stack, cell: c.cell };
    if (!isRunningCell(engine.stateOf(streamOf(cellKey)))) return;
    const root = engine.list(`container/${c.realm}/${c.space}/${c.stack}/${c.cell}/`).find((a) => (a.snapshot.context as ContainerContext).root);
    const rootContext = root?.snapshot.context as ContainerContext | undefined;
    if (!root || String(root.snapshot.value) !== 'Running' || !rootContext?.pid || !rootContext.template) return;
    const network = memberNetwork(rootContext.template, c.template, rootContext.pid);
    this.record(engine, stream, 'StartContainer', { network, restart: { attempt: c.backoff.attempt } }, this.meta(c.template.restartPolicy, undefined));
  }

  /** Tells the container's cell whether the container keeps failing, when the cell's list says otherwise. */
  private reportHealth(engine: Engine, agg: Aggregate, record: EventRecord | undefined): void {
    const c = agg.snapshot.context as ContainerContext;
    if (c.root) return;
    const cellStream = streamOf({ kind: 'cell', realm: c.realm, space: c.space, stack: c.stack, cell: c.cell });
    const cell = engine.get(cellStream);
    if (!cell || !isRunningCell(String(cell.snapshot.value))) return;
    const failing = isFailing(String(agg.snapshot.value), c);
    if (failing === (cell.snapshot.context as CellContext).failing.includes(c.name)) return;
    const meta: DispatchMeta = { actor: { type: 'engine', name: 'cell health' }, ...(record ? { cause: `seq:${record.seq}` } : {}) };
    // The cell machine refuses a fact that no longer applies (the cell stopped meanwhile): nothing is recorded then.
    this.record(engine, cellStream, failing ? 'ContainerFailing' : 'ContainerRecovered', { container: c.name }, meta);
  }

  private containersOf(engine: Engine, cell: Aggregate): Aggregate[] {
    return engine.list(`container/${cell.stream.slice('cell/'.length)}/`);
  }

  private meta(policy: string, record: EventRecord | undefined): DispatchMeta {
    return { actor: { type: 'engine', name: `restart policy ${policy}` }, ...(record ? { cause: `seq:${record.seq}` } : {}) };
  }

  private record(engine: Engine, stream: string, type: string, data: unknown, meta: DispatchMeta, then?: () => void): void {
    void engine
      .dispatch(stream, type, data, meta)
      .then((outcome) => {
        if (outcome.accepted) then?.();
      })
      .catch((err) => {
        if (!engine.isClosed) engine.logger.error({ err, stream, event: type }, 'restart policy could not record its decision');
      });
  }

  private clear(timers: Map<string, NodeJS.Timeout>, stream: string): void {
    clearTimeout(timers.get(stream));
    timers.delete(stream);
  }
}
