/**
 * `kuke apply`: make the declared resources exist as written. Every document is validated before anything changes
 * (parseManifests); then they are applied in dependency order, each reported as created, updated, unchanged or
 * failed as soon as it is done. A failure does not stop the others; the caller decides the exit status. An abort
 * (the client went away, Ctrl-C in-process) lets the document in progress finish and applies no further one.
 */
import type { CellTemplate } from '../../events/specs.js';
import { ErrorKind, KukeError, toKukeError } from '../errors.js';
import { parseManifests, type Manifest } from '../model/manifest.js';
import type { OpOptions, Operations } from './operations.js';

/** The outcome of one document. */
export interface ApplyResult {
  /** 1-based index of the document in the input. */
  index: number;
  kind: Manifest['kind'];
  name: string;
  action: 'created' | 'updated' | 'unchanged' | 'failed';
  changes: string[];
  error?: { kind: string; message: string };
}

/** How an apply reports and stops. */
export interface ApplyProgress {
  /** Called with each document's outcome as soon as it is done, in the order applied. */
  onResult?: (result: ApplyResult) => void;
  /** Checked before each document: once aborted, no further document is applied. */
  signal?: AbortSignal;
}

/**
 * Parses (all or nothing) and applies a manifest. Throws InvalidArgument before any change if a document is bad.
 * Returns the outcomes of the documents applied (all of them unless `progress.signal` aborted).
 */
export async function applyManifest(operations: Operations, text: string, options: OpOptions, progress: ApplyProgress = {}): Promise<ApplyResult[]> {
  const docs = parseManifests(text);
  precheck(operations, docs);
  const results: ApplyResult[] = [];
  for (const doc of docs) {
    if (progress.signal?.aborted) break;
    let result: ApplyResult;
    try {
      result = await applyOne(operations, doc, options);
    } catch (err) {
      const error = toKukeError(err);
      result = { index: doc.index, kind: doc.kind, name: doc.name, action: 'failed', changes: [], error: { kind: error.kind, message: error.message } };
    }
    results.push(result);
    progress.onResult?.(result);
  }
  // In the order applied (dependency order), which is how they are reported.
  return results;
}

async function applyOne(operations: Operations, doc: Manifest, options: OpOptions): Promise<ApplyResult> {
  const base = { index: doc.index, kind: doc.kind, name: doc.name, changes: [] as string[] };
  switch (doc.kind) {
    case 'Realm': {
      const before = operations.listRealms().find((r) => r.name === doc.name);
      if (before && doc.namespace && before.namespace !== doc.namespace) {
        throw breaking('realm', doc.name, [`namespace ${before.namespace} → ${doc.namespace}`]);
      }
      const { created } = await operations.createRealm({ name: doc.name, labels: doc.labels, ...(doc.namespace ? { namespace: doc.namespace } : {}) }, options);
      return { ...base, action: created ? 'created' : 'unchanged' };
    }
    case 'Space': {
      const { created } = await operations.createSpace({ realm: doc.realm, space: doc.name, labels: doc.labels }, options);
      return { ...base, action: created ? 'created' : 'unchanged' };
    }
    case 'Stack': {
      const { created } = await operations.createStack({ realm: doc.realm, space: doc.space, stack: doc.name, labels: doc.labels }, options);
      return { ...base, action: created ? 'created' : 'unchanged' };
    }
    case 'Cell': {
      await ensureParents(operations, doc, options);
      const { action, changes } = await operations.applyCell({ realm: doc.realm, space: doc.space, stack: doc.stack, cell: doc.name, template: doc.template }, options);
      return { ...base, action, changes };
    }
    case 'Container': {
      const ref = { realm: doc.realm, space: doc.space, stack: doc.stack, cell: doc.cell };
      const cell = operations.getCell(ref);
      const current = cell.template!;
      const others = current.containers.filter((c) => c.name !== doc.container.name);
      const template: CellTemplate = {
        ...current,
        root: doc.root ? doc.container.name : current.root,
        containers: [...others, doc.container].sort((a, b) => current.containers.findIndex((c) => c.name === a.name) - current.containers.findIndex((c) => c.name === b.name)),
      };
      const { action, changes } = await operations.applyCell({ ...ref, template }, options);
      return { ...base, action, changes };
    }
  }
}

/**
 * Runs, for every document, the checks its operation would make before appending (names against containerd's and
 * the CNI's limits, the namespace against this install's suffix, labels, the cell template), so that a manifest one
 * of them would refuse changes nothing. Throws the first refusal, naming the document. A Container document is
 * checked when applied: its cell's template is only known then.
 */
function precheck(operations: Operations, docs: Manifest[]): void {
  for (const doc of docs) {
    try {
      switch (doc.kind) {
        case 'Realm':
          operations.checkRealm({ name: doc.name, labels: doc.labels, ...(doc.namespace ? { namespace: doc.namespace } : {}) });
          break;
        case 'Space':
          operations.checkSpace({ realm: doc.realm, space: doc.name, labels: doc.labels });
          break;
        case 'Stack':
          operations.checkStack({ realm: doc.realm, space: doc.space, stack: doc.name, labels: doc.labels });
          break;
        case 'Cell':
          // Its realm, space and stack are created when missing (ensureParents).
          operations.checkRealm({ name: doc.realm });
          operations.checkSpace({ realm: doc.realm, space: doc.space });
          operations.checkStack({ realm: doc.realm, space: doc.space, stack: doc.stack });
          operations.checkCell({ realm: doc.realm, space: doc.space, stack: doc.stack, cell: doc.name, template: doc.template });
          break;
        case 'Container':
          break;
      }
    } catch (err) {
      const error = toKukeError(err);
      throw new KukeError(error.kind, `document ${doc.index} (${doc.kind} "${doc.name}"): ${error.message}`, { cause: error, hint: 'nothing was changed' });
    }
  }
}

/** A cell's realm, space and stack are created when missing, as the original does. */
async function ensureParents(operations: Operations, doc: Extract<Manifest, { kind: 'Cell' }>, options: OpOptions): Promise<void> {
  await operations.createRealm({ name: doc.realm }, options);
  await operations.createSpace({ realm: doc.realm, space: doc.space }, options);
  await operations.createStack({ realm: doc.realm, space: doc.space, stack: doc.stack }, options);
}

/** A change apply cannot make in place: the user's to resolve (not a bug, so not Internal). */
function breaking(kind: string, name: string, changes: string[]): KukeError {
  return new KukeError(ErrorKind.FailedPrecondition, `${kind} "${name}" has breaking changes: [${changes.join(', ')}]. Delete the ${kind} and recreate it with the new spec`);
}
