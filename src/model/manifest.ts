/**
 * Manifests: multi-document YAML in the original Kukeon's `v1beta1` format (kinds Realm, Space, Stack, Cell,
 * Container), parsed and validated as a whole before anything changes, then normalised into the shapes the
 * engine records (events/specs.ts) and sorted in dependency order.
 *
 * @example
 * const docs = parseManifests(readFileSync('cell.yaml', 'utf8'));   // throws InvalidArgument naming the document
 * for (const doc of docs) console.log(doc.kind, doc.name);
 */
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { CellTemplateSchema, type CellTemplate, type ContainerTemplate } from '../../events/specs.js';
import { ErrorKind, KukeError } from '../errors.js';
import { nameProblem } from './names.js';

/** The only apiVersion (an empty one means it too). */
export const API_VERSION = 'v1beta1';
/** Kinds in dependency order (apply uses it; delete -f the reverse). */
export const KINDS = ['Realm', 'Space', 'Stack', 'Cell', 'Container'] as const;
export type ManifestKind = (typeof KINDS)[number];

const name = z.string().superRefine((value, ctx) => {
  const problem = nameProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `invalid name ${JSON.stringify(value)}: ${problem}` });
});
const labels = z.record(z.string(), z.string()).default({});
const metadata = z.object({ name, labels, annotations: z.record(z.string(), z.string()).optional() }).passthrough();

const volume = z.object({
  kind: z.enum(['bind', 'tmpfs']).default('bind'),
  source: z.string().optional(),
  target: z.string().startsWith('/', 'must be an absolute path'),
  readOnly: z.boolean().optional(),
});
const resources = z
  .object({
    memoryLimitBytes: z.number().int().positive().optional(),
    cpuShares: z.number().int().min(2).max(262144).optional(),
    cpuQuotaUs: z.number().int().positive().optional(),
    cpuPeriodUs: z.number().int().positive().optional(),
    pidsLimit: z.number().int().positive().optional(),
  })
  .strict();
const containerFields = z
  .object({
    id: name,
    image: z.string().min(1, 'is required'),
    root: z.boolean().optional(),
    command: z.union([z.string(), z.array(z.string())]).optional(),
    args: z.array(z.string()).default([]),
    env: z.array(z.string().regex(/^[^=\0]+=[^\0]*$/, 'entries must be KEY=VALUE')).default([]),
    workingDir: z.string().startsWith('/', 'must be an absolute path').optional(),
    privileged: z.boolean().default(false),
    hostNetwork: z.boolean().default(false),
    hostPID: z.boolean().default(false),
    volumes: z.array(volume).default([]),
    resources: resources.default({}),
    restartPolicy: z.enum(['', 'never', 'always', 'on-failure']).default(''),
    restartBackoffSeconds: z.number().int('must be a whole number of seconds').min(0, 'must be 0 or more').optional(),
    restartMaxRetries: z.number().int('must be a whole number').min(1, 'must be at least 1').optional(),
  })
  .passthrough();

/** The restart knobs only mean something with a policy that restarts. */
function restartRules(c: { restartPolicy: string; restartBackoffSeconds?: number | undefined; restartMaxRetries?: number | undefined }, ctx: z.RefinementCtx): void {
  const policy = c.restartPolicy === '' ? 'never' : c.restartPolicy;
  if (c.restartBackoffSeconds !== undefined && policy === 'never') {
    ctx.addIssue({ code: 'custom', path: ['restartBackoffSeconds'], message: 'needs restartPolicy always or on-failure' });
  }
  if (c.restartMaxRetries !== undefined && policy !== 'on-failure') {
    ctx.addIssue({ code: 'custom', path: ['restartMaxRetries'], message: 'needs restartPolicy on-failure' });
  }
}
const container = containerFields.superRefine(restartRules);

const realmDoc = z.object({ metadata, spec: z.object({ namespace: z.string().min(1).optional() }).passthrough().default({}) });
const spaceDoc = z.object({ metadata, spec: z.object({ realmId: name }).passthrough() });
const stackDoc = z.object({ metadata, spec: z.object({ realmId: name, spaceId: name }).passthrough() });
const cellSpec = z
  .object({
    id: name.optional(),
    realmId: name,
    spaceId: name,
    stackId: name,
    rootContainerId: name.optional(),
    containers: z.array(container).min(1, 'must list at least one container'),
  })
  .passthrough();
