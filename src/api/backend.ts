/**
 * The API over an open engine: what kukeond serves (the gRPC server is a thin translation of it) and what the
 * in-process client runs while it holds the log. One implementation of the API's behaviour, two transports.
 */
import type { Actor, EventRecord } from '../../events/record.js';
import { applyManifest, type ApplyProgress } from '../engine/apply.js';
import { execInCell, type ExecRequest, type ExecStdio } from '../engine/exec.js';
import { historyStreams, matches, readHistory, seqAtTime, type HistoryFilter } from '../engine/history.js';
import { Engine } from '../engine/engine.js';
import type { OpenedEngine } from '../engine/index.js';
import type { CellRef, OpOptions } from '../engine/operations.js';
import { ViewQueries, type Query } from '../engine/queries.js';
import { viewsOf } from '../engine/read-model.js';
import { usageOf } from '../engine/usage.js';
import { ErrorKind, KukeError } from '../errors.js';
import type { CellView, ResourceView } from '../model/resources.js';
import { streamOf, type AggregateKey } from '../model/streams.js';
import type { Runtime } from '../runtime/ports.js';
import { VERSION } from '../version.js';
import type { DeleteOptions, DeleteResult, KukeonClient, NamedQuery, SecretFilter } from './client.js';
import { SecretOperations } from '../engine/secrets.js';
import { aliasQuery, resolveRealmAlias } from './realm-alias.js';
import { cellAtRest, logContainer, logFileOf, sendLog, type LogsOptions } from './logs.js';

/** The API's behaviour over an open engine, acting as `actor`. */
export class EngineBackend implements KukeonClient {
  readonly mode = 'daemon' as const;

  constructor(
    private readonly opened: OpenedEngine,
    private readonly runtime: Runtime,
    private readonly actor: Actor,
  ) {}

  private get engine() {
    return this.opened.engine;
  }

  private get ops() {
    return this.opened.operations;
  }

  private get options(): OpOptions {
    return { actor: this.actor };
  }

  /** Resolves `kuke-system` to the system realm on hosts bootstrapped by older versions. */
  private alias<T extends { realm?: string }>(value: T): T {
    return value.realm === undefined ? value : { ...value, realm: resolveRealmAlias(value.realm, viewsOf(this.engine).realms) };
  }

  async ping() {
    return { version: VERSION, pid: process.pid, headSeq: this.engine.headSeq };
  }

  async find(query: Query, options: { atSeq?: number; atTime?: string } = {}): Promise<ResourceView[]> {
    const q = this.aliasQuery(query);
    if (options.atSeq === undefined && options.atTime === undefined) return new ViewQueries(viewsOf(this.engine)).find(q);
    const untilSeq = options.atSeq ?? (await seqAtTime(this.engine.store, options.atTime!));
    // A read-only fold of the same log up to that point; the live engine is not disturbed.
    const past = await Engine.open({ store: this.engine.store, config: this.engine.config, untilSeq });
    return new ViewQueries(viewsOf(past)).find(q);
  }

  async usage(query: NamedQuery) {
    const [view] = await this.find(query);
    return usageOf(this.runtime, view!);
  }

  createRealm(input: Parameters<KukeonClient['createRealm']>[0]) {
    return this.ops.createRealm(input, this.options);
  }
  createSpace(input: Parameters<KukeonClient['createSpace']>[0]) {
    return this.ops.createSpace(this.alias(input), this.options);
  }
  createStack(input: Parameters<KukeonClient['createStack']>[0]) {
    return this.ops.createStack(this.alias(input), this.options);
  }
  createCell(input: Parameters<KukeonClient['createCell']>[0]) {
    return this.ops.createCell(this.alias(input), this.options);
  }
  apply(manifest: string, progress?: ApplyProgress) {
    return applyManifest(this.ops, manifest, this.options, progress);
  }

  async delete(target: NamedQuery, options: DeleteOptions = {}): Promise<DeleteResult> {
    const t = this.aliasQuery(target) as NamedQuery;
    switch (t.kind) {
      case 'realm':
        return this.ops.deleteRealm({ realm: resolveRealmAlias(t.name, viewsOf(this.engine).realms), ...options }, this.options);
      case 'space':
        return this.ops.deleteSpace({ realm: t.realm, space: t.name, ...options }, this.options);
      case 'stack':
        return this.ops.deleteStack({ realm: t.realm, space: t.space, stack: t.name, ...options }, this.options);
      case 'cell':
        return this.ops.deleteCell({ realm: t.realm, space: t.space, stack: t.stack, cell: t.name, keepLogs: options.keepLogs ?? false, force: options.force ?? false }, this.options);
      default:
        throw new KukeError(ErrorKind.InvalidArgument, 'containers are deleted with their cell', {
          hint: 'remove the container from the cell manifest and apply it, or delete the cell',
        });
    }
  }

