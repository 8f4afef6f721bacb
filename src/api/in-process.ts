/**
 * The in-process client: `kuke` does the work itself, talking to containerd directly (`--no-daemon`,
 * `--run-path`, `KUKEON_NO_DAEMON=true`, and `kuke init`).
 *
 * One writer: the event log allows one process. Reads while kukeond holds the log come from the on-disk read
 * model (what the daemon prints, by construction); writes need the log and say clearly that the daemon holds it —
 * except stopping, killing or deleting the daemon's own cell (the seed's teardown): the effect is carried out
 * through containerd first, then, once the daemon has exited and released the log, the command is recorded like
 * any other, so history shows the kill and who did it.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname } from 'node:path';
import type { EventRecord } from '../../events/record.js';
import type { Actor } from '../../events/record.js';
import type { ApplyProgress, ApplyResult } from '../engine/apply.js';
import { catalogCodec } from '../engine/codec.js';
import { resolveEngineConfig, runLayout, type EngineConfig } from '../engine/config.js';
import { Engine } from '../engine/engine.js';
import { isDaemonCell, readHistory, seqAtTime, type HistoryFilter } from '../engine/history.js';
import { openEngine, type OpenedEngine } from '../engine/index.js';
import type { CellRef } from '../engine/operations.js';
import { reconcile } from '../engine/reconcile.js';
import { realmView } from '../engine/views.js';
import { EngineBackend } from './backend.js';
import { aliasQuery, resolveRealmAlias } from './realm-alias.js';
import { ViewQueries, type Query, type ViewSet } from '../engine/queries.js';
import { loadReadModel, ReadModelWriter, viewsOf } from '../engine/read-model.js';
import { usageOf } from '../engine/usage.js';
import { ErrorKind, KukeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { checkManifestSize, utf8Bytes } from '../model/limits.js';
import type { CellView, ResourceView, SecretView } from '../model/resources.js';
import type { AggregateKey } from '../model/streams.js';
import type { Runtime } from '../runtime/ports.js';
import { LevelEventLog, isLockedError } from '../store/event-log.js';
import type { EventStore, VerifyReport } from '../store/types.js';
import type { DeleteOptions, ExecRequest, ExecResult, ExecStdio, KukeonClient, NamedQuery, DeleteResult, SecretFilter } from './client.js';
import { SecretOperations } from '../engine/secrets.js';
import { VERSION } from '../version.js';
import { cellAtRest, logContainer, logFileOf, sendLog, type LogsOptions } from './logs.js';

/** How often an in-process follower of a log looks whether its cell stopped. */
const FOLLOW_CHECK_MS = 1_000;

/** Options of {@link InProcessClient}. */
export interface InProcessOptions {
  config?: Partial<EngineConfig>;
  /** Builds the runtime ports (containerd, cgroups, CNI) on first use. */
  runtime: () => Promise<Runtime>;
  /** Who is acting (recorded on events); default this process, `kuke (in-process)`. */
  actor?: Actor;
  logger?: Logger;
  /** How long to wait for kukeond to release the log after its cell was stopped (default 30 s). */
  lockWaitMs?: number;
}

/** `kuke` doing the work itself. */
export class InProcessClient implements KukeonClient {
  readonly mode = 'in-process' as const;
  readonly config: EngineConfig;
  private readonly logger: Logger;
  private readonly actor: Actor;
  private runtimePromise: Promise<Runtime> | undefined;

  constructor(private readonly options: InProcessOptions) {
    this.config = resolveEngineConfig(options.config);
    this.logger = options.logger ?? silentLogger();
    this.actor = options.actor ?? { type: 'in-process', uid: process.getuid?.() ?? -1, pid: process.pid, name: 'kuke (in-process)' };
  }

  private get layout() {
    return runLayout(this.config.runPath);
  }

  private runtime(): Promise<Runtime> {
    this.runtimePromise ??= this.options.runtime();
    return this.runtimePromise;
  }

  async ping() {
    return { version: VERSION, pid: process.pid, headSeq: 0 };
  }