const cellDoc = z.object({ metadata, spec: cellSpec });
const containerDoc = z.object({
  metadata,
  spec: containerFields.extend({ id: name.optional(), realmId: name, spaceId: name, stackId: name, cellId: name }).superRefine(restartRules),
});

/** A validated, normalised document. */
export type Manifest =
  | { kind: 'Realm'; index: number; name: string; labels: Record<string, string>; namespace?: string }
  | { kind: 'Space'; index: number; name: string; labels: Record<string, string>; realm: string }
  | { kind: 'Stack'; index: number; name: string; labels: Record<string, string>; realm: string; space: string }
  | { kind: 'Cell'; index: number; name: string; realm: string; space: string; stack: string; template: CellTemplate }
  | { kind: 'Container'; index: number; name: string; realm: string; space: string; stack: string; cell: string; container: ContainerTemplate; root: boolean };

type ContainerInput = z.infer<typeof container>;

function toTemplate(c: ContainerInput): ContainerTemplate {
  const command = c.command === undefined ? [] : typeof c.command === 'string' ? [c.command] : c.command;
  return {
    name: c.id,
    image: c.image,
    command,
    args: c.args,
    env: c.env,
    ...(c.workingDir ? { workingDir: c.workingDir } : {}),
    privileged: c.privileged,
    hostNetwork: c.hostNetwork,
    hostPid: c.hostPID,
    mounts: c.volumes.map((v) => ({
      type: v.kind,
      target: v.target,
      ...(v.source !== undefined ? { source: v.source } : {}),
      ...(v.readOnly !== undefined ? { readOnly: v.readOnly } : {}),
    })),
    resources: {
      ...(c.resources.memoryLimitBytes ? { memoryBytes: c.resources.memoryLimitBytes } : {}),
      ...(c.resources.cpuShares ? { cpuShares: c.resources.cpuShares } : {}),
      ...(c.resources.cpuQuotaUs ? { cpuQuotaUs: c.resources.cpuQuotaUs } : {}),
      ...(c.resources.cpuPeriodUs ? { cpuPeriodUs: c.resources.cpuPeriodUs } : {}),
      ...(c.resources.pidsLimit ? { pidsMax: c.resources.pidsLimit } : {}),
    },
    restartPolicy: c.restartPolicy === '' ? 'never' : c.restartPolicy,
    ...(c.restartBackoffSeconds !== undefined ? { restartBackoffSeconds: c.restartBackoffSeconds } : {}),
    ...(c.restartMaxRetries !== undefined ? { restartMaxRetries: c.restartMaxRetries } : {}),
  };
}

/**
 * The root container of a cell: `rootContainerId`, else the one marked `root: true`, else the first. More than
 * one `root: true`, or a `rootContainerId` that names no container, is an error.
 */
function rootOf(spec: z.infer<typeof cellSpec>): string {
  const marked = spec.containers.filter((c) => c.root === true).map((c) => c.id);
  if (marked.length > 1) throw new Error(`only one container may have root: true (found ${marked.join(', ')})`);
  if (spec.rootContainerId) {
    if (!spec.containers.some((c) => c.id === spec.rootContainerId)) throw new Error(`rootContainerId "${spec.rootContainerId}" names no container`);
    if (marked.length === 1 && marked[0] !== spec.rootContainerId) throw new Error(`rootContainerId "${spec.rootContainerId}" disagrees with root: true on "${marked[0]}"`);
    return spec.rootContainerId;
  }
  return marked[0] ?? spec.containers[0]!.id;
}

function zodProblem(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.join('.');
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return `${path} is required`;
  return path ? `${path}: ${issue.message}` : issue.message;
}

