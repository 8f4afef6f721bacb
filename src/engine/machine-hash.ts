/**
 * A fingerprint of what a fold depends on: the machine's definition and version, and the event catalogue's
 * current versions. Snapshots taken under another fingerprint are not trusted: the log is folded again.
 */
import { createHash } from 'node:crypto';
import { EVENT_CATALOG } from '../../events/catalog.js';
import { AGGREGATES, type AggregateKind } from '../../machines/index.js';

const cache = new Map<AggregateKind, string>();

/** The fingerprint of a kind's machine (cached per process). */
export function machineHash(kind: AggregateKind): string {
  let hash = cache.get(kind);
  if (!hash) {
    const def = AGGREGATES[kind];
    const catalog = Object.entries(EVENT_CATALOG).map(([type, d]) => `${type}@${d.versions.length}`);
    hash = createHash('sha256')
      .update(`${kind}\n${def.version}\n${JSON.stringify(def.machine.definition)}\n${catalog.join(',')}`)
      .digest('hex')
      .slice(0, 16);
    cache.set(kind, hash);
  }
  return hash;
}
