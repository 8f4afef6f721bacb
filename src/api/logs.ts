/**
 * `Logs` (issue 12, item 1), the part both clients share: which container a request means, where its log is, and
 * when following ends. The daemon (backend.ts) and the in-process client read the same files
 * (src/runtime/logs/reader.ts); they differ only in how they learn that the cell stopped.
 */
import { runLayout } from '../engine/config.js';
import { ErrorKind, KukeError } from '../errors.js';
import { rootContainerName } from '../model/names.js';
import type { CellView } from '../model/resources.js';
import { containerLogFile } from '../runtime/logs/paths.js';
import { readLog } from '../runtime/logs/reader.js';

/** What a logs request asks for. */
export interface LogsOptions {
  /** The container's name in the cell (the manifest's id; `<cell>_root` also works); the root's when absent. */
  container?: string;
  /** Keep sending what the container writes until its cell stops (or the caller cancels). */
  follow?: boolean;
  /** Only the last `tail` lines. */
  tail?: number;
}

/**
 * Cell states in which nothing runs or is about to: following a log ends there. A cell being started (Creating) is
 * followed; so is a Ready or Degraded one whose container restarts.
 */
const AT_REST = new Set(['Absent', 'Pending', 'Stopped', 'Exited', 'Failed', 'Deleting', 'Deleted']);

/** Whether a cell in `state` has stopped, for a follower. */
export function cellAtRest(state: string): boolean {
  return AT_REST.has(state);
}

/**
 * The name (as its log file has it: `<cell>_root` for the root) of the container of `cell` that a logs request means,
 * by the cell's template, so a cell not started yet (no containers yet) has its containers' logs too: empty ones.
 * NotFound, with the names there are, when the cell has no such container.
 */
export function logContainer(cell: CellView, name: string | undefined): string {
  const root = cell.template?.root ?? cell.containers.find((c) => c.root)?.template?.name;
  const names = cell.template ? cell.template.containers.map((c) => c.name) : cell.containers.map((c) => (c.root ? (c.template?.name ?? c.name) : c.name));
  const wanted = name === undefined || name === '' || name === rootContainerName(cell.name) ? root : names.find((n) => n === name);
  if (wanted !== undefined) return wanted === root ? rootContainerName(cell.name) : wanted;
  throw new KukeError(ErrorKind.NotFound, `cell "${cell.name}" has no container "${name ?? ''}"`, {
    hint: names.length > 0 ? `its containers: ${names.join(', ')}` : 'the cell has no containers',
  });
}

/** The live log file of a container of `cell` under the run path (src/runtime/logs/paths.ts). */
export function logFileOf(runPath: string, cell: CellView, container: string): string {
  return containerLogFile(runLayout(runPath).logs, { realm: cell.realm, space: cell.space, stack: cell.stack, cell: cell.name }, container);
}

/**
 * Sends a container's log to `onData`, waiting for each call (a slow reader slows the file reads; nothing piles up).
 * With `options.follow`, until `stopped` resolves or `signal` aborts.
 */
export async function sendLog(file: string, options: LogsOptions, onData: (chunk: Uint8Array) => void | Promise<void>, stopped: Promise<unknown> | undefined, signal?: AbortSignal): Promise<void> {
  const chunks = readLog(file, { ...(options.tail !== undefined ? { tail: options.tail } : {}), ...(options.follow ? { follow: true } : {}), ...(stopped ? { until: stopped } : {}), ...(signal ? { signal } : {}) });
  for await (const chunk of chunks) {
    if (signal?.aborted) return;
    await onData(chunk);
  }
}