function parseOne(raw: unknown, index: number): Manifest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('is not a mapping');
  const doc = raw as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
  const apiVersion = doc.apiVersion ?? '';
  if (apiVersion !== '' && apiVersion !== API_VERSION) throw new Error(`unsupported apiVersion ${JSON.stringify(apiVersion)} (only ${API_VERSION})`);
  if (typeof doc.kind !== 'string' || !(KINDS as readonly string[]).includes(doc.kind)) {
    throw new Error(`unknown kind ${JSON.stringify(doc.kind ?? null)} (expected one of ${KINDS.join(', ')})`);
  }
  const kind = doc.kind as ManifestKind;
  const parse = <T extends z.ZodType>(schema: T): z.infer<T> => {
    const result = schema.safeParse(raw);
    if (!result.success) throw new Error(zodProblem(result.error));
    return result.data;
  };
  switch (kind) {
    case 'Realm': {
      const d = parse(realmDoc);
      return { kind, index, name: d.metadata.name, labels: d.metadata.labels, ...(d.spec.namespace ? { namespace: d.spec.namespace } : {}) };
    }
    case 'Space': {
      const d = parse(spaceDoc);
      return { kind, index, name: d.metadata.name, labels: d.metadata.labels, realm: d.spec.realmId };
    }
    case 'Stack': {
      const d = parse(stackDoc);
      return { kind, index, name: d.metadata.name, labels: d.metadata.labels, realm: d.spec.realmId, space: d.spec.spaceId };
    }
    case 'Cell': {
      const d = parse(cellDoc);
      if (d.spec.id && d.spec.id !== d.metadata.name) throw new Error(`spec.id "${d.spec.id}" differs from metadata.name "${d.metadata.name}"`);
      const ids = d.spec.containers.map((c) => c.id);
      const dup = ids.find((id, i) => ids.indexOf(id) !== i);
      if (dup) throw new Error(`container id "${dup}" appears twice`);
      const root = rootOf(d.spec);
      const rootTemplate = d.spec.containers.find((c) => c.id === root)!;
      if (!rootTemplate.hostNetwork && d.spec.containers.some((c) => c.hostNetwork)) {
        throw new Error('a container with hostNetwork needs a host-network root container (the root owns the cell network)');
      }
      const template = CellTemplateSchema.parse({ root, containers: d.spec.containers.map(toTemplate), labels: d.metadata.labels });
      return { kind, index, name: d.metadata.name, realm: d.spec.realmId, space: d.spec.spaceId, stack: d.spec.stackId, template };
    }
    case 'Container': {
      const d = parse(containerDoc);
      const id = d.spec.id ?? d.metadata.name;
      return {
        kind,
        index,
        name: id,
        realm: d.spec.realmId,
        space: d.spec.spaceId,
        stack: d.spec.stackId,
        cell: d.spec.cellId,
        container: toTemplate({ ...d.spec, id }),
        root: d.spec.root === true,
      };
    }
  }
}

/**
 * Parses and validates every document of a YAML stream, in dependency order (stable within a kind). Throws
 * InvalidArgument on the first problem, naming the document: `document 2 (Cell "web"): spec.stackId is required`.
 */
export function parseManifests(text: string): Manifest[] {
  const docs = parseAllDocuments(text);
  const out: Manifest[] = [];
  let index = 0;
  for (const doc of docs) {
    index++;
    if (doc.errors.length > 0) {
      const err = doc.errors[0]!;
      throw new KukeError(ErrorKind.InvalidArgument, `document ${index}: invalid YAML: ${err.message.split('\n')[0]}`, {
        hint: 'fix the YAML syntax (indentation, quoting) and apply again',
      });
    }
    const raw = doc.toJS() as unknown;
    if (raw === null || raw === undefined) continue;
    try {
      out.push(parseOne(raw, index));
    } catch (err) {
      const r = raw as { kind?: unknown; metadata?: { name?: unknown } };
      const label = typeof r.kind === 'string' ? ` (${r.kind}${typeof r.metadata?.name === 'string' ? ` "${r.metadata.name}"` : ''})` : '';
      throw new KukeError(ErrorKind.InvalidArgument, `document ${index}${label}: ${(err as Error).message}`, {
        hint: 'nothing was changed; fix the document and apply again',
      });
    }
  }
  if (out.length === 0) throw new KukeError(ErrorKind.InvalidArgument, 'no documents found in input', { hint: 'pass a file with at least one Realm, Space, Stack, Cell or Container document' });
  return out.sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || a.index - b.index);
}