  startCell(ref: CellRef) {
    return this.ops.startCell(this.alias(ref), this.options);
  }
  stopCell(ref: CellRef, options: { mode: 'stop' | 'kill'; graceMs?: number }) {
    return this.ops.stopCell(this.alias(ref), this.options, options);
  }
  restartCell(ref: CellRef, options: { graceMs?: number } = {}) {
    return this.ops.restartCell(this.alias(ref), this.options, options.graceMs);
  }

  history(key: AggregateKey, filter: HistoryFilter = {}): Promise<EventRecord[]> {
    return readHistory(this.engine.store, this.aliasKey(key), filter);
  }

  /**
   * A catch-up subscription: buffer live events, send the history, then the buffer (skipping what was sent), then
   * live events until `signal` aborts.
   */
  async watchHistory(key: AggregateKey, filter: HistoryFilter, onEvent: (record: EventRecord) => void, signal: AbortSignal): Promise<void> {
    const k = this.aliasKey(key);
    const streams = new Set(await historyStreams(this.engine.store, k));
    const childPrefix = k.kind === 'cell' ? `container/${k.realm}/${k.space}/${k.stack}/${k.cell}/` : undefined;
    const wanted = (r: EventRecord) => (streams.has(r.stream) || (childPrefix !== undefined && r.stream.startsWith(childPrefix))) && matches(r, filter);
    const buffer: EventRecord[] = [];
    let live = false;
    let last = 0;
    const send = (r: EventRecord) => {
      if (r.seq <= last) return;
      last = r.seq;
      onEvent(r);
    };
    const unsubscribe = this.engine.onRecord((r) => {
      if (!wanted(r)) return;
      if (live) send(r);
      else buffer.push(r);
    });
    try {
      for (const r of await readHistory(this.engine.store, k, filter)) send(r);
      for (const r of buffer) send(r);
      live = true;
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      unsubscribe();
    }
  }

  verifyLog() {
    return this.engine.store.verify();
  }

  // secrets (issue 11)
  putSecret(input: Parameters<KukeonClient['putSecret']>[0]) {
    const { createOnly, ...secret } = input;
    return new SecretOperations(this.engine).put(this.alias(secret), this.options, createOnly ? 'create' : 'apply');
  }
  async listSecrets(filter: SecretFilter = {}) {
    return new SecretOperations(this.engine).list(this.alias(filter));
  }
  async deleteSecret(ref: Parameters<KukeonClient['deleteSecret']>[0]) {
    await new SecretOperations(this.engine).delete(this.alias(ref), this.options);
  }

  async close(): Promise<void> {}

  // logs (issue 12)
  async logs(ref: CellRef, options: LogsOptions, onData: (chunk: Uint8Array) => void | Promise<void>, signal?: AbortSignal): Promise<void> {
    const r = this.alias(ref);
    const [cell] = (await this.find({ kind: 'cell', realm: r.realm, space: r.space, stack: r.stack, name: r.cell })) as CellView[];
    const file = logFileOf(this.engine.config.runPath, cell!, logContainer(cell!, options.container));
    if (!options.follow) return sendLog(file, options, onData, undefined, signal);
    // The cell's own events tell when it stops.
    const stream = streamOf({ kind: 'cell', ...r });
    let unsubscribe = () => {};
    const stopped = new Promise<void>((resolve) => {
      const check = () => cellAtRest(this.engine.stateOf(stream)) && resolve();
      unsubscribe = this.engine.onRecord((record) => record.stream === stream && check());
      check();
    });
    try {
      await sendLog(file, options, onData, stopped, signal);
    } finally {
      unsubscribe();
    }
  }

  private aliasQuery(query: Query): Query {
    return aliasQuery(query, viewsOf(this.engine).realms);
  }

  private aliasKey(key: AggregateKey): AggregateKey {
    if (key.kind === 'daemon') return key;
    const realms = viewsOf(this.engine).realms;
    return { ...key, realm: resolveRealmAlias(key.realm, realms) } as AggregateKey;
  }

  // exec (issue 12)
  exec(request: ExecRequest, stdio: ExecStdio) {
    return execInCell(this.engine, this.alias(request), stdio, { actor: this.actor });
  }
}
