/**
 * Manifests: multi-document YAML in the original Kukeon's `v1beta1` format (kinds Realm, Space, Stack, Cell,
 * Container), parsed and validated as a whole before anything changes, then normalised into the shapes the
 * engine records (events/specs.ts) and sorted in dependency order.
 *
 * @example
 * const docs = parseManifests(readFileSync('cell.yaml', 'utf8'));   // throws InvalidArgument naming the document
 * for (const doc of docs) console.log(doc.kind, doc.name);
 */
import { z } from 'zod';
import { CellTemplateSchema, type CellTemplate, type ContainerTemplate } from '../../events/specs.js';
import { ErrorKind, isKukeError, KukeError } from '../errors.js';
import { formatIssues, notSupported, quote, strictObject } from './issues.js';
import { MAX_CONTAINERS_PER_CELL, MAX_MOUNTS_PER_CONTAINER, MAX_PORTS_PER_CONTAINER } from './limits.js';
import { normalizePort } from './ports.js';
import { nameProblem } from './names.js';
import {
  absolutePathSchema,
  argSchema,
  argvSchema,
  cellRulesProblem,
  cellTemplateProblem,
  cpuPeriodSchema,
  cpuQuotaSchema,
  cpuSharesSchema,
  envEntrySchema,
  envSchema,
  execSizeRule,
  hostIPSchema,
  imageSchema,
  ipSchema,
  labelsSchema,
  memoryBytesSchema,
  nameSchema as name,
  pidsSchema,
  portNumberSchema,
  restartBackoffSchema,
  restartRetriesSchema,
  restartRules,
  capabilityNameSchema,
  seccompProfileSchema,
  sysctlRules,
  sysctlsSchema,
  secretKeySchema,
  userSchema,
} from './template-check.js';
import { normalizeCapabilities } from './security.js';
import { SecretKeySchema } from '../../events/secret.js';
import { loadYamlDocuments } from './yaml-load.js';

/** The only apiVersion (an empty one means it too). */
export const API_VERSION = 'v1beta1';
/** Kinds in dependency order (apply uses it; delete -f the reverse). */
export const KINDS = ['Realm', 'Space', 'Stack', 'Secret', 'Cell', 'Container'] as const;
export type ManifestKind = (typeof KINDS)[number];

/** Kinds of the original Kukeon that this project does not implement yet, and where they are planned. */
const UNSUPPORTED_KINDS: Record<string, string> = {
  Volume: 'named volumes; use a bind or tmpfs volume of a container',
  CellBlueprint: 'cell templates with parameters',
  CellConfig: 'cell templates with parameters',
  CellProfile: 'it was removed from Kukeon',
};

// Where the original Kukeon's fields that kukeon lacks are planned (the issues of this project).
const SECURITY = 'it is on the roadmap: issue 11';
const NETWORKING = 'it is on the roadmap: issue 10';
const WORKLOADS = 'it is on the roadmap: issue 12';
const SET_BY_KUKEON = 'kukeon sets it';

/**
 * metadata of every kind. `annotations` are refused rather than accepted and dropped: nothing stores them yet.
 * `generation` is kukeon's to set.
 */
const metadata = strictObject({
  name,
  labels: labelsSchema.default({}),
  annotations: notSupported('annotations are not stored; use labels'),
  generation: notSupported(SET_BY_KUKEON),
  namespace: notSupported('resources are placed with spec.realmId, spaceId and stackId'),
});

/** Envelope fields every document may have besides metadata and spec. */
const envelope = {
  apiVersion: z.string().optional(),
  kind: z.string(),
  metadata,
  /** What `get -o yaml` prints of a resource's state (issue 12: documents round-trip); output only, never applied. */
  status: z.unknown().optional(),
};

const volume = strictObject({
  kind: z.enum(['bind', 'tmpfs']).default('bind'),
  source: absolutePathSchema.optional(),
  target: absolutePathSchema,
  readOnly: z.boolean().optional(),
  volumeRef: notSupported('named volumes; use a bind or tmpfs volume'),
  sizeBytes: notSupported(),
  mode: notSupported(),
  ensure: notSupported(),
});
const resources = strictObject({
  memoryLimitBytes: memoryBytesSchema.optional(),
  cpuShares: cpuSharesSchema.optional(),
  cpuQuotaUs: cpuQuotaSchema.optional(),
  cpuPeriodUs: cpuPeriodSchema.optional(),
  pidsLimit: pidsSchema.optional(),
});

