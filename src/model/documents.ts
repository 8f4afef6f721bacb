/**
 * Resource views as manifest documents (issue 12, item 5): what `kuke get <kind> [name] -o yaml|json` prints, in the
 * `v1beta1` shape that `kuke apply -f` reads (./manifest.ts is the other direction). A document is
 *
 *   apiVersion: v1beta1
 *   kind: Cell
 *   metadata: { name, labels }             labels only when there are some
 *   spec: { realmId, spaceId, stackId, … } the manifest's field names; what apply needs to make the same resource
 *   status: { state, … }                   what kukeon observed; apply ignores this section (manifest.ts `envelope`)
 *
 * One rule for spec: a field equal to the manifest's default (false, empty, `never`, `bind`, `tcp`, the realm's
 * default namespace) is left out, so `get → apply → get` prints the same bytes. A cell's address is status only
 * (`status.address`): the template cannot tell a static `ip` from the free one kukeon chose, and a re-created cell
 * asking for its predecessor's address would be unreachable from peers that still cache the old MAC (cell-network.ts);
 * add `spec.ip` to pin one. Mount `options` have no manifest field (only kukeon's own cells set them) and are not
 * printed.
 *
 * Extension point: {@link DOCUMENTS} has one builder per view kind, and {@link CONTAINER_FIELDS} / {@link CELL_FIELDS}
 * one entry per template field, typed over every key, so a new kind or template field does not compile until it says
 * how it is printed (a Secret prints its name and scope, never its value).
 */
import type { CellTemplate, ContainerTemplate } from '../../events/specs.js';
import type { CellView, ContainerView, RealmView, ResourceView, SecretView, SpaceView, StackView, ViewMeta } from './resources.js';
import { API_VERSION } from './manifest.js';
import { NAMESPACE_SUFFIX, realmNamespace } from './names.js';

/** A manifest document with its observed status. */
export interface ResourceDocument {
  apiVersion: typeof API_VERSION;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
  status: Record<string, unknown>;
}

/** What a builder needs besides the view. */
export interface DocumentOptions {
  /** Suffix of realms' default namespaces (a realm whose namespace is `<realm>.<suffix>` prints no spec.namespace). */
  namespaceSuffix?: string;
}

type Fields = Record<string, unknown>;
/** One entry per key of `T`: the manifest fields a template field becomes (none when it holds the default). */
type FieldMap<T> = { [K in keyof Required<T>]: (value: T[K], whole: T) => Fields };

const when = (cond: boolean, fields: Fields): Fields => (cond ? fields : {});
const nonEmpty = <T>(key: string, list: readonly T[] | undefined): Fields => when((list?.length ?? 0) > 0, { [key]: list });
const defined = (key: string, value: unknown): Fields => when(value !== undefined, { [key]: value });

/** A container template's fields, in the order a document prints them. */
export const CONTAINER_FIELDS: FieldMap<ContainerTemplate> = {
  name: (v) => ({ id: v }),
  image: (v) => ({ image: v }),
  command: (v) => nonEmpty('command', v),
  args: (v) => nonEmpty('args', v),
  // Variables from secrets print in env too, in Kubernetes' spelling ({name, valueFrom: {secretKeyRef}}), after the plain ones.
  env: (v, t) => nonEmpty('env', [...v, ...(t.secretEnv ?? []).map((e) => ({ name: e.name, valueFrom: { secretKeyRef: { name: e.secretKeyRef.name, key: e.secretKeyRef.key } } }))]),
  workingDir: (v) => defined('workingDir', v),
  privileged: (v) => when(v, { privileged: true }),
  hostNetwork: (v) => when(v, { hostNetwork: true }),
  hostPid: (v) => when(v, { hostPID: true }),
  mounts: (v) =>
    nonEmpty(
      'volumes',
      v.map((m) => ({ ...when(m.type !== 'bind', { kind: m.type }), ...defined('source', m.source), target: m.target, ...defined('readOnly', m.readOnly) })),
    ),
  resources: (r) => {
    const out = { ...defined('memoryLimitBytes', r.memoryBytes), ...defined('cpuShares', r.cpuShares), ...defined('cpuQuotaUs', r.cpuQuotaUs), ...defined('cpuPeriodUs', r.cpuPeriodUs), ...defined('pidsLimit', r.pidsMax) };
    return when(Object.keys(out).length > 0, { resources: out });
  },
  restartPolicy: (v) => when(v !== 'never', { restartPolicy: v }),
  restartBackoffSeconds: (v) => defined('restartBackoffSeconds', v),
  restartMaxRetries: (v) => defined('restartMaxRetries', v),
  ports: (v) => nonEmpty('ports', v?.map((p) => ({ containerPort: p.containerPort, ...defined('hostPort', p.hostPort), ...defined('hostIP', p.hostIP), ...when(p.protocol !== 'tcp', { protocol: p.protocol }) }))),
  secretEnv: () => ({}),
  secrets: (v) => nonEmpty('secrets', v?.map((m) => ({ name: m.name }))),
  // Security settings (issue 11): recorded only when set, printed as recorded.
  user: (v) => defined('user', v),
  capabilities: (v) => defined('capabilities', v),
  readOnlyRootFilesystem: (v) => defined('readOnlyRootFilesystem', v),
  seccompProfile: (v) => defined('seccompProfile', v),
  noNewPrivileges: (v) => defined('noNewPrivileges', v),
  sysctls: (v) => defined('sysctls', v),
};

