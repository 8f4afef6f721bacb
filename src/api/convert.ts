/**
 * Conversions between the project's types (views, templates, event records) and the API's protobuf messages.
 * Both directions live together so a field added on one side is visibly missing on the other.
 */
import type { Actor, EventRecord } from '../../events/record.js';
import type { CellTemplate, ContainerTemplate, RecordedError } from '../../events/specs.js';
import { ErrorKind, KukeError } from '../errors.js';
import { normalizePort } from '../model/ports.js';
import type { CellView, ContainerView, RealmView, ResourceView, SecretView, SpaceView, StackView, ViewMeta } from '../model/resources.js';
import type { AggregateKey } from '../model/streams.js';
import type { ApplyResult } from '../engine/apply.js';
import type { Query } from '../engine/queries.js';
import type { ExecInput, ExecRequest } from '../engine/exec.js';
import * as pb from './gen/kukeon/v1/kukeon.js';

// ------------------------------------------------------------------------------------------------ meta & errors

function metaToPb(v: ViewMeta): pb.Meta {
  return {
    state: v.state,
    labels: v.labels,
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
    version: v.version,
    seq: v.seq,
    error: v.error ? { kind: v.error.kind, message: v.error.message } : undefined,
  };
}

function metaFromPb(m: pb.Meta | undefined): ViewMeta {
  return {
    state: m?.state ?? '',
    labels: m?.labels ?? {},
    createdAt: m?.createdAt ?? '',
    updatedAt: m?.updatedAt ?? '',
    version: m?.version ?? 0,
    seq: m?.seq ?? 0,
    error: m?.error ? ({ kind: m.error.kind, message: m.error.message } as RecordedError) : null,
  };
}

// ------------------------------------------------------------------------------------------------ templates

function containerTemplateToPb(t: ContainerTemplate): pb.ContainerTemplate {
  return {
    name: t.name,
    image: t.image,
    command: t.command,
    args: t.args,
    env: t.env,
    workingDir: t.workingDir,
    privileged: t.privileged,
    hostNetwork: t.hostNetwork,
    hostPid: t.hostPid,
    mounts: t.mounts.map((m) => ({ type: m.type, source: m.source, target: m.target, readOnly: m.readOnly, options: m.options ?? [] })),
    resources: {
      memoryBytes: t.resources.memoryBytes ?? 0,
      cpuShares: t.resources.cpuShares ?? 0,
      cpuQuotaUs: t.resources.cpuQuotaUs ?? 0,
      cpuPeriodUs: t.resources.cpuPeriodUs ?? 0,
      pidsMax: t.resources.pidsMax ?? 0,
    },
    restartPolicy: t.restartPolicy,
    ...(t.restartBackoffSeconds !== undefined ? { restartBackoffSeconds: t.restartBackoffSeconds } : {}),
    ...(t.restartMaxRetries !== undefined ? { restartMaxRetries: t.restartMaxRetries } : {}),
    ports: (t.ports ?? []).map((p) => ({ containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIP, protocol: p.protocol })),
    secretEnv: t.secretEnv ?? [],
    secrets: t.secrets ?? [],
    ...securityToPb(t),
  };
}

// Security settings (issue 11) travel in one sub-message; each is absent when not set, both ways.
function securityToPb(t: ContainerTemplate): Pick<pb.ContainerTemplate, 'security'> {
  const s: pb.ContainerSecurity = {
    ...(t.user !== undefined ? { user: t.user } : {}),
    ...(t.capabilities !== undefined ? { capabilities: t.capabilities } : {}),
    ...(t.readOnlyRootFilesystem !== undefined ? { readOnlyRootFilesystem: t.readOnlyRootFilesystem } : {}),
    ...(t.seccompProfile !== undefined ? { seccompProfile: t.seccompProfile } : {}),
    ...(t.noNewPrivileges !== undefined ? { noNewPrivileges: t.noNewPrivileges } : {}),
    sysctls: t.sysctls ?? {},
  };
  return Object.keys(s).length > 1 || Object.keys(s.sysctls).length > 0 ? { security: s } : {};
}