/**
 * A container port, in Kubernetes' spelling (`protocol` in either case, default TCP). Without `hostPort` it only
 * documents the port (model/ports.ts says why); `hostIP: 0.0.0.0` or none publishes on every host address.
 */
const port = strictObject({
  containerPort: portNumberSchema,
  hostPort: portNumberSchema.optional(),
  hostIP: hostIPSchema.optional(),
  protocol: z.enum(['tcp', 'udp', 'TCP', 'UDP']).default('tcp'),
  name: notSupported('port names'),
});

/** Capabilities added to and dropped from Docker's default set, in any of Docker's spellings (normalised on record). */
const capabilities = strictObject({
  add: z.array(capabilityNameSchema).max(64, 'must have at most 64 entries').default([]),
  drop: z.array(capabilityNameSchema).max(64, 'must have at most 64 entries').default([]),
});

// secrets (issue 11)
/**
 * A container's `env`: `KEY=VALUE` strings, and variables from a secret's key in Kubernetes' spelling,
 * `{name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}` (the secret is one of the cell's space).
 */
const secretEnvEntry = strictObject({
  name: z.string().min(1),
  valueFrom: strictObject({
    secretKeyRef: strictObject({ name, key: secretKeySchema, optional: notSupported('a secret a container names must exist when it starts') }),
    configMapKeyRef: notSupported('there are no ConfigMaps; use a secret or plain env'),
    fieldRef: notSupported(),
    resourceFieldRef: notSupported(),
  }),
  value: notSupported('write a plain variable as "KEY=VALUE"'),
});
const containerEnvSchema = z
  .array(z.unknown())
  .superRefine((entries, ctx) => {
    entries.forEach((entry, i) => {
      const result = (typeof entry === 'string' ? envEntrySchema : secretEnvEntry).safeParse(entry);
      for (const issue of result.error?.issues ?? []) ctx.addIssue({ ...issue, path: [i, ...issue.path] } as never);
    });
    const plain = entries.filter((e): e is string => typeof e === 'string');
    const strings = envSchema.safeParse(plain);
    if (!strings.success) for (const issue of strings.error.issues) ctx.addIssue(issue as never);
  })
  .transform((entries) => entries as (string | z.infer<typeof secretEnvEntry>)[]);
/** A secret mounted as files at /run/secrets/<name>/<key> (Docker's place); the original's `secrets[]`. */
const secretMount = strictObject({
  name,
  mountPath: notSupported('secrets are mounted at /run/secrets/<name>'),
  fromFile: notSupported(),
  fromEnv: notSupported('set variables from a secret in env: [{name, valueFrom: {secretKeyRef: {name, key}}}]'),
  secretRef: notSupported(),
});
/** spec of a Secret: where it lives, and its data as Kubernetes has it (base64 `data`, plain `stringData`). */
const secretValue = (encoding: 'base64' | 'text') =>
  z.unknown().superRefine((value, ctx) => {
    // Never quote a value: it is the secret.
    if (typeof value !== 'string') ctx.addIssue({ code: 'custom', message: 'must be a string (quote it)' });
    else if (encoding === 'base64' && !isBase64(value)) ctx.addIssue({ code: 'custom', message: 'is not base64 (data takes base64, as Kubernetes; plain text goes in stringData)' });
  });
const secretData = (encoding: 'base64' | 'text') =>
  z.record(z.string(), secretValue(encoding)).superRefine((data, ctx) => {
    for (const key of Object.keys(data)) {
      if (!SecretKeySchema.safeParse(key).success) ctx.addIssue({ code: 'custom', path: [key], message: 'invalid key: use letters, digits, "-", "_" and "." (not "." or ".."), at most 253 characters' });
    }
  });
const secretDoc = strictObject({
  ...envelope,
  spec: strictObject({
    realmId: name,
    spaceId: name,
    data: secretData('base64').default({}),
    stringData: secretData('text').default({}),
    type: z.enum(['Opaque', '']).optional(),
    immutable: notSupported(),
  }),
});

/** Strict base64 (RFC 4648 with padding), as Kubernetes decodes `data`. */
function isBase64(value: string): boolean {
  const compact = value.replace(/\s+/g, '');
  return compact.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(compact);
}

