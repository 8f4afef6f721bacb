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
import { checkCellPorts, type PlannedCell } from './port-check.js';
import { checkSecret, SecretOperations } from './secrets.js';

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
  // Spaces the manifest declares: an allowFrom may name one that the same manifest creates.
  const declared = docs.filter((d) => d.kind === 'Space').map((d) => `${d.realm}/${d.name}`);
  await precheck(operations, docs, declared);
  const results: ApplyResult[] = [];
  // The static addresses the manifest's cells ask for are kept from cells of earlier documents that take the first
  // free address, so that a later document does not find its own taken.
  const release = operations.reserveAddresses(docs.flatMap((d) => (d.kind === 'Cell' && d.template.ip ? [{ realm: d.realm, space: d.space, stack: d.stack, cell: d.name, ip: d.template.ip }] : [])));
  try {
    for (const doc of docs) {
      if (progress.signal?.aborted) break;
      let result: ApplyResult;
      try {
        result = await applyOne(operations, doc, options, declared);
      } catch (err) {
        const error = toKukeError(err);
        result = { index: doc.index, kind: doc.kind, name: doc.name, action: 'failed', changes: [], error: { kind: error.kind, message: error.message } };
      }
      results.push(result);
      progress.onResult?.(result);
    }
  } finally {
    release();
  }
  // In the order applied (dependency order), which is how they are reported.
  return results;
}

async function applyOne(operations: Operations, doc: Manifest, options: OpOptions, declared: string[]): Promise<ApplyResult> {
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
      const { action, changes } = await operations.applySpace({ realm: doc.realm, space: doc.name, labels: doc.labels, allowFrom: doc.allowFrom }, options, declared);
      return { ...base, action, changes };
    }
    case 'Stack': {
      const { created } = await operations.createStack({ realm: doc.realm, space: doc.space, stack: doc.name, labels: doc.labels }, options);
      return { ...base, action: created ? 'created' : 'unchanged' };
    }
    case 'Secret': {
      // Its realm and space are created when missing, as a cell's are: a manifest of a secret and the cell that uses it
      // works on a fresh host.
      await operations.createRealm({ name: doc.realm }, options);
      await operations.createSpace({ realm: doc.realm, space: doc.space }, options);
      const { action } = await new SecretOperations(operations.engine).put({ realm: doc.realm, space: doc.space, name: doc.name, data: doc.data, labels: doc.labels }, options, 'apply');
      return { ...base, action, changes: action === 'updated' ? ['data or labels changed'] : [] };
    }
    case 'Cell': {
      await ensureParents(operations, doc, options);
      const { action, changes } = await operations.applyCell({ realm: doc.realm, space: doc.space, stack: doc.stack, cell: doc.name, template: doc.template }, options);
      return { ...base, action, changes };
    }
    case 'Container': {
      const ref = cellOf(doc);
      const template = withContainer(operations.getCell(ref).template!, doc);
      const { action, changes } = await operations.applyCell({ ...ref, template }, options);
      return { ...base, action, changes };
    }
  }
}

function cellOf(doc: Extract<Manifest, { kind: 'Container' }>) {
  return { realm: doc.realm, space: doc.space, stack: doc.stack, cell: doc.cell };
}

/** A cell's template with a Container document's container added, or replacing the one of that name in place. */
function withContainer(current: CellTemplate, doc: Extract<Manifest, { kind: 'Container' }>): CellTemplate {
  const others = current.containers.filter((c) => c.name !== doc.container.name);
  // A new container goes last (findIndex -1 sorts first, so it is ranked past the end instead).
  const rank = (name: string) => {
    const i = current.containers.findIndex((c) => c.name === name);
    return i < 0 ? current.containers.length : i;
  };
  return {
    ...current,
    root: doc.root ? doc.container.name : current.root,
    containers: [...others, doc.container].sort((a, b) => rank(a.name) - rank(b.name)),
  };
}

/**
 * Runs, for every document, the checks its operation would make before appending (names against containerd's and
 * the CNI's limits, the namespace against this install's suffix, labels, the cell template), so that a manifest one
 * of them would refuse changes nothing. Throws the first refusal, naming the document. A Container document is
 * checked as the template its cell will have once it is applied: the cell's as written by a Cell document before it,
 * else the stored one, with the earlier Container documents of that cell merged in. A Container document whose cell
 * does not exist is left to fail on its own when applied, as a Space whose realm is missing does.
 */