function securityFromPb(s: pb.ContainerSecurity | undefined): Partial<ContainerTemplate> {
  if (!s) return {};
  return {
    ...(s.user !== undefined ? { user: s.user } : {}),
    ...(s.capabilities !== undefined ? { capabilities: { add: s.capabilities.add, drop: s.capabilities.drop } } : {}),
    ...(s.readOnlyRootFilesystem !== undefined ? { readOnlyRootFilesystem: s.readOnlyRootFilesystem } : {}),
    ...(s.seccompProfile !== undefined ? { seccompProfile: s.seccompProfile } : {}),
    ...(s.noNewPrivileges !== undefined ? { noNewPrivileges: s.noNewPrivileges } : {}),
    ...(Object.keys(s.sysctls).length ? { sysctls: s.sysctls } : {}),
  };
}

function containerTemplateFromPb(t: pb.ContainerTemplate): ContainerTemplate {
  const r = t.resources;
  return {
    name: t.name,
    image: t.image,
    command: t.command,
    args: t.args,
    env: t.env,
    ...(t.workingDir !== undefined ? { workingDir: t.workingDir } : {}),
    privileged: t.privileged,
    hostNetwork: t.hostNetwork,
    hostPid: t.hostPid,
    // Keys in the schema's order (events/specs.ts), so that views are identical whichever way they travelled.
    mounts: t.mounts.map((m) => ({
      type: m.type as 'bind' | 'tmpfs',
      ...(m.source !== undefined ? { source: m.source } : {}),
      target: m.target,
      ...(m.readOnly !== undefined ? { readOnly: m.readOnly } : {}),
      ...(m.options.length ? { options: m.options } : {}),
    })),
    resources: {
      ...(r?.memoryBytes ? { memoryBytes: r.memoryBytes } : {}),
      ...(r?.cpuShares ? { cpuShares: r.cpuShares } : {}),
      ...(r?.cpuQuotaUs ? { cpuQuotaUs: r.cpuQuotaUs } : {}),
      ...(r?.cpuPeriodUs ? { cpuPeriodUs: r.cpuPeriodUs } : {}),
      ...(r?.pidsMax ? { pidsMax: r.pidsMax } : {}),
    },
    restartPolicy: (t.restartPolicy || 'never') as ContainerTemplate['restartPolicy'],
    ...(t.restartBackoffSeconds !== undefined ? { restartBackoffSeconds: t.restartBackoffSeconds } : {}),
    ...(t.restartMaxRetries !== undefined ? { restartMaxRetries: t.restartMaxRetries } : {}),
    // Absent when none, as the manifest parser records it, so that templates compare equal whichever way they came.
    ...(t.ports.length
      ? { ports: t.ports.map((p) => normalizePort({ containerPort: p.containerPort, hostPort: p.hostPort, hostIP: p.hostIp, protocol: p.protocol as 'tcp' | 'udp' })) }
      : {}),
    // Absent when none, like ports.
    ...(t.secretEnv.length ? { secretEnv: t.secretEnv.map((e) => ({ name: e.name, secretKeyRef: { name: e.secretKeyRef?.name ?? '', key: e.secretKeyRef?.key ?? '' } })) } : {}),
    ...(t.secrets.length ? { secrets: t.secrets.map((m) => ({ name: m.name })) } : {}),
    ...securityFromPb(t.security),
  };
}

export function cellTemplateToPb(t: CellTemplate): pb.CellTemplate {
  return { root: t.root, containers: t.containers.map(containerTemplateToPb), labels: t.labels, ...(t.ip !== undefined ? { ip: t.ip } : {}), autoDelete: t.autoDelete === true };
}

export function cellTemplateFromPb(t: pb.CellTemplate | undefined): CellTemplate {
  if (!t) throw new KukeError(ErrorKind.InvalidArgument, 'a cell template is required');
  return { root: t.root, containers: t.containers.map(containerTemplateFromPb), labels: t.labels, ...(t.ip !== undefined ? { ip: t.ip } : {}), ...(t.autoDelete ? { autoDelete: true } : {}) };
}

// ------------------------------------------------------------------------------------------------ views

// secrets (issue 11)
export function secretToPb(v: SecretView): pb.Secret {
  return { meta: metaToPb(v), realm: v.realm, space: v.space, name: v.name, keys: v.keys, digest: v.digest };
}
export function secretFromPb(s: pb.Secret | undefined): SecretView {
  if (!s) throw new KukeError(ErrorKind.Internal, 'empty secret in response');
  return { kind: 'Secret', realm: s.realm, space: s.space, name: s.name, keys: s.keys, digest: s.digest, ...metaFromPb(s.meta) };
}

