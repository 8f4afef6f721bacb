/**
 * The store's layout version and its migrations, oldest first. A migration rewrites derived rows (indexes,
 * metadata), never a record: records are the truth and stay as written. Each migration has a test.
 */
import type { ClassicLevel } from 'classic-level';
import { ErrorKind, KukeError } from '../errors.js';

/** The layout this code writes. */
export const STORE_SCHEMA_VERSION = 1;

/** One step from `from` to `from + 1`. */
export interface Migration {
  from: number;
  why: string;
  run(db: ClassicLevel<string, string>): Promise<void>;
}

/**
 * Ordered migrations. Version 0 is a log written before `meta!schema` existed: same layout, so the step only
 * records the version.
 */
export const MIGRATIONS: Migration[] = [
  {
    from: 0,
    why: 'logs from before the schema row: identical layout, record the version',
    run: async () => undefined,
  },
];

/** Brings an open database to {@link STORE_SCHEMA_VERSION}; refuses a newer layout. */
export async function migrate(db: ClassicLevel<string, string>, dir: string, migrations: Migration[] = MIGRATIONS, target = STORE_SCHEMA_VERSION): Promise<number> {
  const row = await db.get('meta!schema');
  let version = row ? (JSON.parse(row) as { version: number }).version : 0;
  if (version > target) {
    throw new KukeError(ErrorKind.FailedPrecondition, `event log ${dir} has layout version ${version}, newer than this kukeon understands (${target})`, {
      hint: 'run the kukeon version that wrote it, or upgrade this one',
    });
  }
  while (version < target) {
    const step = migrations.find((m) => m.from === version);
    if (!step) throw new KukeError(ErrorKind.Internal, `no migration from event log layout ${version}`);
    await step.run(db);
    version++;
    await db.put('meta!schema', JSON.stringify({ version }), { sync: true });
  }
  return version;
}