async function precheck(operations: Operations, docs: Manifest[], declared: string[]): Promise<void> {
  /** Templates of cells as the documents checked so far leave them, by cell stream. */
  const planned = new Map<string, CellTemplate>();
  const cellKey = (c: { realm: string; space: string; stack: string; cell: string }) => JSON.stringify([c.realm, c.space, c.stack, c.cell]);
  const storedTemplate = (doc: Extract<Manifest, { kind: 'Container' }>): CellTemplate | undefined => {
    try {
      return operations.getCell(cellOf(doc)).template ?? undefined;
    } catch (err) {
      if (toKukeError(err).kind === ErrorKind.NotFound) return undefined;
      throw err;
    }
  };
  for (const doc of docs) {
    try {
      switch (doc.kind) {
        case 'Realm':
          operations.checkRealm({ name: doc.name, labels: doc.labels, ...(doc.namespace ? { namespace: doc.namespace } : {}) });
          break;
        case 'Space':
          operations.checkSpace({ realm: doc.realm, space: doc.name, labels: doc.labels, allowFrom: doc.allowFrom }, declared);
          break;
        case 'Stack':
          operations.checkStack({ realm: doc.realm, space: doc.space, stack: doc.name, labels: doc.labels });
          break;
        case 'Secret':
          operations.checkRealm({ name: doc.realm });
          operations.checkSpace({ realm: doc.realm, space: doc.space });
          checkSecret({ realm: doc.realm, space: doc.space, name: doc.name, data: doc.data, labels: doc.labels });
          break;
        case 'Cell':
          // Its realm, space and stack are created when missing (ensureParents).
          operations.checkRealm({ name: doc.realm });
          operations.checkSpace({ realm: doc.realm, space: doc.space });
          operations.checkStack({ realm: doc.realm, space: doc.space, stack: doc.stack });
          operations.checkCell({ realm: doc.realm, space: doc.space, stack: doc.stack, cell: doc.name, template: doc.template });
          checkPlannedAddress({ ...doc, cell: doc.name }, doc.template, plannedCells(planned));
          await checkCellPorts(operations.engine, { ...doc, cell: doc.name }, doc.template, plannedCells(planned));
          planned.set(cellKey({ ...doc, cell: doc.name }), doc.template);
          break;
        case 'Container': {
          const current = planned.get(cellKey(doc)) ?? storedTemplate(doc);
          if (!current) break;
          const template = withContainer(current, doc);
          operations.checkCell({ ...cellOf(doc), template });
          await checkCellPorts(operations.engine, cellOf(doc), template, plannedCells(planned));
          planned.set(cellKey(doc), template);
          break;
        }
      }
    } catch (err) {
      const error = toKukeError(err);
      throw new KukeError(error.kind, `document ${doc.index} (${doc.kind} "${doc.name}"): ${error.message}`, { cause: error, hint: 'nothing was changed' });
    }
  }
}

/** Refuses a static address an earlier document of the manifest already asks for in the same space. */
function checkPlannedAddress(ref: PlannedCell['ref'], template: CellTemplate, planned: PlannedCell[]): void {
  if (template.ip === undefined) return;
  const other = planned.find((p) => p.ref.realm === ref.realm && p.ref.space === ref.space && (p.ref.stack !== ref.stack || p.ref.cell !== ref.cell) && p.template.ip === template.ip);
  if (other) {
    throw new KukeError(ErrorKind.AlreadyExists, `cell "${ref.cell}": ip ${template.ip} is also asked for by cell "${other.ref.cell}" (stack "${other.ref.stack}") earlier in this manifest`, {
      hint: 'give each cell its own address, or leave ip out to get a free one',
    });
  }
}

/** The cells `precheck` has planned so far (keys are JSON of [realm, space, stack, cell]), for the port checks. */
function plannedCells(planned: Map<string, CellTemplate>): PlannedCell[] {
  return [...planned].map(([key, template]) => {
    const [realm, space, stack, cell] = JSON.parse(key) as [string, string, string, string];
    return { ref: { realm, space, stack, cell }, template };
  });
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
