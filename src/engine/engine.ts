/**
 * The engine: the only place where events are decided, recorded and acted upon.
 *
 *   dispatch(stream, event) ─ validate payload ─ can()? ─ append (durable) ─ apply ─ run effects ─ dispatch(result)
 *
 * - Machines decide (machines/): `transition()` returns the next state and the effect requests, and runs nothing.
 * - The log is the truth (src/store/): an event is appended, durably, before it is applied or acted upon, and a
 *   client is answered only after that. Rejected commands and stale facts are not appended.
 * - Effects run through the runtime ports (src/runtime/ports.ts) after the append; their outcome comes back as an
 *   event (a fact, or EffectFailed), appended like any other.
 * - Replay folds the log with effects off; reconcile (reconcile.ts) then compares with the runtime and
 *   re-issues the one idempotent effect of every aggregate caught in a transient state.
 */
import { initialTransition } from 'xstate';
import { AUDIT_EVENTS, currentVersion, checkPayload } from '../../events/catalog.js';
import type { Actor, EventInput, EventRecord } from '../../events/record.js';
import {
  AGGREGATES,
  describeRejection,
  isGone,
  type AggregateKind,
  type AnySnapshot,
  type EffectRequest,
} from '../../machines/index.js';
import type { Rejection } from '../../machines/rejections.js';
import { ErrorKind, KukeError, toKukeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { describeKey, machineInput, parseStream, type AggregateKey } from '../model/streams.js';
import type { Runtime } from '../runtime/ports.js';
import type { AggregateSnapshot, EventStore } from '../store/types.js';
import { resolveEngineConfig, type EngineConfig } from './config.js';
import { foldTransition } from './fold.js';
import { machineHash } from './machine-hash.js';

/** The live state of one aggregate. */
export interface Aggregate {
  stream: string;
  key: AggregateKey;
  kind: AggregateKind;
  snapshot: AnySnapshot;
  /** Stream version (events applied). */
  version: number;
  /** Global seq of the latest event applied. */
  seq: number;
  /** ISO time of the event that began the current life, and of the latest event. */
  createdAt: string;
  updatedAt: string;
}

/** Who asks, and why: recorded on the event. */
export interface DispatchMeta {
  actor: Actor;
  /** Request id or `seq:<n>` of the event that caused this one. */
  cause?: string;
  correlation?: string;
}

/** The outcome of a dispatch. */
export type DispatchOutcome =
  | { accepted: true; record: EventRecord; aggregate: Aggregate }
  | { accepted: false; aggregate: Aggregate; rejection: Rejection };

/** Runs an effect request; resolves with the fact(s) to dispatch, throws a KukeError on failure. */
export type EffectRunner = (
  effect: EffectRequest,
  context: { stream: string; engine: Engine; meta: DispatchMeta; signal: AbortSignal },
) => Promise<{ type: string; data: unknown }[]>;

/** Reaction to an applied event, for coordination across aggregates (a container exit tells its cell). */
export type FollowUp = (record: EventRecord, before: Aggregate | undefined, after: Aggregate, engine: Engine) => void;

/** Options of {@link Engine.open}. */
export interface EngineOptions {
  store: EventStore;
  /** Runs effects. Omit for a read-only engine (history, `--at`, verification): effects are then refused. */
  effects?: EffectRunner;
  followUps?: FollowUp[];
  runtime?: Runtime;
  config?: Partial<EngineConfig>;
  /** Injected clock: ISO strings on events come from it. */
  now?: () => Date;
  logger?: Logger;
  /** Fold only events with seq ≤ this (point-in-time state, `kuke get --at`). */
  untilSeq?: number;
  /** Ignore stored snapshots and fold everything (verification, benchmarks). */
  ignoreSnapshots?: boolean;
  /** Called after each applied event (read model, watchers). */
  onApplied?: (aggregate: Aggregate, record: EventRecord) => void;
}

/** Statistics of the last replay. */
export interface ReplayStats {
  events: number;
  fromSnapshots: number;
  ms: number;
}

type Waiter = { predicate: (a: Aggregate) => boolean; resolve: (a: Aggregate) => void };

/**
 * The event-sourced engine.
 *
 * @example
 * const engine = await Engine.open({ store, effects, runtime });
 * await engine.reconcile?.();
 * await engine.dispatch('realm/lab', 'CreateRealm', { namespace: 'lab.kukeon.io' }, { actor: { type: 'user' } });
 */
export class Engine {
  readonly config: EngineConfig;
  readonly store: EventStore;
  readonly runtime: Runtime | undefined;
  readonly logger: Logger;
  readonly now: () => Date;
  readonly replayStats: ReplayStats = { events: 0, fromSnapshots: 0, ms: 0 };

  private readonly aggregates = new Map<string, Aggregate>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly recordListeners = new Set<(record: EventRecord) => void>();
  private readonly effects: EffectRunner | undefined;
  private readonly followUps: FollowUp[];
  private readonly onApplied: EngineOptions['onApplied'];
  private readonly abort = new AbortController();
  /** Per stream, its effects in flight and their abort controllers (a forced delete cancels and outwaits them). */
  private readonly effectJobs = new Map<string, Set<{ controller: AbortController; job: Promise<void> }>>();
  private pendingAppends = 0;
  private eventsSinceCheckpoint = 0;
  private checkpointRunning: Promise<void> | undefined;
  private closed = false;

  private constructor(options: EngineOptions) {
    this.config = resolveEngineConfig(options.config);
    this.store = options.store;
    this.runtime = options.runtime;
    this.effects = options.effects;
    this.followUps = options.followUps ?? [];
    this.onApplied = options.onApplied;
    this.now = options.now ?? (() => new Date());
    this.logger = options.logger ?? silentLogger();
  }

  /** Opens an engine over a log: loads the latest checkpoint and folds the tail, with effects off. */
  static async open(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    await engine.replay(options);
    return engine;
  }

  // ------------------------------------------------------------------------------------------------ reads

  /** The aggregate of a stream, or undefined if the stream has no events. */
  get(stream: string): Aggregate | undefined {
    return this.aggregates.get(stream);
  }

  /** The user-visible state of a stream (`Absent` if it has no events). */
  stateOf(stream: string): string {
    const agg = this.aggregates.get(stream);
    return agg ? String(agg.snapshot.value) : 'Absent';
  }

  /** Aggregates whose stream starts with `prefix`, in stream order; `live` drops Absent/Deleted ones. */
  list(prefix: string, options: { live?: boolean } = {}): Aggregate[] {
    const out: Aggregate[] = [];
    for (const [stream, agg] of this.aggregates) {
      if (!stream.startsWith(prefix)) continue;
      if (options.live && isGone(String(agg.snapshot.value))) continue;
      out.push(agg);
    }
    return out.sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
  }

  /** Every aggregate. */
  all(): IterableIterator<Aggregate> {
    return this.aggregates.values();
  }

  /** The global seq of the last applied event. */
  get headSeq(): number {
    return this.store.head().seq;
  }

  // ------------------------------------------------------------------------------------------------ writes

  /**
   * Decides and records one event on one stream. Resolves once the event is durable and applied (its effects are
   * started, not awaited), or with `accepted: false` and the reason if the machine refuses it. Per-stream calls
   * are serialised; different streams proceed concurrently (and group-commit in the log).
   */
  dispatch(stream: string, type: string, data: unknown, meta: DispatchMeta): Promise<DispatchOutcome> {
    return this.serialize(stream, () => this.dispatchNow(stream, type, data, meta));
  }

  private async dispatchNow(stream: string, type: string, data: unknown, meta: DispatchMeta): Promise<DispatchOutcome> {
    if (this.closed) throw new KukeError(ErrorKind.Unavailable, 'the engine is shutting down', { hint: 'retry shortly' });
    const key = parseStream(stream);
    const def = AGGREGATES[key.kind];
    const v = currentVersion(type);
    if (v === undefined) throw new KukeError(ErrorKind.InvalidArgument, `unknown event type "${type}"`);
    const checked = checkPayload(type, v, data ?? {});
    if (!checked.ok) throw new KukeError(ErrorKind.InvalidArgument, `invalid ${type}: ${checked.problem}`);
    const payload = checked.data as Record<string, unknown>;

    const before = this.aggregates.get(stream) ?? this.initialAggregate(stream, key);
    if (AUDIT_EVENTS.has(type)) return this.recordAudit(before, type, v, payload, meta);
    const event = { ...payload, type };
    if (!before.snapshot.can(event)) {
      const state = String(before.snapshot.value);
      return {
        accepted: false,
        aggregate: before,
        rejection: describeRejection(key.kind, describeKey(key), state, event, before.snapshot.context),
      };
    }
    const [next, actions] = foldTransition(def.machine, before.snapshot, event);
    const at = this.now().toISOString();
    const input: EventInput = {
      stream,
      type,
      v,
      data: payload,
      at,
      actor: meta.actor,
      ...(meta.cause ? { cause: meta.cause } : {}),
      ...(meta.correlation ? { correlation: meta.correlation } : {}),
      from: String(before.snapshot.value),
      to: String(next.value),
    };
    this.pendingAppends++;
    let record: EventRecord;
    try {
      [record] = (await this.store.append(stream, [input], { expectedVersion: before.version })) as [EventRecord];
    } finally {
      this.pendingAppends--;
    }
    const after = this.applyState(before, next as AnySnapshot, record);
    this.logger.info({ stream, seq: record.seq, event: type, from: input.from, to: input.to, actor: meta.actor.type }, 'transition');
    for (const action of actions) {
      if (effectNames(key.kind).has(action.type)) {
        this.startEffect(stream, { type: action.type, params: (action.params ?? {}) as Record<string, unknown> }, record, meta);
      }
    }
    this.afterApply(record, before.version === 0 ? undefined : before, after);
    return { accepted: true, record, aggregate: after };
  }

  /**
   * Appends an audit event (catalog.ts AUDIT_EVENTS) to a live aggregate's stream: the machine does not see it, the
   * state stays, and nothing runs. Refused (FailedPrecondition) on an aggregate that does not exist.
   */
  private async recordAudit(before: Aggregate, type: string, v: number, payload: Record<string, unknown>, meta: DispatchMeta): Promise<DispatchOutcome> {
    const state = String(before.snapshot.value);
    if (before.version === 0 || isGone(state)) {
      throw new KukeError(ErrorKind.FailedPrecondition, `${describeKey(before.key)} does not exist: nothing to record ${type} on`);
    }
    const input: EventInput = {
      stream: before.stream,
      type,
      v,
      data: payload,
      at: this.now().toISOString(),
      actor: meta.actor,
      ...(meta.cause ? { cause: meta.cause } : {}),
      ...(meta.correlation ? { correlation: meta.correlation } : {}),
      from: state,
      to: state,
    };
    this.pendingAppends++;
    let record: EventRecord;
    try {
      [record] = (await this.store.append(before.stream, [input], { expectedVersion: before.version })) as [EventRecord];
    } finally {
      this.pendingAppends--;
    }
    const after = this.applyAudit(before, record);
    this.logger.info({ stream: before.stream, seq: record.seq, event: type, actor: meta.actor.type }, 'audit');
    this.afterApply(record, before, after);
    return { accepted: true, record, aggregate: after };
  }

  /** The aggregate after an audit event: only its stream position moves (not even updatedAt: nothing changed). */
  private applyAudit(before: Aggregate, record: EventRecord): Aggregate {
    const after: Aggregate = { ...before, version: record.ver, seq: record.seq };
    this.aggregates.set(before.stream, after);
    return after;
  }

  /** Re-issues the transient effect of an aggregate (reconcile after a restart). */
  reissueTransientEffect(stream: string, meta: DispatchMeta): boolean {
    const agg = this.aggregates.get(stream);
    if (!agg) return false;
    const effect = AGGREGATES[agg.kind].transientEffect(agg.snapshot);
    if (!effect) return false;
    this.startEffect(stream, effect, undefined, meta);
    return true;
  }

  /**
   * Cancels the effects in flight on a stream (a forced delete does their work itself): their signal aborts, so a
   * saga stops at its next wait and reports the failure. Effects already inside a runtime call finish that call.
   * Returns how many were cancelled.
   */
  cancelEffects(stream: string): number {
    const jobs = this.effectJobs.get(stream);
    for (const { controller } of jobs ?? []) controller.abort();
    return jobs?.size ?? 0;
  }

  /** Number of effects in flight on a stream. */
  effectsInFlightOn(stream: string): number {
    return this.effectJobs.get(stream)?.size ?? 0;
  }

  /**
   * Runs `fn` once the effects now in flight on `stream` have finished (at once if there are none). Tracked like an
   * effect: settle() and close() wait for it. A forced delete uses it to undo what a late effect still did.
   */
  afterEffects(stream: string, fn: () => Promise<void>): void {
    const pending = [...(this.effectJobs.get(stream) ?? [])].map((j) => j.job);
    const job = Promise.allSettled(pending)
      .then(() => (this.closed ? undefined : fn()))
      .catch((err) => this.logger.error({ err, stream }, 'work after the effects of a stream failed'));
    this.inflight.add(job);
    void job.finally(() => this.inflight.delete(job));
  }

  /**
   * Resolves with the aggregate once `predicate` holds for it (immediately if it already does). Rejects with
   * DeadlineExceeded after `timeoutMs`, or Canceled when `signal` aborts or the engine closes.
   */
  waitFor(
    stream: string,
    predicate: (a: Aggregate) => boolean,
    options: { timeoutMs?: number; signal?: AbortSignal; what?: string } = {},
  ): Promise<Aggregate> {
    const current = this.aggregates.get(stream) ?? this.initialAggregate(stream, parseStream(stream));
    if (predicate(current)) return Promise.resolve(current);
    return new Promise<Aggregate>((resolve, reject) => {
      const set = this.waiters.get(stream) ?? new Set<Waiter>();
      this.waiters.set(stream, set);
      let timer: NodeJS.Timeout | undefined;
      const cleanup = () => {
        set.delete(waiter);
        if (set.size === 0) this.waiters.delete(stream);
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.abort.signal.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        predicate,
        resolve: (a) => {
          cleanup();
          resolve(a);
        },
      };
      const onAbort = () => {
        cleanup();
        reject(new KukeError(ErrorKind.Canceled, `stopped waiting for ${options.what ?? stream}`));
      };
      set.add(waiter);
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          cleanup();
          const state = this.stateOf(stream);
          reject(
            new KukeError(
              ErrorKind.DeadlineExceeded,
              `timed out after ${options.timeoutMs} ms waiting for ${options.what ?? stream} (it is ${state})`,
            ),
          );
        }, options.timeoutMs);
      }
      options.signal?.addEventListener('abort', onAbort);
      this.abort.signal.addEventListener('abort', onAbort);
    });
  }

  /** Calls `listener` after every applied event (live only, not during replay). Returns an unsubscribe. */
  onRecord(listener: (record: EventRecord) => void): () => void {
    this.recordListeners.add(listener);
    return () => this.recordListeners.delete(listener);
  }

  /** Resolves when no effect is running and no dispatch is queued (tests, benchmarks, drain). */
  async settle(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const pending = [...this.inflight, ...this.locks.values()];
      if (pending.length === 0) return;
      if (Date.now() > deadline) throw new KukeError(ErrorKind.DeadlineExceeded, `engine did not settle (${pending.length} pending)`);
      await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, 50))]);
    }
  }

  /** Number of effects in flight. */
  get effectsInFlight(): number {
    return this.inflight.size;
  }

  /**
   * Writes a checkpoint: a snapshot of every aggregate as of the current head, so the next open folds only what
   * follows. Taken at a quiet instant (no append in flight) so that every snapshot is exact.
   */
  async checkpoint(): Promise<void> {
    while (this.pendingAppends > 0) await new Promise((r) => setImmediate(r));
    const head = this.store.head();
    const snapshots: AggregateSnapshot[] = [];
    for (const agg of this.aggregates.values()) {
      snapshots.push({
        stream: agg.stream,
        seq: agg.seq,
        ver: agg.version,
        machineHash: machineHash(agg.kind),
        state: {
          persisted: AGGREGATES[agg.kind].machine.getPersistedSnapshot(agg.snapshot),
          createdAt: agg.createdAt,
          updatedAt: agg.updatedAt,
        },
      });
    }
    this.eventsSinceCheckpoint = 0;
    await this.store.writeCheckpoint(snapshots, head);
  }

  /**
   * Stops taking commands, waits for in-flight effects (up to `graceMs`), writes a checkpoint and closes the log.
   */
  async close(options: { graceMs?: number; checkpoint?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    try {
      await this.settle({ timeoutMs: options.graceMs ?? 10_000 });
    } catch (err) {
      this.logger.warn({ err }, 'closing with effects still in flight; reconcile will finish them on next start');
    }
    this.closed = true;
    this.abort.abort();
    if (this.checkpointRunning) await this.checkpointRunning.catch(() => undefined);
    if (options.checkpoint !== false && this.effects) {
      await this.checkpoint().catch((err) => this.logger.warn({ err }, 'checkpoint failed on close'));
    }
    await this.store.close();
  }

  /**
   * Simulates a SIGKILL for tests: from now on nothing this engine does reaches the log; in-flight effects may
   * still finish in the runtime (it is another process), but their results are lost.
   */
  crash(): void {
    this.closed = true;
    this.abort.abort();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ------------------------------------------------------------------------------------------------ internals

  private serialize<T>(stream: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(stream) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(stream, tail);
    void tail.then(() => {
      if (this.locks.get(stream) === tail) this.locks.delete(stream);
    });
    return run;
  }

  private initialAggregate(stream: string, key: AggregateKey): Aggregate {
    const def = AGGREGATES[key.kind];
    const [snapshot] = initialTransition(def.machine, machineInput(key));
    return {
      stream,
      key,
      kind: key.kind,
      snapshot: snapshot as AnySnapshot,
      version: 0,
      seq: 0,
      createdAt: '',
      updatedAt: '',
    };
  }

  private applyState(before: Aggregate, next: AnySnapshot, record: EventRecord): Aggregate {
    const beganLife = before.version === 0 || isGone(String(before.snapshot.value));
    const after: Aggregate = {
      ...before,
      snapshot: next,
      version: record.ver,
      seq: record.seq,
      createdAt: beganLife ? record.at : before.createdAt,
      updatedAt: record.at,
    };
    this.aggregates.set(before.stream, after);
    return after;
  }

  private afterApply(record: EventRecord, before: Aggregate | undefined, after: Aggregate): void {
    this.onApplied?.(after, record);
    const set = this.waiters.get(after.stream);
    if (set) for (const w of [...set]) if (w.predicate(after)) w.resolve(after);
    for (const listener of this.recordListeners) {
      try {
        listener(record);
      } catch (err) {
        this.logger.error({ err }, 'record listener failed');
      }
    }
    for (const followUp of this.followUps) {
      try {
        followUp(record, before, after, this);
      } catch (err) {
        this.logger.error({ err, stream: after.stream }, 'follow-up failed');
      }
    }
    this.eventsSinceCheckpoint++;
    if (this.eventsSinceCheckpoint >= this.config.checkpointEvery && !this.checkpointRunning && this.effects) {
      this.checkpointRunning = this.checkpoint()
        .catch((err) => this.logger.warn({ err }, 'checkpoint failed'))
        .finally(() => {
          this.checkpointRunning = undefined;
        });
    }
  }

  private startEffect(stream: string, effect: EffectRequest, cause: EventRecord | undefined, meta: DispatchMeta): void {
    if (!this.effects) {
      this.logger.warn({ stream, effect: effect.type }, 'effect requested on a read-only engine; not run');
      return;
    }
    const runner = this.effects;
    const effectMeta: DispatchMeta = {
      actor: { type: 'engine' },
      ...(cause ? { cause: `seq:${cause.seq}` } : meta.cause ? { cause: meta.cause } : {}),
      ...(meta.correlation ? { correlation: meta.correlation } : {}),
    };
    const log = this.logger.child({ stream, effect: effect.type });
    // Aborted when the engine closes, or when this stream's effects are cancelled (a forced delete).
    const controller = new AbortController();
    const signal = AbortSignal.any([this.abort.signal, controller.signal]);
    const job = (async () => {
      let facts: { type: string; data: unknown }[];
      try {
        facts = await runner(effect, { stream, engine: this, meta: effectMeta, signal });
      } catch (err) {
        if (this.closed) return;
        const error = toKukeError(err);
        log.error({ err: error }, 'effect failed');
        facts = [{ type: 'EffectFailed', data: { effect: effect.type, error: { kind: error.kind, message: error.message } } }];
      }
      for (const fact of facts) {
        if (this.closed) return;
        const outcome = await this.recordFact(stream, fact, effectMeta, log);
        if (outcome && !outcome.accepted) log.debug({ fact: fact.type, reason: outcome.rejection.message }, 'effect result not applied');
      }
    })().catch((err) => {
      if (!this.closed) log.error({ err }, 'effect result could not be recorded');
    });
    this.inflight.add(job);
    const jobs = this.effectJobs.get(stream) ?? new Set();
    const entry = { controller, job };
    this.effectJobs.set(stream, jobs.add(entry));
    void job.finally(() => {
      this.inflight.delete(job);
      jobs.delete(entry);
      if (jobs.size === 0 && this.effectJobs.get(stream) === jobs) this.effectJobs.delete(stream);
    });
  }

  /**
   * Dispatches an effect's outcome. The effect already happened in the world: if the log refuses the write (no
   * space left, an I/O error), dropping the fact would leave the aggregate in its transient state until the next
   * restart's reconcile, so it is retried, with backoff, until the log takes it or the engine closes (undefined).
   */
  private async recordFact(stream: string, fact: { type: string; data: unknown }, meta: DispatchMeta, log: Logger): Promise<DispatchOutcome | undefined> {
    for (let delay = FACT_RETRY_FIRST_MS; ; delay = Math.min(delay * 2, FACT_RETRY_MAX_MS)) {
      try {
        return await this.dispatch(stream, fact.type, fact.data, meta);
      } catch (err) {
        const kind = toKukeError(err).kind;
        if (this.closed || (kind !== ErrorKind.ResourceExhausted && kind !== ErrorKind.Unavailable)) throw err;
        log.warn({ err, fact: fact.type, retryInMs: delay }, 'the event log refused an effect result; retrying');
        const signal = this.abort.signal;
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            resolve();
          };
          const timer = setTimeout(done, delay);
          signal.addEventListener('abort', done);
        });
        if (this.closed) return undefined;
      }
    }
  }

  private async replay(options: EngineOptions): Promise<void> {
    const started = performance.now();
    let fromSeq = 1;
    if (!options.ignoreSnapshots && options.untilSeq === undefined) {
      const snapshots = await this.store.loadSnapshots();
      const checkpoint = snapshots.get(CHECKPOINT_STREAM);
      const usable = checkpoint && [...snapshots.values()].every((s) => s.stream === CHECKPOINT_STREAM || s.machineHash === machineHash(parseStream(s.stream).kind));
      if (checkpoint && usable) {
        // The tail is verified as it is folded; the records before it, through the checkpoint's own hash.
        await this.store.verifyUpTo({ seq: checkpoint.seq, hash: (checkpoint.state as { hash: string }).hash });
        for (const snap of snapshots.values()) {
          if (snap.stream === CHECKPOINT_STREAM) continue;
          this.restoreSnapshot(snap);
          this.replayStats.fromSnapshots++;
        }
        fromSeq = checkpoint.seq + 1;
      } else if (checkpoint) {
        this.logger.info('machine definitions changed since the last checkpoint: folding the whole log');
      }
    }
    const untilSeq = options.untilSeq;
    if (untilSeq !== undefined && untilSeq > this.store.head().seq) {
      throw new KukeError(ErrorKind.InvalidArgument, `there is no event ${untilSeq}: the log ends at seq ${this.store.head().seq}`, {
        hint: 'pick a seq from the SEQ column of kuke history, or give a time',
      });
    }
    for await (const batch of this.store.readAll({ fromSeq, ...(untilSeq !== undefined ? { toSeq: untilSeq } : {}) })) {
      for (const record of batch) this.fold(record);
    }
    this.replayStats.ms = performance.now() - started;
  }

  private restoreSnapshot(snap: AggregateSnapshot): void {
    const key = parseStream(snap.stream);
    const def = AGGREGATES[key.kind];
    const state = snap.state as { persisted: { value: unknown; context: unknown }; createdAt: string; updatedAt: string };
    const snapshot = def.machine.resolveState({
      value: state.persisted.value as string,
      context: state.persisted.context as never,
    }) as AnySnapshot;
    this.aggregates.set(snap.stream, {
      stream: snap.stream,
      key,
      kind: key.kind,
      snapshot,
      version: snap.ver,
      seq: snap.seq,
      createdAt: state.createdAt,
      updatedAt: state.updatedAt,
    });
  }

  /** Applies a stored record with effects off. A record the machine refuses means the log and the code disagree. */
  private fold(record: EventRecord): void {
    const key = parseStream(record.stream);
    const before = this.aggregates.get(record.stream) ?? this.initialAggregate(record.stream, key);
    if (record.ver <= before.version) return; // already in the snapshot
    if (AUDIT_EVENTS.has(record.type)) {
      this.applyAudit(before, record);
      this.replayStats.events++;
      return;
    }
    const event = { ...(record.data as Record<string, unknown>), type: record.type };
    const def = AGGREGATES[key.kind];
    const [next] = foldTransition(def.machine, before.snapshot, event);
    // An event the machine does not handle leaves the very same snapshot: the log and the code disagree.
    if (next === before.snapshot) {
      throw new KukeError(
        ErrorKind.DataLoss,
        `event log: record ${record.seq} (${record.type} on ${record.stream}) is not accepted by the ${key.kind} machine in state ${String(before.snapshot.value)}`,
        { hint: 'the machine definitions changed incompatibly: add an upcaster or a versioned branch; do not edit the log' },
      );
    }
    this.applyState(before, next as AnySnapshot, record);
    this.replayStats.events++;
  }
}

const EFFECT_NAMES = new Map<AggregateKind, Set<string>>();
function effectNames(kind: AggregateKind): Set<string> {
  let names = EFFECT_NAMES.get(kind);
  if (!names) EFFECT_NAMES.set(kind, (names = new Set(Object.values(AGGREGATES[kind].transient))));
  return names;
}

/** Backoff of an effect result the log refused (see recordFact): from half a second up to 30 s. */
const FACT_RETRY_FIRST_MS = 500;
const FACT_RETRY_MAX_MS = 30_000;

/** Snapshot row that marks the head a checkpoint was taken at. */
export const CHECKPOINT_STREAM = '$checkpoint';