export function realmToPb(v: RealmView): pb.Realm {
  return { meta: metaToPb(v), name: v.name, namespace: v.namespace, cgroupPath: v.cgroupPath ?? '', system: v.system };
}
export function realmFromPb(r: pb.Realm | undefined): RealmView {
  if (!r) throw new KukeError(ErrorKind.Internal, 'empty realm in response');
  return { kind: 'Realm', name: r.name, namespace: r.namespace, cgroupPath: r.cgroupPath || null, system: r.system, ...metaFromPb(r.meta) };
}

export function spaceToPb(v: SpaceView): pb.Space {
  return { meta: metaToPb(v), realm: v.realm, name: v.name, network: v.network, cgroupPath: v.cgroupPath ?? '', allowFrom: v.allowFrom };
}
export function spaceFromPb(s: pb.Space | undefined): SpaceView {
  if (!s) throw new KukeError(ErrorKind.Internal, 'empty space in response');
  const n = s.network ?? { name: '', bridge: '', subnet: '0.0.0.0/0', ipMasq: false };
  return { kind: 'Space', realm: s.realm, name: s.name, network: { name: n.name, bridge: n.bridge, subnet: n.subnet, ipMasq: n.ipMasq }, cgroupPath: s.cgroupPath || null, allowFrom: s.allowFrom, ...metaFromPb(s.meta) };
}

export function stackToPb(v: StackView): pb.Stack {
  return { meta: metaToPb(v), realm: v.realm, space: v.space, name: v.name, cgroupPath: v.cgroupPath ?? '' };
}
export function stackFromPb(s: pb.Stack | undefined): StackView {
  if (!s) throw new KukeError(ErrorKind.Internal, 'empty stack in response');
  return { kind: 'Stack', realm: s.realm, space: s.space, name: s.name, cgroupPath: s.cgroupPath || null, ...metaFromPb(s.meta) };
}

export function containerToPb(v: ContainerView): pb.Container {
  return {
    meta: metaToPb(v),
    realm: v.realm,
    space: v.space,
    stack: v.stack,
    cell: v.cell,
    name: v.name,
    root: v.root,
    containerdId: v.containerdId,
    namespace: v.namespace,
    image: v.image,
    template: v.template ? containerTemplateToPb(v.template) : undefined,
    pid: v.pid ?? 0,
    hasExitCode: v.exitCode !== null,
    exitCode: v.exitCode ?? 0,
    exitSignal: v.exitSignal ?? '',
    restarts: v.restarts,
    oomKilled: v.oomKilled,
  };
}
export function containerFromPb(c: pb.Container): ContainerView {
  return {
    kind: 'Container',
    realm: c.realm,
    space: c.space,
    stack: c.stack,
    cell: c.cell,
    name: c.name,
    root: c.root,
    containerdId: c.containerdId,
    namespace: c.namespace,
    image: c.image,
    template: c.template ? containerTemplateFromPb(c.template) : null,
    pid: c.pid || null,
    exitCode: c.hasExitCode ? c.exitCode : null,
    exitSignal: c.exitSignal || null,
    oomKilled: c.oomKilled,
    restarts: c.restarts,
    ...metaFromPb(c.meta),
  };
}

export function cellToPb(v: CellView): pb.Cell {
  return {
    meta: metaToPb(v),
    realm: v.realm,
    space: v.space,
    stack: v.stack,
    name: v.name,
    template: v.template ? cellTemplateToPb(v.template) : undefined,
    rootPid: v.rootPid ?? 0,
    address: v.address ?? '',
    cgroupPath: v.cgroupPath,
    containers: v.containers.map(containerToPb),
  };
}
export function cellFromPb(c: pb.Cell | undefined): CellView {
  if (!c) throw new KukeError(ErrorKind.Internal, 'empty cell in response');
  return {
    kind: 'Cell',
    realm: c.realm,
    space: c.space,
    stack: c.stack,
    name: c.name,
    template: c.template ? cellTemplateFromPb(c.template) : null,
    rootPid: c.rootPid || null,
    address: c.address || null,
    cgroupPath: c.cgroupPath,
    containers: c.containers.map(containerFromPb),
    ...metaFromPb(c.meta),
  };
}

export function resourceToPb(v: ResourceView): pb.Resource {
  switch (v.kind) {
    case 'Realm':
      return { realm: realmToPb(v) };
    case 'Space':
      return { space: spaceToPb(v) };
    case 'Stack':
      return { stack: stackToPb(v) };
    case 'Cell':
      return { cell: cellToPb(v) };
    case 'Container':
      return { container: containerToPb(v) };
  }
}