/** A cell template's fields besides its labels (metadata) and address (status); see the header. */
export const CELL_FIELDS: FieldMap<CellTemplate> = {
  root: (v, t) => when(t.containers[0]?.name !== v, { rootContainerId: v }),
  containers: (v) => ({ containers: v.map(containerSpec) }),
  labels: () => ({}),
  ip: () => ({}),
  autoDelete: (v) => when(v === true, { autoDelete: true }),
};

/** The manifest fields of a container template. */
export function containerSpec(template: ContainerTemplate): Fields {
  return fieldsOf(CONTAINER_FIELDS, template);
}

function fieldsOf<T extends object>(map: FieldMap<T>, value: T): Fields {
  const out: Fields = {};
  for (const key of Object.keys(map) as (keyof T)[]) Object.assign(out, map[key](value[key] as never, value));
  return out;
}

/** What every status has: the state, the last error, and when and at which event it was last changed. */
function metaStatus(v: ViewMeta): Fields {
  return { state: v.state, error: v.error, createdAt: v.createdAt, updatedAt: v.updatedAt, version: v.version, seq: v.seq };
}

function metadata(name: string, labels: Record<string, string>): ResourceDocument['metadata'] {
  return Object.keys(labels).length > 0 ? { name, labels } : { name };
}

function document(kind: string, meta: ResourceDocument['metadata'], spec: Fields, status: Fields): ResourceDocument {
  return { apiVersion: API_VERSION, kind, metadata: meta, spec, status };
}

/** A container's observed state, as `status` of its own document and in its cell's `status.containers`. */
function containerStatus(c: ContainerView): Fields {
  return {
    name: c.name,
    root: c.root,
    state: c.state,
    image: c.image,
    containerdId: c.containerdId,
    namespace: c.namespace,
    pid: c.pid,
    exitCode: c.exitCode,
    exitSignal: c.exitSignal,
    oomKilled: c.oomKilled,
    restarts: c.restarts,
    error: c.error,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  };
}

/** A space's `network` (only `allowFrom` so far); none when it lets no other space in. A read model written before
 * spaces' views had `allowFrom` has none (the daemon rewrites it at start). */
const nonEmptyNetwork = (allowFrom: string[] | undefined): Fields => when((allowFrom?.length ?? 0) > 0, { network: { allowFrom } });

/** One builder per view kind (see the header). */
const DOCUMENTS: { [K in ResourceView['kind']]: (view: Extract<ResourceView, { kind: K }>, options: DocumentOptions) => ResourceDocument } = {
  Realm: (v: RealmView, o) =>
    document('Realm', metadata(v.name, v.labels), when(v.namespace !== '' && v.namespace !== realmNamespace(v.name, o.namespaceSuffix ?? NAMESPACE_SUFFIX), { namespace: v.namespace }), {
      ...metaStatus(v),
      namespace: v.namespace,
      cgroupPath: v.cgroupPath,
      system: v.system,
    }),
  Space: (v: SpaceView) =>
    document('Space', metadata(v.name, v.labels), { realmId: v.realm, ...nonEmptyNetwork(v.allowFrom) }, {
      ...metaStatus(v),
      network: v.network,
      cgroupPath: v.cgroupPath,
    }),
  Stack: (v: StackView) => document('Stack', metadata(v.name, v.labels), { realmId: v.realm, spaceId: v.space }, { ...metaStatus(v), cgroupPath: v.cgroupPath }),
  Cell: (v: CellView) =>
    document('Cell', metadata(v.name, v.template?.labels ?? v.labels), { realmId: v.realm, spaceId: v.space, stackId: v.stack, ...(v.template ? fieldsOf(CELL_FIELDS, v.template) : {}) }, {
      ...metaStatus(v),
      address: v.address,
      rootPid: v.rootPid,
      cgroupPath: v.cgroupPath,
      containers: v.containers.map(containerStatus),
    }),
  Container: (v: ContainerView) => {
    const id = v.template?.name ?? v.name;
    const spec = { realmId: v.realm, spaceId: v.space, stackId: v.stack, cellId: v.cell, ...(v.template ? containerSpec(v.template) : { id }), ...when(v.root, { root: true }) };
    return document('Container', metadata(id, v.labels), spec, containerStatus(v));
  },
};

/**
 * A secret's document (issue 11): its name and scope in spec, its keys and digest in status; never its data, so
 * applying it back needs `data` or `stringData` added (apply refuses a Secret without them).
 */
export function secretDocument(v: SecretView): ResourceDocument {
  return document('Secret', metadata(v.name, v.labels), { realmId: v.realm, spaceId: v.space }, { ...metaStatus(v), keys: v.keys, digest: v.digest });
}

/**
 * The document of a view.
 *
 * @example
 * resourceDocument(stackView)
 * // { apiVersion: 'v1beta1', kind: 'Stack', metadata: { name: 'app' }, spec: { realmId: 'default', spaceId: 'default' }, status: { state: 'Ready', … } }
 */
export function resourceDocument(view: ResourceView, options: DocumentOptions = {}): ResourceDocument {
  return (DOCUMENTS[view.kind] as (v: ResourceView, o: DocumentOptions) => ResourceDocument)(view, options);
}