  async find(query: Query, options: { atSeq?: number; atTime?: string } = {}): Promise<ResourceView[]> {
    const answer = (views: ViewSet) => new ViewQueries(views).find(aliasQuery(query, views.realms));
    if (options.atSeq !== undefined || options.atTime !== undefined) {
      return this.withReadOnlyEngine((engine) => answer(viewsOf(engine)), options);
    }
    const store = await this.tryOpenLog();
    if (!store) return answer(loadReadModel(this.layout.readModel));
    // No daemon: the log is the truth; fold it.
    const engine = await Engine.open({ store, config: this.config, logger: this.logger });
    try {
      return answer(viewsOf(engine));
    } finally {
      await store.close();
    }
  }

  async usage(query: NamedQuery) {
    const [view] = await this.find(query);
    return usageOf(await this.runtime(), view!);
  }

  createRealm(input: Parameters<KukeonClient['createRealm']>[0]) {
    return this.write((b) => b.createRealm(input));
  }
  createSpace(input: Parameters<KukeonClient['createSpace']>[0]) {
    return this.write((b) => b.createSpace(input));
  }
  createStack(input: Parameters<KukeonClient['createStack']>[0]) {
    return this.write((b) => b.createStack(input));
  }
  createCell(input: Parameters<KukeonClient['createCell']>[0]) {
    return this.write((b) => b.createCell(input));
  }
  async apply(manifest: string, progress?: ApplyProgress): Promise<ApplyResult[]> {
    // Before the engine is opened (a log replay): the parser would refuse it anyway, with this line.
    checkManifestSize(utf8Bytes(manifest));
    return this.write((b) => b.apply(manifest, progress));
  }

  async delete(target: NamedQuery, options: DeleteOptions = {}): Promise<DeleteResult> {
    const teardown = target.kind === 'cell' ? { cell: { realm: target.realm, space: target.space, stack: target.stack, cell: target.name }, signal: 'SIGKILL' as const } : undefined;
    return this.write((b) => b.delete(target, options), teardown);
  }

  startCell(ref: CellRef): Promise<CellView> {
    return this.write((b) => b.startCell(ref));
  }

  stopCell(ref: CellRef, options: { mode: 'stop' | 'kill'; graceMs?: number }) {
    return this.write((b) => b.stopCell(ref, options), { cell: ref, signal: options.mode === 'kill' ? 'SIGKILL' : 'SIGTERM' });
  }

  restartCell(ref: CellRef, options: { graceMs?: number } = {}): Promise<CellView> {
    return this.write((b) => b.restartCell(ref, options));
  }

  async history(key: AggregateKey, filter: HistoryFilter = {}): Promise<EventRecord[]> {
    const store = await this.openLogOrExplain('read the history');
    try {
      const realms = (await Engine.open({ store, config: this.config })).list('realm/', { live: true }).map(realmView);
      const k = key.kind === 'daemon' ? key : ({ ...key, realm: resolveRealmAlias(key.realm, realms) } as AggregateKey);
      return await readHistory(store, k, filter);
    } finally {
      await store.close();
    }
  }

  async watchHistory(key: AggregateKey, filter: HistoryFilter, onEvent: (record: EventRecord) => void): Promise<void> {
    // In-process there is no live writer to follow: print what the log holds.
    for (const record of await this.history(key, filter)) onEvent(record);
  }

  async verifyLog(): Promise<VerifyReport> {
    const store = await this.openLogOrExplain('verify the log');
    try {
      return await store.verify();
    } finally {
      await store.close();
    }
  }

  // secrets (issue 11)
  putSecret(input: Parameters<KukeonClient['putSecret']>[0]) {
    return this.write((b) => b.putSecret(input));
  }
  deleteSecret(ref: Parameters<KukeonClient['deleteSecret']>[0]) {
    return this.write((b) => b.deleteSecret(ref));
  }
  /** Folds the log (the read model holds no secrets); while kukeond holds the log, ask it instead. */
  async listSecrets(filter: SecretFilter = {}): Promise<SecretView[]> {
    const store = await this.openLogOrExplain('list secrets');
    try {
      const engine = await Engine.open({ store, config: this.config, logger: this.logger });
      const realms = engine.list('realm/', { live: true }).map(realmView);
      return new SecretOperations(engine).list(filter.realm === undefined ? filter : { ...filter, realm: resolveRealmAlias(filter.realm, realms) });
    } finally {
      await store.close();
    }
  }