export function resourceFromPb(r: pb.Resource): ResourceView {
  if (r.realm) return realmFromPb(r.realm);
  if (r.space) return spaceFromPb(r.space);
  if (r.stack) return stackFromPb(r.stack);
  if (r.cell) return cellFromPb(r.cell);
  if (r.container) return containerFromPb(r.container);
  throw new KukeError(ErrorKind.Internal, 'empty resource in response');
}

// ------------------------------------------------------------------------------------------------ refs

const KIND_TO_PB: Record<string, pb.Kind> = {
  realm: pb.Kind.KIND_REALM,
  space: pb.Kind.KIND_SPACE,
  stack: pb.Kind.KIND_STACK,
  cell: pb.Kind.KIND_CELL,
  container: pb.Kind.KIND_CONTAINER,
  daemon: pb.Kind.KIND_DAEMON,
  secret: pb.Kind.KIND_SECRET,
};

export function queryToRef(q: Query): pb.Ref {
  const s = q as { realm?: string; space?: string; stack?: string; cell?: string; name?: string };
  return { kind: KIND_TO_PB[q.kind]!, realm: s.realm ?? '', space: s.space ?? '', stack: s.stack ?? '', cell: s.cell ?? '', name: s.name ?? '' };
}

export function refToQuery(ref: pb.Ref | undefined): Query {
  if (!ref) throw new KukeError(ErrorKind.InvalidArgument, 'a resource reference is required');
  const name = ref.name ? { name: ref.name } : {};
  switch (ref.kind) {
    case pb.Kind.KIND_REALM:
      return { kind: 'realm', ...name };
    case pb.Kind.KIND_SPACE:
      return { kind: 'space', realm: ref.realm, ...name };
    case pb.Kind.KIND_STACK:
      return { kind: 'stack', realm: ref.realm, space: ref.space, ...name };
    case pb.Kind.KIND_CELL:
      return { kind: 'cell', realm: ref.realm, space: ref.space, stack: ref.stack, ...name };
    case pb.Kind.KIND_CONTAINER:
      return { kind: 'container', realm: ref.realm, space: ref.space, stack: ref.stack, cell: ref.cell, ...name };
    default:
      throw new KukeError(ErrorKind.InvalidArgument, `unsupported resource kind ${String(ref.kind)}`);
  }
}

export function keyToRef(key: AggregateKey): pb.Ref {
  const k = key as { realm?: string; space?: string; stack?: string; cell?: string; container?: string; secret?: string; name?: string };
  const name = key.kind === 'realm' ? k.realm : key.kind === 'space' ? k.space : key.kind === 'stack' ? k.stack : key.kind === 'cell' ? k.cell : key.kind === 'container' ? k.container : key.kind === 'secret' ? k.secret : k.name;
  return { kind: KIND_TO_PB[key.kind]!, realm: k.realm ?? '', space: k.space ?? '', stack: k.stack ?? '', cell: key.kind === 'container' ? k.cell! : '', name: name ?? '' };
}

export function refToKey(ref: pb.Ref | undefined): AggregateKey {
  if (!ref) throw new KukeError(ErrorKind.InvalidArgument, 'a resource reference is required');
  switch (ref.kind) {
    case pb.Kind.KIND_REALM:
      return { kind: 'realm', realm: ref.name };
    case pb.Kind.KIND_SPACE:
      return { kind: 'space', realm: ref.realm, space: ref.name };
    case pb.Kind.KIND_STACK:
      return { kind: 'stack', realm: ref.realm, space: ref.space, stack: ref.name };
    case pb.Kind.KIND_CELL:
      return { kind: 'cell', realm: ref.realm, space: ref.space, stack: ref.stack, cell: ref.name };
    case pb.Kind.KIND_CONTAINER:
      return { kind: 'container', realm: ref.realm, space: ref.space, stack: ref.stack, cell: ref.cell, container: ref.name };
    case pb.Kind.KIND_DAEMON:
      return { kind: 'daemon', name: ref.name || 'kukeond' };
    case pb.Kind.KIND_SECRET:
      return { kind: 'secret', realm: ref.realm, space: ref.space, secret: ref.name };
    default:
      throw new KukeError(ErrorKind.InvalidArgument, `unsupported resource kind ${String(ref.kind)}`);
  }
}