/** A container's fields; every one that the original Kukeon, Docker or Kubernetes users bring is named. */
const containerShape = {
  id: name,
  image: imageSchema,
  root: z.boolean().optional(),
  command: z.union([argSchema, argvSchema]).optional(),
  args: argvSchema.default([]),
  env: containerEnvSchema.default([]),
  workingDir: absolutePathSchema.optional(),
  privileged: z.boolean().default(false),
  hostNetwork: z.boolean().default(false),
  hostPID: z.boolean().default(false),
  volumes: z.array(volume).max(MAX_MOUNTS_PER_CONTAINER, `must have at most ${MAX_MOUNTS_PER_CONTAINER} entries`).default([]),
  resources: resources.default({}),
  restartPolicy: z.enum(['', 'never', 'always', 'on-failure']).default(''),
  restartBackoffSeconds: restartBackoffSchema.optional(),
  restartMaxRetries: restartRetriesSchema.optional(),
  user: userSchema.optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  capabilities: capabilities.optional(),
  noNewPrivileges: z.boolean().optional(),
  sysctls: sysctlsSchema.optional(),
  securityOpts: notSupported('use seccompProfile and noNewPrivileges'),
  securityContext: notSupported(SECURITY),
  seccompProfile: seccompProfileSchema.optional(),
  devices: notSupported(SECURITY),
  secrets: z.array(secretMount).max(MAX_MOUNTS_PER_CONTAINER, `must have at most ${MAX_MOUNTS_PER_CONTAINER} entries`).default([]),
  tmpfs: notSupported('use volumes: [{kind: tmpfs, target: /path}]'),
  ports: z.array(port).max(MAX_PORTS_PER_CONTAINER, `must have at most ${MAX_PORTS_PER_CONTAINER} entries`).default([]),
  networks: notSupported(NETWORKING),
  networksAliases: notSupported(NETWORKING),
  cniConfigPath: notSupported(SET_BY_KUKEON),
  containerdId: notSupported(SET_BY_KUKEON),
  tty: notSupported(WORKLOADS),
  stdin: notSupported(WORKLOADS),
  attachable: notSupported(WORKLOADS),
  livenessProbe: notSupported(),
  readinessProbe: notSupported(),
  startupProbe: notSupported(),
  healthcheck: notSupported(),
  hostCgroup: notSupported(),
  repos: notSupported(),
  git: notSupported(),
};
const containerFields = strictObject(containerShape);
const plainEnv = (env: readonly unknown[]) => env.filter((e): e is string => typeof e === 'string');
const container = containerFields
  .superRefine(restartRules)
  .superRefine((c, ctx) => execSizeRule({ command: c.command ?? [], args: c.args, env: plainEnv(c.env) }, ctx))
  .superRefine(sysctlRules);

const realmDoc = strictObject({
  ...envelope,
  spec: strictObject({ namespace: z.string().min(1).optional(), registryCredentials: notSupported('it is on the roadmap: issue 13') }).default({}),
});
/** How many spaces one space may let in (a bound on the rules each adds). */
export const MAX_ALLOW_FROM = 256;

/** An `allowFrom` entry: a space of the same realm, or `<realm>/<space>`. */
const allowFromEntry = z.string().superRefine((value, ctx) => {
  const parts = value.split('/');
  const problem = parts.length > 2 ? 'has more than one "/"' : parts.map(nameProblem).find((p) => p !== undefined);
  if (problem) ctx.addIssue({ code: 'custom', message: `invalid space ${quote(value)} (a space name, or <realm>/<space>): ${problem}` });
});
/** A space's network: which spaces may open connections to its cells (issue 10); every other one is cut off. */
const spaceNetwork = strictObject({
  allowFrom: z.array(allowFromEntry).max(MAX_ALLOW_FROM, `must have at most ${MAX_ALLOW_FROM} entries`).default([]),
  egress: notSupported(NETWORKING),
});
const spaceDoc = strictObject({
  ...envelope,
  spec: strictObject({ realmId: name, cniConfigPath: notSupported(SET_BY_KUKEON), network: spaceNetwork.default({ allowFrom: [] }), defaults: notSupported(SECURITY) }),
});
const stackDoc = strictObject({ ...envelope, spec: strictObject({ id: name.optional(), realmId: name, spaceId: name }) });
const cellSpec = strictObject({
  id: name.optional(),
  realmId: name,
  spaceId: name,
  stackId: name,
  rootContainerId: name.optional(),
  /** The cell's static address in its space's subnet (Podman's --ip); without it the cell gets the first free one. */
  ip: ipSchema.optional(),
  containers: z
    .array(container)
    .min(1, 'must list at least one container')
    .max(MAX_CONTAINERS_PER_CELL, `must have at most ${MAX_CONTAINERS_PER_CELL} containers`),
  replicas: notSupported('a cell runs once; declare more cells'),
  tty: notSupported(WORKLOADS),
  /** Delete the cell once its root exits by itself (as `docker run --rm`). */
  autoDelete: z.boolean().optional(),
  nestedCgroupRuntime: notSupported(),
  provenance: notSupported(),
});
const cellDoc = strictObject({ ...envelope, spec: cellSpec });
const containerDoc = strictObject({
  ...envelope,
  spec: strictObject({ ...containerShape, id: name.optional(), realmId: name, spaceId: name, stackId: name, cellId: name })
    .superRefine(restartRules)
    .superRefine((c, ctx) => execSizeRule({ command: c.command ?? [], args: c.args, env: plainEnv(c.env) }, ctx))
    .superRefine(sysctlRules),
});

