/**
 * History: the events of one aggregate, oldest first, straight from the log. A cell's history includes its
 * containers' events; the daemon cell's also includes the daemon's own starts and stops (stream daemon/kukeond),
 * so `kuke history cell kukeond …` tells the daemon's whole life.
 */
import type { EventRecord } from '../../events/record.js';
import { LEGACY_SYSTEM_REALM, SYSTEM_CELL, SYSTEM_REALM, SYSTEM_SPACE, SYSTEM_STACK } from '../model/names.js';
import { DAEMON_STREAM, childPrefix, streamOf, type AggregateKey } from '../model/streams.js';
import type { EventStore } from '../store/types.js';

/** Filters of a history query. */
export interface HistoryFilter {
  /** Only events with seq ≥ this. */
  sinceSeq?: number;
  /** Only events recorded at or after this ISO time. */
  sinceTime?: string;
}

/** Whether a key is the daemon's own cell. */
export function isDaemonCell(key: AggregateKey): boolean {
  return (
    key.kind === 'cell' &&
    (key.realm === SYSTEM_REALM || key.realm === LEGACY_SYSTEM_REALM) &&
    key.space === SYSTEM_SPACE &&
    key.stack === SYSTEM_STACK &&
    key.cell === SYSTEM_CELL
  );
}

/** The streams whose events make up an aggregate's history. */
export async function historyStreams(store: EventStore, key: AggregateKey): Promise<string[]> {
  const streams = [streamOf(key)];
  if (key.kind === 'cell') {
    streams.push(...(await store.listStreams(childPrefix(key)!)));
    if (isDaemonCell(key)) streams.push(DAEMON_STREAM);
  }
  return streams;
}

/** Whether a record passes the filter. */
export function matches(record: EventRecord, filter: HistoryFilter): boolean {
  if (filter.sinceSeq !== undefined && record.seq < filter.sinceSeq) return false;
  if (filter.sinceTime !== undefined && record.at < filter.sinceTime) return false;
  return true;
}

/** The aggregate's events (and its children's), oldest first. */
export async function readHistory(store: EventStore, key: AggregateKey, filter: HistoryFilter = {}): Promise<EventRecord[]> {
  const streams = await historyStreams(store, key);
  const records = await store.readStreams(streams, filter.sinceSeq !== undefined ? { fromSeq: filter.sinceSeq } : {});
  return records.filter((r) => matches(r, filter));
}

/** The seq of the last event recorded at or before `time` (0 if none): the point `--at <time>` folds up to. */
export async function seqAtTime(store: EventStore, time: string): Promise<number> {
  let seq = 0;
  for await (const batch of store.readAll()) {
    for (const record of batch) {
      if (record.at > time) return seq;
      seq = record.seq;
    }
  }
  return seq;
}