  // logs (issue 12)
  async logs(ref: CellRef, options: LogsOptions, onData: (chunk: Uint8Array) => void | Promise<void>, signal?: AbortSignal): Promise<void> {
    const query = { kind: 'cell' as const, realm: ref.realm, space: ref.space, stack: ref.stack, name: ref.cell };
    const [cell] = (await this.find(query)) as CellView[];
    const file = logFileOf(this.config.runPath, cell!, logContainer(cell!, options.container));
    if (!options.follow) return sendLog(file, options, onData, undefined, signal);
    // No engine events here: the cell's state is looked at every second in the read model (the daemon's, or the last
    // in-process writer's), never by folding the log, which would also take its lock from a daemon starting meanwhile.
    const done = new AbortController();
    const stateNow = () => {
      try {
        return loadReadModel(this.layout.readModel).cells.find((c) => c.realm === cell!.realm && c.space === cell!.space && c.stack === cell!.stack && c.name === cell!.name)?.state;
      } catch {
        return undefined;
      }
    };
    const stopped = (async () => {
      while (!done.signal.aborted) {
        await sleep(FOLLOW_CHECK_MS, undefined, { signal: done.signal }).catch(() => undefined);
        const state = stateNow();
        if (state === undefined || cellAtRest(state)) return;
      }
    })();
    try {
      await sendLog(file, options, onData, stopped, signal);
    } finally {
      done.abort();
    }
  }

  async close(): Promise<void> {
    if (this.runtimePromise) (await this.runtimePromise.catch(() => undefined))?.containers.close();
  }

  // exec (issue 12)
  /** In-process, the exec holds the log (and the engine open) for as long as the process runs. */
  exec(request: ExecRequest, stdio: ExecStdio): Promise<ExecResult> {
    return this.write((b) => b.exec(request, stdio));
  }

  // ------------------------------------------------------------------------------------------------ internals

  /** Opens the log, or returns undefined when another process (kukeond) holds it. */
  private async tryOpenLog(): Promise<EventStore | undefined> {
    try {
      return await LevelEventLog.open(this.layout.eventLog, { codec: catalogCodec, logger: this.logger });
    } catch (err) {
      if (isLockedError(err)) return undefined;
      throw err;
    }
  }

  private async openLogOrExplain(what: string): Promise<EventStore> {
    const store = await this.tryOpenLog();
    if (store) return store;
    throw new KukeError(ErrorKind.FailedPrecondition, `cannot ${what} in-process: kukeond holds the event log at ${this.layout.eventLog}`, {
      hint: 'run the command without --no-daemon/--run-path to ask the daemon',
    });
  }

  private async withReadOnlyEngine<T>(fn: (engine: Engine) => T, at: { atSeq?: number; atTime?: string }): Promise<T> {
    const store = await this.openLogOrExplain('read the log');
    try {
      const untilSeq = at.atSeq ?? (await seqAtTime(store, at.atTime!));
      const engine = await Engine.open({ store, config: this.config, logger: this.logger, untilSeq });
      return fn(engine);
    } finally {
      await store.close();
    }
  }