/** A validated, normalised document. */
export type Manifest =
  | { kind: 'Realm'; index: number; name: string; labels: Record<string, string>; namespace?: string }
  | { kind: 'Space'; index: number; name: string; labels: Record<string, string>; realm: string; allowFrom: string[] }
  | { kind: 'Stack'; index: number; name: string; labels: Record<string, string>; realm: string; space: string }
  | { kind: 'Secret'; index: number; name: string; labels: Record<string, string>; realm: string; space: string; data: Record<string, Buffer> }
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
    env: plainEnv(c.env),
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
    ...(c.ports.length ? { ports: c.ports.map((p) => normalizePort({ ...p, protocol: p.protocol.toLowerCase() as 'tcp' | 'udp' })) } : {}),
    ...(c.user !== undefined ? { user: c.user } : {}),
    ...(c.capabilities !== undefined ? { capabilities: normalizeCapabilities(c.capabilities) } : {}),
    ...(c.readOnlyRootFilesystem !== undefined ? { readOnlyRootFilesystem: c.readOnlyRootFilesystem } : {}),
    ...(c.seccompProfile !== undefined ? { seccompProfile: c.seccompProfile } : {}),
    ...(c.noNewPrivileges !== undefined ? { noNewPrivileges: c.noNewPrivileges } : {}),
    ...(c.sysctls !== undefined && Object.keys(c.sysctls).length ? { sysctls: c.sysctls } : {}),
    ...secretFields(c),
  };
}

/** The template's `secretEnv` and `secrets` (absent when none, as in templates recorded before secrets existed). */
function secretFields(c: ContainerInput): Pick<ContainerTemplate, 'secretEnv' | 'secrets'> {
  const fromSecrets = c.env.filter((e) => typeof e !== 'string').map((e) => ({ name: e.name, secretKeyRef: { name: e.valueFrom.secretKeyRef.name, key: e.valueFrom.secretKeyRef.key } }));
  return { ...(fromSecrets.length ? { secretEnv: fromSecrets } : {}), ...(c.secrets.length ? { secrets: c.secrets.map((m) => ({ name: m.name })) } : {}) };
}

/** A problem with one document; parseManifests prefixes the document. */
function problem(message: string): KukeError {
  return new KukeError(ErrorKind.InvalidArgument, message);
}

/**
 * The root container of a cell: `rootContainerId`, else the one marked `root: true`, else the first. More than
 * one `root: true`, or a `rootContainerId` that names no container, is an error.
 */
function rootOf(spec: z.infer<typeof cellSpec>): string {
  const marked = spec.containers.filter((c) => c.root === true).map((c) => c.id);
  if (marked.length > 1) throw problem(`only one container may have root: true (found ${marked.join(', ')})`);
  if (spec.rootContainerId) {
    if (!spec.containers.some((c) => c.id === spec.rootContainerId)) throw problem(`spec.rootContainerId "${spec.rootContainerId}" names no container`);
    if (marked.length === 1 && marked[0] !== spec.rootContainerId) throw problem(`spec.rootContainerId "${spec.rootContainerId}" disagrees with root: true on "${marked[0]}"`);
    return spec.rootContainerId;
  }
  return marked[0] ?? spec.containers[0]!.id;
}

function sameId(id: string | undefined, name: string): void {
  if (id !== undefined && id !== name) throw problem(`spec.id "${id}" differs from metadata.name "${name}"; remove spec.id or make them equal`);
}

