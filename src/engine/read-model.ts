/**
 * The on-disk read model: one JSON document per realm, space, stack and cell (a cell's document embeds its
 * containers) under `<run path>/model/`, written atomically (temp file + rename) after the engine applies events.
 * It lets `kuke get --no-daemon` read while kukeond holds the event log's lock. Disposable: the daemon rewrites
 * it from its projection at start.
 *
 *   model/
 *     head.json                          { seq, at }
 *     realms/<realm>.json                RealmView
 *     spaces/<realm>/<space>.json        SpaceView
 *     stacks/<realm>/<space>/<stack>.json
 *     cells/<realm>/<space>/<stack>/<cell>.json   CellView (containers inside)
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isGone } from '../../machines/index.js';
import type { EventRecord } from '../../events/record.js';
import { ErrorKind, KukeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CellView, RealmView, SpaceView, StackView } from '../model/resources.js';
import { streamOf, type AggregateKey } from '../model/streams.js';
import type { Aggregate, Engine } from './engine.js';
import type { ViewSet } from './queries.js';
import { cellView, realmView, spaceView, stackView } from './views.js';

/** The document path of the view that an aggregate contributes to (a container belongs to its cell's document). */
function documentOf(root: string, key: AggregateKey): { path: string; stream: string } | undefined {
  switch (key.kind) {
    case 'realm':
      return { path: join(root, 'realms', `${key.realm}.json`), stream: streamOf(key) };
    case 'space':
      return { path: join(root, 'spaces', key.realm, `${key.space}.json`), stream: streamOf(key) };
    case 'stack':
      return { path: join(root, 'stacks', key.realm, key.space, `${key.stack}.json`), stream: streamOf(key) };
    case 'cell':
      return { path: join(root, 'cells', key.realm, key.space, key.stack, `${key.cell}.json`), stream: streamOf(key) };
    case 'container': {
      const cell: AggregateKey = { kind: 'cell', realm: key.realm, space: key.space, stack: key.stack, cell: key.cell };
      return documentOf(root, cell);
    }
    default:
      return undefined;
  }
}

function writeAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  } catch (err) {
    // A half-written temp file (disk full) would only take more space.
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** How soon a read model that could not be written (a full disk) is tried again, without waiting for an event. */
const RETRY_MS = 5_000;

/** Keeps the on-disk read model in step with an engine. */
export class ReadModelWriter {
  private readonly dirty = new Map<string, string>(); // path → stream
  private scheduled = false;
  private retry: NodeJS.Timeout | undefined;
  private failing = false;
  private head: { seq: number; at: string } = { seq: 0, at: '' };
  private engine: Engine | undefined;

  constructor(
    readonly root: string,
    private readonly logger?: Logger,
    private readonly options: { retryMs?: number } = {},
  ) {}

  /** Attaches to an engine and rewrites every document from its projection. */
  attach(engine: Engine): void {
    this.engine = engine;
    rmSync(this.root, { recursive: true, force: true });
    // Root-only, like the log it is folded from (private-dirs.ts).
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    for (const agg of engine.all()) this.mark(agg);
    this.head = { seq: engine.headSeq, at: new Date().toISOString() };
    this.flush();
  }

  /** To be called after each applied event (EngineOptions.onApplied). */
  readonly onApplied = (agg: Aggregate, record: EventRecord): void => {
    this.mark(agg);
    this.head = { seq: record.seq, at: record.at };
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  };

  /** Writes pending documents now. */
  flush(): void {
    this.scheduled = false;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    const engine = this.engine;
    if (!engine) return;
    try {
      for (const [path, stream] of this.dirty) {
        const agg = engine.get(stream);
        if (!agg || isGone(String(agg.snapshot.value))) rmSync(path, { force: true });
        else writeAtomic(path, this.viewOf(engine, agg));
        this.dirty.delete(path);
      }
      writeAtomic(join(this.root, 'head.json'), this.head);
      if (this.failing) this.logger?.info({ root: this.root }, 'the read model is written again');
      this.failing = false;
    } catch (err) {
      // The read model is a convenience: a failure here must not stop the engine. What is still dirty is written
      // by the next flush; the timer makes one happen even if no event comes (and unref lets the process exit).
      if (!this.failing) this.logger?.warn({ err, root: this.root }, 'could not write the read model; retrying every 5 s');
      this.failing = true;
      this.retry = setTimeout(() => this.flush(), this.options.retryMs ?? RETRY_MS).unref();
    }
  }

  private mark(agg: Aggregate): void {
    const doc = documentOf(this.root, agg.key);
    if (doc) this.dirty.set(doc.path, doc.stream);
  }

  private viewOf(engine: Engine, agg: Aggregate): RealmView | SpaceView | StackView | CellView {
    switch (agg.kind) {
      case 'realm':
        return realmView(agg);
      case 'space':
        return spaceView(agg);
      case 'stack':
        return stackView(agg);
      default:
        return cellView(engine, agg);
    }
  }
}

function readTree<T>(dir: string): T[] {
  const out: T[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...readTree<T>(path));
    else if (entry.isFile() && entry.name.endsWith('.json')) out.push(JSON.parse(readFileSync(path, 'utf8')) as T);
  }
  return out;
}

/** Loads every view from the on-disk read model. NotFound if there is none (the host is not initialised). */
export function loadReadModel(root: string): ViewSet & { head: { seq: number; at: string } } {
  let head: { seq: number; at: string };
  try {
    head = JSON.parse(readFileSync(join(root, 'head.json'), 'utf8')) as { seq: number; at: string };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KukeError(ErrorKind.NotFound, `no read model at ${root}`, { hint: 'is this host initialised? run: sudo kuke init' });
    }
    throw new KukeError(ErrorKind.DataLoss, `read model at ${root} is unreadable: ${(err as Error).message}`, {
      hint: 'restart kukeond to rewrite it from the event log',
    });
  }
  return {
    head,
    realms: readTree<RealmView>(join(root, 'realms')),
    spaces: readTree<SpaceView>(join(root, 'spaces')),
    stacks: readTree<StackView>(join(root, 'stacks')),
    cells: readTree<CellView>(join(root, 'cells')),
  };
}

/** The views of an engine's live projection. */
export function viewsOf(engine: Engine): ViewSet {
  const live = (prefix: string) => engine.list(prefix, { live: true });
  return {
    realms: live('realm/').map(realmView),
    spaces: live('space/').map(spaceView),
    stacks: live('stack/').map(stackView),
    cells: live('cell/').map((a) => cellView(engine, a)),
  };
}