// ------------------------------------------------------------------------------------------------ events

function actorToPb(a: Actor): pb.Actor {
  return { type: a.type, uid: a.uid ?? -1, gid: a.gid ?? -1, pid: a.pid ?? -1, name: a.name ?? '' };
}
function actorFromPb(a: pb.Actor | undefined): Actor {
  return {
    type: (a?.type ?? 'engine') as Actor['type'],
    ...(a && a.uid >= 0 ? { uid: a.uid } : {}),
    ...(a && a.gid >= 0 ? { gid: a.gid } : {}),
    ...(a && a.pid >= 0 ? { pid: a.pid } : {}),
    ...(a?.name ? { name: a.name } : {}),
  };
}

export function eventToPb(r: EventRecord): pb.Event {
  return {
    seq: r.seq,
    stream: r.stream,
    version: r.ver,
    type: r.type,
    dataJson: JSON.stringify(r.data),
    schemaVersion: r.v,
    at: r.at,
    actor: actorToPb(r.actor),
    cause: r.cause ?? '',
    correlation: r.correlation ?? '',
    from: r.from ?? '',
    to: r.to ?? '',
    hash: r.hash,
    prev: r.prev,
  };
}

export function eventFromPb(e: pb.Event): EventRecord {
  return {
    seq: e.seq,
    stream: e.stream,
    ver: e.version,
    type: e.type,
    v: e.schemaVersion,
    data: JSON.parse(e.dataJson || '{}') as unknown,
    at: e.at,
    actor: actorFromPb(e.actor),
    ...(e.cause ? { cause: e.cause } : {}),
    ...(e.correlation ? { correlation: e.correlation } : {}),
    ...(e.from ? { from: e.from } : {}),
    ...(e.to ? { to: e.to } : {}),
    hash: e.hash,
    prev: e.prev,
  };
}

// ------------------------------------------------------------------------------------------------ apply

export function applyResultToPb(r: ApplyResult): pb.ApplyResult {
  return { index: r.index, kind: r.kind, name: r.name, action: r.action, changes: r.changes, error: r.error };
}

export function applyResultFromPb(r: pb.ApplyResult | undefined): ApplyResult {
  if (!r) throw new KukeError(ErrorKind.Internal, 'empty apply result in response');
  return {
    index: r.index,
    kind: r.kind as ApplyResult['kind'],
    name: r.name,
    action: r.action as ApplyResult['action'],
    changes: r.changes,
    ...(r.error ? { error: { kind: r.error.kind, message: r.error.message } } : {}),
  };
}

// exec (issue 12)

/** An exec request as the API carries it (empty strings for what the client left to the container). */
export function execStartToPb(r: ExecRequest): pb.ExecStart {
  return {
    cell: { realm: r.realm, space: r.space, stack: r.stack, cell: r.cell },
    container: r.container ?? '',
    command: r.command,
    env: r.env ?? [],
    user: r.user ?? '',
    workdir: r.workdir ?? '',
    stdin: r.stdin,
    tty: r.tty,
    size: r.size,
  };
}

export function execStartFromPb(m: pb.ExecStart): ExecRequest {
  return {
    realm: m.cell?.realm ?? '',
    space: m.cell?.space ?? '',
    stack: m.cell?.stack ?? '',
    cell: m.cell?.cell ?? '',
    ...(m.container ? { container: m.container } : {}),
    command: m.command,
    ...(m.env.length ? { env: m.env } : {}),
    ...(m.user ? { user: m.user } : {}),
    ...(m.workdir ? { workdir: m.workdir } : {}),
    stdin: m.stdin,
    tty: m.tty,
    ...(m.size && (m.size.cols || m.size.rows) ? { size: { cols: m.size.cols, rows: m.size.rows } } : {}),
  };
}

/** A message of the client after its ExecStart, or undefined when it carries none of the inputs. */
export function execInputFromPb(m: pb.ExecRequest): ExecInput | undefined {
  if (m.stdin !== undefined) return { stdin: m.stdin };
  if (m.resize !== undefined) return { resize: { cols: m.resize.cols, rows: m.resize.rows } };
  if (m.closeStdin) return { closeStdin: true };
  return undefined;
}

export function execInputToPb(input: ExecInput): pb.ExecRequest {
  if ('stdin' in input) return { stdin: Buffer.from(input.stdin) };
  if ('resize' in input) return { resize: input.resize };
  return { closeStdin: true };
}