function parseOne(raw: unknown, index: number): Manifest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw problem('is not a mapping (a document is kind, metadata and spec)');
  const doc = raw as { apiVersion?: unknown; kind?: unknown };
  const apiVersion = doc.apiVersion ?? '';
  if (apiVersion !== '' && apiVersion !== API_VERSION) throw problem(`unsupported apiVersion ${quote(String(apiVersion))} (only ${API_VERSION})`);
  if (typeof doc.kind === 'string' && UNSUPPORTED_KINDS[doc.kind]) throw problem(`kind ${doc.kind} is not supported yet (${UNSUPPORTED_KINDS[doc.kind]}); remove the document`);
  if (typeof doc.kind !== 'string' || !(KINDS as readonly string[]).includes(doc.kind)) {
    throw problem(`unknown kind ${doc.kind === undefined ? '(none)' : quote(String(doc.kind))} (expected one of ${KINDS.join(', ')})`);
  }
  const kind = doc.kind as ManifestKind;
  const parse = <T extends z.ZodType>(schema: T): z.infer<T> => {
    const result = schema.safeParse(raw);
    if (!result.success) throw problem(formatIssues(result.error, raw));
    return result.data;
  };
  switch (kind) {
    case 'Realm': {
      const d = parse(realmDoc);
      return { kind, index, name: d.metadata.name, labels: d.metadata.labels, ...(d.spec.namespace ? { namespace: d.spec.namespace } : {}) };
    }
    case 'Space': {
      const d = parse(spaceDoc);
      return { kind, index, name: d.metadata.name, labels: d.metadata.labels, realm: d.spec.realmId, allowFrom: d.spec.network.allowFrom };
    }
    case 'Secret': {
      const d = parse(secretDoc);
      // stringData wins over data for a key in both, as in Kubernetes.
      const data: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(d.spec.data)) data[k] = Buffer.from(String(v), 'base64');
      for (const [k, v] of Object.entries(d.spec.stringData)) data[k] = Buffer.from(String(v), 'utf8');
      if (Object.keys(data).length === 0) throw problem('spec.data or spec.stringData must hold at least one key');
      return { kind, index, name: d.metadata.name, labels: d.metadata.labels, realm: d.spec.realmId, space: d.spec.spaceId, data };
    }
    case 'Stack': {
      const d = parse(stackDoc);
      sameId(d.spec.id, d.metadata.name);
      return { kind, index, name: d.metadata.name, labels: d.metadata.labels, realm: d.spec.realmId, space: d.spec.spaceId };
    }
    case 'Cell': {
      const d = parse(cellDoc);
      sameId(d.spec.id, d.metadata.name);
      const template = CellTemplateSchema.parse({ root: rootOf(d.spec), containers: d.spec.containers.map(toTemplate), labels: d.metadata.labels, ...(d.spec.ip !== undefined ? { ip: d.spec.ip } : {}), ...(d.spec.autoDelete ? { autoDelete: true } : {}) });
      const rules = cellRulesProblem(template) ?? cellTemplateProblem(template);
      if (rules) throw problem(rules);
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

/** `(Cell "web")`, or as much of it as the document has. */
function labelOf(raw: unknown): string {
  const r = (raw ?? {}) as { kind?: unknown; metadata?: { name?: unknown } | null };
  if (typeof r.kind !== 'string') return '';
  const name = typeof r.metadata === 'object' && r.metadata !== null && typeof r.metadata.name === 'string' ? ` ${quote(r.metadata.name)}` : '';
  return ` (${/^[A-Za-z]{1,40}$/.test(r.kind) ? r.kind : quote(r.kind)}${name})`;
}

/**
 * Parses and validates every document of a YAML stream (./yaml-load.ts refuses hostile YAML first), in dependency
 * order (stable within a kind). A document that is a sequence holds documents (a JSON list from `kuke get -o json`). Throws InvalidArgument on the first problem, naming the document, the field and
 * what to do: `document 1 (Cell "web"): spec.containers[0].imagee: unknown field; did you mean "image"?`. Nothing
 * is returned unless every document is valid, so an apply changes nothing when one is not.
 */
export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = [];
  for (const { index, value } of loadYamlDocuments(text)) {
    if (value === null || value === undefined) continue;
    // A sequence of documents is what `kuke get <kinds> -o json` prints for a list: each item is a document.
    const items = Array.isArray(value) ? value.map((item, i) => ({ item, where: `document ${index}, item ${i + 1}` })) : [{ item: value as unknown, where: `document ${index}` }];
    for (const { item, where } of items) {
      try {
        out.push(parseOne(item, index));
      } catch (err) {
        if (!isKukeError(err, ErrorKind.InvalidArgument)) throw err;
        throw new KukeError(ErrorKind.InvalidArgument, `${where}${labelOf(item)}: ${err.message}`, { hint: 'nothing was changed' });
      }
    }
  }
  if (out.length === 0) throw new KukeError(ErrorKind.InvalidArgument, 'no documents found in input', { hint: 'pass a file with at least one Realm, Space, Stack, Secret, Cell or Container document' });
  return out.sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || a.index - b.index);
}