  /**
   * Runs a write with the engine open on the log: replay, reconcile, operation, settle, close. When the daemon's own
   * cell is being stopped or deleted and the daemon holds the log, its tasks are signalled first and the log is
   * taken once the daemon has exited.
   */
  private async write<T>(fn: (backend: EngineBackend) => Promise<T>, teardown?: { cell: CellRef; signal: NodeJS.Signals }): Promise<T> {
    let store = await this.tryOpenLog();
    let reconcileFirst = true;
    if (!store && teardown && isDaemonCell({ kind: 'cell', ...teardown.cell })) {
      await this.signalDaemonCell(teardown.cell, teardown.signal);
      store = await this.waitForLog();
      // Record the operator's command before reconcile notices the exit on its own.
      reconcileFirst = false;
    }
    if (!store) {
      if (!existsSync(this.layout.eventLog)) {
        throw new KukeError(ErrorKind.NotFound, `no event log at ${this.layout.eventLog}`, { hint: 'initialise this host first: sudo kuke init' });
      }
      throw new KukeError(ErrorKind.FailedPrecondition, `kukeond holds the event log at ${this.layout.eventLog}; in-process writes need it`, {
        hint: 'run the command without --no-daemon/--run-path so the daemon does it, or stop the daemon first (kuke daemon stop)',
      });
    }
    return this.withEngine(store, reconcileFirst, (opened, runtime) => fn(new EngineBackend(opened, runtime, this.actor)));
  }

  /**
   * Runs `fn` with the engine open on the log, creating the log when `create` is set and there is none yet (the
   * bootstrap's session: `kuke init` makes several changes under one lock).
   */
  async session<T>(fn: (opened: OpenedEngine, runtime: Runtime, actor: Actor) => Promise<T>, options: { create?: boolean } = {}): Promise<T> {
    let store: EventStore | undefined;
    if (options.create && !existsSync(this.layout.eventLog)) {
      mkdirSync(dirname(this.layout.eventLog), { recursive: true, mode: 0o750 });
      store = await LevelEventLog.create(this.layout.eventLog, { codec: catalogCodec, logger: this.logger });
    } else {
      store = await this.tryOpenLog();
    }
    if (!store) {
      throw new KukeError(ErrorKind.FailedPrecondition, `kukeond holds the event log at ${this.layout.eventLog}`, {
        hint: 'stop the daemon first (sudo kuke daemon stop), or run the command through it',
      });
    }
    return this.withEngine(store, true, (opened, runtime) => fn(opened, runtime, this.actor));
  }

  private async withEngine<T>(store: EventStore, reconcileFirst: boolean, fn: (opened: OpenedEngine, runtime: Runtime) => Promise<T>): Promise<T> {
    const runtime = await this.runtime();
    const readModel = new ReadModelWriter(this.layout.readModel, this.logger);
    let opened: OpenedEngine;
    try {
      opened = await openEngine({ store, runtime, config: this.config, logger: this.logger, reconcile: reconcileFirst, onApplied: readModel.onApplied });
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
    readModel.attach(opened.engine);
    try {
      const result = await fn(opened, runtime);
      if (!reconcileFirst) await reconcile(opened.engine, runtime);
      return result;
    } finally {
      await opened.close({ graceMs: 30_000 });
      readModel.flush();
    }
  }

  /** Signals the tasks of the daemon's cell directly through containerd (the daemon cannot record its own death). */
  private async signalDaemonCell(ref: CellRef, signal: NodeJS.Signals): Promise<void> {
    const views = loadReadModel(this.layout.readModel);
    const cell = views.cells.find((c) => c.realm === ref.realm && c.space === ref.space && c.stack === ref.stack && c.name === ref.cell);
    if (!cell) throw new KukeError(ErrorKind.NotFound, `cell "${ref.cell}" not found in the read model at ${this.layout.readModel}`);
    const runtime = await this.runtime();
    // Others first, the root (the daemon itself) last.
    for (const c of [...cell.containers].reverse()) {
      if (c.pid === null) continue;
      this.logger.info({ container: c.name, signal }, 'signalling the daemon cell directly');
      await runtime.containers.killTask(c.namespace, c.containerdId, signal, { all: true });
    }
  }

  private async waitForLog(): Promise<EventStore> {
    const deadline = Date.now() + (this.options.lockWaitMs ?? 30_000);
    for (;;) {
      const store = await this.tryOpenLog();
      if (store) return store;
      if (Date.now() > deadline) {
        throw new KukeError(ErrorKind.DeadlineExceeded, `kukeond did not release the event log at ${this.layout.eventLog}`, {
          hint: 'check that it exited: kuke daemon logs; then retry with: kuke kill cell kukeond --realm kukeon-system --space kukeon --stack kukeon --run-path …',
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
