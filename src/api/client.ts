/**
 * The client interface of the kukeon API. Two implementations: GrpcClient (talks to kukeond over its socket) and
 * InProcessClient (does the work in the calling process, for `--no-daemon`, `--run-path` and `kuke init`). The
 * CLI only ever sees this interface, and both implementations pass one shared test suite.
 */
import type { EventRecord } from '../../events/record.js';
import type { ApplyProgress, ApplyResult } from '../engine/apply.js';
import type { HistoryFilter } from '../engine/history.js';
import type { CellRef, CreateOutcome, DeleteResult, SpaceRef, StackRef } from '../engine/operations.js';
import type { Query } from '../engine/queries.js';
import type { CellTemplate } from '../../events/specs.js';
import type { CellView, RealmView, ResourceView, SecretView, SpaceView, StackView, UsageView } from '../model/resources.js';
import type { SecretInput, SecretOutcome } from '../engine/secrets.js';
import type { SecretRef } from '../runtime/ports.js';
import type { ExecRequest, ExecResult, ExecStdio } from '../engine/exec.js';
import type { AggregateKey } from '../model/streams.js';
import type { VerifyReport } from '../store/types.js';
import type { LogsOptions } from './logs.js';

export type { ApplyProgress, ApplyResult } from '../engine/apply.js';
export type { HistoryFilter } from '../engine/history.js';
export type { Query } from '../engine/queries.js';
export type { CellRef, SpaceRef, StackRef, CreateOutcome, DeleteResult } from '../engine/operations.js';
export type { SecretInput, SecretOutcome } from '../engine/secrets.js';

/** Which secrets to list: all, a realm's, a space's, or one by name (NotFound when it does not exist). */
export interface SecretFilter {
  realm?: string;
  space?: string;
  name?: string;
}
export type { ExecInput, ExecRequest, ExecResult, ExecStdio } from '../engine/exec.js';
export type { LogsOptions } from './logs.js';

/** A query that names one resource. */
export type NamedQuery = Query & { name: string };

/** Options of a delete. All optional, false by default. */
export interface DeleteOptions {
  /** Delete what the resource contains first. */
  cascade?: boolean;
  /** Delete it whatever state it is in; what cannot be removed is recorded and returned (force-delete.ts). */
  force?: boolean;
  /** Keep the container logs of the deleted cells (`kuke delete --keep-logs`). */
  keepLogs?: boolean;
}

/** The kukeon API. */
export interface KukeonClient {
  /** How requests are served. */
  readonly mode: 'daemon' | 'in-process';

  /** Daemon version, pid and log head (in-process: this process). */
  ping(): Promise<{ version: string; pid: number; headSeq: number }>;

  /** Views selected by a query; with `atSeq`/`atTime`, as they were after that event / at that time. */
  find(query: Query, options?: { atSeq?: number; atTime?: string }): Promise<ResourceView[]>;
  /** CPU and memory of a realm's, space's, stack's or cell's cgroup subtree. */
  usage(query: NamedQuery): Promise<UsageView>;

  createRealm(input: { name: string; namespace?: string; labels?: Record<string, string> }): Promise<CreateOutcome<RealmView>>;
  createSpace(input: SpaceRef & { labels?: Record<string, string> }): Promise<CreateOutcome<SpaceView>>;
  createStack(input: StackRef & { labels?: Record<string, string> }): Promise<CreateOutcome<StackView>>;
  createCell(input: CellRef & { template: CellTemplate; start?: boolean }): Promise<CreateOutcome<CellView>>;
  /**
   * Applies a multi-document manifest: all documents are validated first, then each is reported through
   * `progress.onResult` as soon as it is done. When `progress.signal` aborts, the document in progress finishes and
   * no further one is applied; the promise resolves with the outcomes received.
   */
  apply(manifest: string, progress?: ApplyProgress): Promise<ApplyResult[]>;
  /** Deletes a resource; returns what a forced delete could not remove (nothing otherwise). */
  delete(target: NamedQuery, options?: DeleteOptions): Promise<DeleteResult>;

  startCell(ref: CellRef): Promise<CellView>;
  stopCell(ref: CellRef, options: { mode: 'stop' | 'kill'; graceMs?: number }): Promise<CellView & { changed?: boolean }>;
  restartCell(ref: CellRef, options?: { graceMs?: number }): Promise<CellView>;

  /** The aggregate's events, oldest first (a cell's include its containers'). */
  history(key: AggregateKey, filter?: HistoryFilter): Promise<EventRecord[]>;
  /** History, then every new event, until `signal` aborts. */
  watchHistory(key: AggregateKey, filter: HistoryFilter, onEvent: (record: EventRecord) => void, signal: AbortSignal): Promise<void>;
  /** Checks the whole log's hash chain and contiguity. */
  verifyLog(): Promise<VerifyReport>;

  // secrets (issue 11)
  /**
   * Creates a secret (`createOnly`: one that exists with other data is AlreadyExists) or makes it hold `data`. The
   * values go to the root-only secret store; the log records only the keys and a digest.
   */
  putSecret(input: SecretInput & { createOnly?: boolean }): Promise<SecretOutcome>;
  /** Secrets in scope: names, keys and digests, never values. */
  listSecrets(filter?: SecretFilter): Promise<SecretView[]>;
  /** Deletes a secret and its stored data; refused while a cell of its space names it, unless `force`. */
  deleteSecret(ref: SecretRef & { force?: boolean }): Promise<void>;

  close(): Promise<void>;

  // exec (issue 12)
  /**
   * Runs a command in a running container of a cell (src/engine/exec.ts), relaying its stdio through `stdio` until it
   * ends; resolves with its exit code (127/126 for a command that could not be found/executed). When `stdio.signal`
   * aborts, the process is killed.
   */
  exec(request: ExecRequest, stdio: ExecStdio): Promise<ExecResult>;

  // logs (issue 12)
  /**
   * A container's output (the root's unless `options.container`), chunk by chunk to `onData`, which may return a
   * promise to slow the reads down; with `options.follow`, also what it writes until its cell stops or `signal`
   * aborts. NotFound when the cell or the container does not exist.
   */
  logs(ref: CellRef, options: LogsOptions, onData: (chunk: Uint8Array) => void | Promise<void>, signal?: AbortSignal): Promise<void>;
}
