/**
 * Who may do what (issue 11): decided in the daemon from the kernel's credentials of the socket's peer, before
 * anything is appended. Three roles, each including the ones below it:
 *
 *   admin     root (uid 0) and members of group `kukeon-admin`: everything. Root-equivalent: it may start privileged
 *             containers, bind any host path, work in the system realm.
 *   operator  members of group `kukeon` (the socket's group): workloads in user realms (spaces, stacks, cells:
 *             create, apply, start, stop, kill, restart, delete), but nothing that reaches the host (see
 *             {@link templateDemands}) and nothing in the system realm.
 *   viewer    members of group `kukeon-view`: reads only (get, history, usage, version). The socket is 0660
 *             root:kukeon, so a viewer is a member of `kukeon` too: `kukeon-view` narrows that membership to reads.
 *
 * Everyone else is refused by the kernel at the socket. Group names are settings (src/settings.ts), so tests use
 * groups of their own.
 *
 * The parts:
 * - {@link RULES}: one rule per RPC, typed over every method of `pb.KukeonServiceServer`, so that an RPC without a
 *   rule does not compile. A rule gives the least role that may call it and, optionally, `demands`: what the request
 *   asks for that needs more (a privileged container asks for admin).
 * - Content checks other parts call from their own rules: {@link templateDemands} (a cell template),
 *   {@link realmDemands} (the system realm needs admin), {@link manifestDemands} (every document of an apply, checked
 *   before any is applied), {@link cellDemands} (acting on an existing cell: start, exec, attach). A new container
 *   field that reaches the host belongs in {@link containerDemands}. A bidirectional stream's handler checks its first
 *   message with {@link Authorizer.check} before acting on it (the server's wrappers check unary and server-streaming
 *   requests themselves).
 * - {@link decide}: the pure policy `(role, method, request, context) → allowed | denied(what, needed role)`.
 * - {@link Authorizer}: what the server calls. It reads the caller's groups, decides, records each denial as an
 *   `AccessDenied` event on the daemon's stream (shown by `kuke history daemon`), and throws PermissionDenied with one
 *   line naming what was asked and who may: `permission denied: privileged containers need root or group kukeon-admin`.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Actor } from '../../events/record.js';
import type { CellTemplate, ContainerTemplate } from '../../events/specs.js';
import { ErrorKind, KukeError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseManifests, type Manifest } from '../model/manifest.js';
import { DEFAULT_CAPABILITIES } from '../model/security.js';
import { LEGACY_SYSTEM_REALM, SYSTEM_REALM } from '../model/names.js';
import type { RealmView } from '../model/resources.js';
import { groupId, groupName } from '../daemon/host.js';
import { cellTemplateFromPb } from './convert.js';
import * as pb from './gen/kukeon/v1/kukeon.js';

/** The roles, least first. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const rank = (role: Role | undefined) => (role === undefined ? -1 : ROLES.indexOf(role));

/** The groups of the roles: names, gids, or `name:gid` (how kuke init hands them to the daemon). */
export interface RoleGroups {
  operator: string;
  admin: string;
  viewer: string;
}

/** A caller as the kernel knows it. */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  /** Supplementary groups (`Groups:` of /proc/<pid>/status). */
  groups: readonly number[];
}

/** The supplementary groups of a live process; empty when it is gone. */
export function processGroups(pid: number, proc = '/proc'): number[] {
  try {
    const line = /^Groups:[ \t]*(.*)$/m.exec(readFileSync(join(proc, String(pid), 'status'), 'utf8'))?.[1] ?? '';
    return line.split(/\s+/).filter((g) => /^\d+$/.test(g)).map(Number);
  } catch {
    return [];
  }
}

/**
 * The role of a caller: root or a member of the admin group → admin; of the viewer group → viewer (it narrows the
 * socket group's membership); of the operator group → operator; else none. `gidOf` resolves a group name (a gid
 * passes through); a group that does not exist gives its role to nobody.
 */
export function roleOf(caller: Caller, groups: RoleGroups, gidOf: (name: string) => number | undefined = groupId): Role | undefined {
  if (caller.uid === 0) return 'admin';
  const mine = new Set([caller.gid, ...caller.groups]);
  const member = (name: string) => {
    const gid = gidOf(name);
    return gid !== undefined && mine.has(gid);
  };
  if (member(groups.admin)) return 'admin';
  if (member(groups.viewer)) return 'viewer';
  if (member(groups.operator)) return 'operator';
  return undefined;
}

/** Something a request asks for that needs at least `role`: `what` reads as the subject of "need(s) root or …". */
export interface Demand {
  what: string;
  role: Role;
  /** `what` is singular ("creating realms needs …"); plural by default ("privileged containers need …"). */
  singular?: boolean;
}

/**
 * Host paths operators may bind-mount: `allowed` directories (as the admin gave them), and `resolve`, which gives
 * the real host path of a path (`..` and symlinks resolved, as the kernel would when binding it), or undefined when it
 * cannot be resolved (a missing component, a symlink loop).
 */
export interface BindPolicy {
  allowed: readonly string[];
  resolve(path: string): string | undefined;
}

/**
 * Resolves `path` as the host sees it, under `root` (`/proc/1/root` in the daemon's cell: the host's root through its
 * init, whose absolute symlinks must be followed from that root, not from the daemon's). `..` and symlinks are
 * resolved component by component, as the kernel does when it binds the path. Undefined when a component does not
 * exist (runc could not bind it, and what is made there later is not what was checked) or after 40 links (ELOOP).
 */
export function resolveHostPath(path: string, root = '/'): string | undefined {
  const todo = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const at = join(root, ...done, part);
    let target: string | undefined;
    try {
      if (lstatSync(at).isSymbolicLink()) target = readlinkSync(at);
    } catch {
      return undefined;
    }
    if (target === undefined) {
      done.push(part);
      continue;
    }
    if (++links > 40) return undefined;
    todo.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
    if (target.startsWith('/')) done.length = 0;
  }
  return `/${done.join('/')}`;
}

/** Whether `path` is `dir` or under it (both resolved). */
function within(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

/** What one container asks for that needs admin. Give a new field that reaches the host its line here. */
export function containerDemands(container: ContainerTemplate, bind: BindPolicy): Demand[] {
  const out: Demand[] = [];
  const admin = (what: string) => out.push({ what, role: 'admin' });
  if (container.privileged) admin('privileged containers');
  if (container.hostPid) admin("containers in the host's PID namespace (hostPID)");
  if (container.hostNetwork) admin("containers on the host's network (hostNetwork)");
  for (const mount of container.mounts) {
    if (mount.type !== 'bind') continue;
    const source = mount.source ?? '';
    const real = source.startsWith('/') ? bind.resolve(source) : undefined;
    const allowed = real !== undefined && bind.allowed.some((dir) => within(real, bind.resolve(dir) ?? dir));
    if (!allowed) admin(`bind mounts of host path ${source || '(none)'}${real && real !== source ? ` (${real})` : ''} ${real === undefined && source.startsWith('/') ? 'that does not resolve' : 'outside the allowed bind paths'} (${bind.allowed.length ? bind.allowed.join(', ') : 'none'})`);
  }
  for (const port of container.ports ?? []) {
    if (port.hostPort !== undefined && port.hostPort < 1024) admin(`host ports below 1024 (${port.hostPort})`);
  }
  // The container security settings (issue 11 item 2): anything beyond Docker's defaults reaches the host.
  for (const cap of container.capabilities?.add ?? []) {
    const name = cap.toUpperCase().replace(/^CAP_/, '');
    if (!DEFAULT_CAPABILITIES.includes(`CAP_${name}`)) admin(`capabilities beyond Docker's default set (${name})`);
  }
  if (container.seccompProfile !== undefined && container.seccompProfile !== 'default') admin(`seccomp profiles other than the default (${container.seccompProfile})`);
  if (container.noNewPrivileges === false) admin('containers that may gain privileges (noNewPrivileges: false)');
  // Devices are not a field yet: checked by name, so that the field cannot arrive unchecked.
  if (((container as { devices?: readonly unknown[] }).devices?.length ?? 0) > 0) admin('host devices');
  return out;
}

/** What a cell template asks for that needs admin (every container's {@link containerDemands}). */
export function templateDemands(template: CellTemplate, bind: BindPolicy): Demand[] {
  return template.containers.flatMap((c) => containerDemands(c, bind));
}

/** Whether `realm` is the system realm (by name, its older name, or the realm marked system). */
export function isSystemRealm(realm: string, realms: readonly RealmView[]): boolean {
  return realm === SYSTEM_REALM || realm === LEGACY_SYSTEM_REALM || realms.some((r) => r.name === realm && r.system);
}

/** Anything in the system realm needs admin. */
export function realmDemands(realm: string, realms: readonly RealmView[]): Demand[] {
  return isSystemRealm(realm, realms) ? [{ what: `changes in the system realm (${realm})`, role: 'admin' }] : [];
}

/** What the daemon knows when it decides: the realms, the cells' templates, the bind allow-list. */
export interface PolicyContext {
  realms(): readonly RealmView[];
  /** The template a cell has now (undefined: no such cell, or none recorded). */
  cellTemplate(ref: { realm: string; space: string; stack: string; cell: string }): CellTemplate | undefined;
  bind: BindPolicy;
}

/** Every document of a manifest: realms need admin; the rest their realm's and their template's demands. */
export function manifestDemands(docs: readonly Manifest[], ctx: PolicyContext): Demand[] {
  return docs.flatMap((doc): Demand[] => {
    switch (doc.kind) {
      case 'Realm':
        return [{ what: 'creating or changing realms', role: 'admin', singular: true }];
      case 'Cell':
        return [...realmDemands(doc.realm, ctx.realms()), ...templateDemands(doc.template, ctx.bind)];
      case 'Container':
        return [...realmDemands(doc.realm, ctx.realms()), ...containerDemands(doc.container, ctx.bind)];
      default:
        return realmDemands(doc.realm, ctx.realms());
    }
  });
}

/** The RPC methods (the generated interface also has an index signature, which is left out). */
export type Method = keyof { [K in keyof pb.KukeonServiceServer as string extends K ? never : K]: true };

/**
 * The request message of a method; for a bidirectional one (Exec), its first message, which the handler checks
 * before it reads any other.
 */
export type RequestOf<M extends Method> = Parameters<pb.KukeonServiceServer[M]>[0] extends { request: infer R }
  ? R
  : Parameters<pb.KukeonServiceServer[M]>[0] extends ServerDuplexStream<infer R, unknown>
    ? R
    : undefined;

/** One RPC's rule: the least role that may call it, what it does (for the message), and its content's demands. */
export interface Rule<Req> {
  role: Role;
  /** Reads as the subject of "needs …" (`creating cells`). */
  action: string;
  demands?: (request: Req, ctx: PolicyContext) => Demand[];
}

type Rules = { [M in Method]: Rule<RequestOf<M>> };

/** The cell a request names. */
function cellOf(ref: pb.CellRef | undefined) {
  return { realm: ref?.realm ?? '', space: ref?.space ?? '', stack: ref?.stack ?? '', cell: ref?.cell ?? '' };
}

/**
 * What acting on a running cell asks for: its realm's demands and what its recorded template asks for. Starting,
 * restarting, exec and attach use it: an admin's privileged cell is started, and entered, by an admin only (a
 * process exec'd there would be as privileged as the cell).
 */
export function cellDemands(ref: pb.CellRef | undefined, ctx: PolicyContext): Demand[] {
  const cell = cellOf(ref);
  const template = ctx.cellTemplate(cell);
  return [...realmDemands(cell.realm, ctx.realms()), ...(template ? templateDemands(template, ctx.bind) : [])];
}

/**
 * The rule of every RPC. Reads are for viewers, workloads for operators; realms (containerd namespaces, the tenancy
 * boundary) are made and removed by admins.
 */
export const RULES: Rules = {
  ping: { role: 'viewer', action: 'asking the daemon its version' },
  find: { role: 'viewer', action: 'reading resources' },
  usage: { role: 'viewer', action: 'reading usage' },
  readHistory: { role: 'viewer', action: 'reading history' },
  watchHistory: { role: 'viewer', action: 'reading history' },
  verifyLog: { role: 'viewer', action: 'verifying the event log' },
  createRealm: { role: 'admin', action: 'creating realms' },
  createSpace: { role: 'operator', action: 'creating spaces', demands: (r, ctx) => realmDemands(r.realm, ctx.realms()) },
  createStack: { role: 'operator', action: 'creating stacks', demands: (r, ctx) => realmDemands(r.realm, ctx.realms()) },
  createCell: {
    role: 'operator',
    action: 'creating cells',
    demands: (r, ctx) => [...realmDemands(r.realm, ctx.realms()), ...templateDemands(cellTemplateFromPb(r.template), ctx.bind)],
  },
  applyManifest: { role: 'operator', action: 'applying manifests', demands: (r, ctx) => manifestDemands(parseManifests(r.manifest), ctx) },
  delete: {
    role: 'operator',
    action: 'deleting resources',
    demands: (r, ctx) => (r.ref?.kind === pb.Kind.KIND_REALM ? [{ what: 'deleting realms', role: 'admin', singular: true }] : realmDemands(r.ref?.realm ?? '', ctx.realms())),
  },
  startCell: { role: 'operator', action: 'starting cells', demands: (r, ctx) => cellDemands(r.cell, ctx) },
  restartCell: { role: 'operator', action: 'restarting cells', demands: (r, ctx) => cellDemands(r.cell, ctx) },
  stopCell: { role: 'operator', action: 'stopping cells', demands: (r, ctx) => realmDemands(cellOf(r.cell).realm, ctx.realms()) },
  // secrets (issue 11): operators keep their workloads' secrets, in user realms; a list shows names and keys only.
  putSecret: { role: 'operator', action: 'creating secrets', demands: (r, ctx) => realmDemands(r.realm, ctx.realms()) },
  listSecrets: { role: 'viewer', action: 'listing secrets' },
  deleteSecret: { role: 'operator', action: 'deleting secrets', demands: (r, ctx) => realmDemands(r.realm, ctx.realms()) },
  // exec (issue 12): a shell in a workload is an operator's; one in the system realm (the daemon's own cell), or in a
  // cell whose template needs admin (privileged, host namespaces, host binds), an admin's: it would be as privileged.
  exec: { role: 'operator', action: 'running commands in containers', demands: (r, ctx) => cellDemands(r.start?.cell, ctx) },
  // logs (issue 12): a read, like history (the daemon's own cell included).
  logs: { role: 'viewer', action: 'reading container logs' },
};

/** The outcome of {@link decide}. */
export type Decision = { allowed: true } | { allowed: false; what: string; needed: Role; singular: boolean };

/**
 * The policy: whether a caller of `role` may make `request` to `method`. Pure but for what `ctx` reads. Throws what a
 * content check throws on a malformed request (an apply's manifest that does not parse: InvalidArgument).
 */
export function decide<M extends Method>(role: Role | undefined, method: M, request: RequestOf<M>, ctx: PolicyContext): Decision {
  // An admin may do everything: nothing to read or parse.
  if (role === 'admin') return { allowed: true };
  const rule = RULES[method] as Rule<RequestOf<M>>;
  if (rank(role) < rank(rule.role)) return { allowed: false, what: rule.action, needed: rule.role, singular: true };
  const over = (rule.demands?.(request, ctx) ?? []).find((d) => rank(role) < rank(d.role));
  return over ? { allowed: false, what: over.what, needed: over.role, singular: over.singular === true } : { allowed: true };
}

/** Who may, in words: `root or group kukeon-admin` (groups given as `name:gid` are named). */
export function whoMay(role: Role, given: RoleGroups): string {
  const groups = { operator: groupName(given.operator), admin: groupName(given.admin), viewer: groupName(given.viewer) };
  switch (role) {
    case 'admin':
      return `root or group ${groups.admin}`;
    case 'operator':
      return `group ${groups.operator} or ${groups.admin}`;
    case 'viewer':
      return `group ${groups.operator}, ${groups.viewer} or ${groups.admin}`;
  }
}

/** The one line of a denial. */
export function denialMessage(decision: Extract<Decision, { allowed: false }>, groups: RoleGroups): string {
  return `permission denied: ${decision.what} ${decision.singular ? 'needs' : 'need'} ${whoMay(decision.needed, groups)}`;
}

/** A denial as the log records it (the AccessDenied event's payload; the caller is the event's actor). */
export interface DenialRecord {
  method: string;
  /** The resource asked about, when the request names one (`cell default/default/default/web`). */
  target?: string;
  /** What was refused, and the role of the caller and the one needed. */
  what: string;
  role: Role | 'none';
  needed: Role;
  /** Denials of this caller not recorded before this one (the per-uid rate limit). */
  suppressed?: number;
}

/** The resource a request names, for the record. */
function targetOf(request: unknown): string | undefined {
  type Named = { ref?: pb.Ref; cell?: pb.CellRef; realm?: string; space?: string; stack?: string; name?: string };
  const asked = request as (Named & { start?: Named | boolean }) | undefined;
  // Exec's first message names its cell in `start` (CreateCell's `start` is a flag).
  const r = typeof asked?.start === 'object' ? asked.start : asked;
  if (!r) return undefined;
  if (r.ref) return [r.ref.realm, r.ref.space, r.ref.stack, r.ref.cell, r.ref.name].filter(Boolean).join('/') || undefined;
  if (r.cell) return [r.cell.realm, r.cell.space, r.cell.stack, r.cell.cell].filter(Boolean).join('/');
  if (typeof r.name === 'string') return [r.realm, r.space, r.stack, r.name].filter(Boolean).join('/');
  return undefined;
}

/** Options of {@link Authorizer}. */
export interface AuthorizerOptions {
  groups: RoleGroups;
  context: PolicyContext;
  /** Appends the denial (AccessDenied on the daemon's stream) as `actor`. */
  record(denial: DenialRecord, actor: Actor): Promise<void>;
  logger: Logger;
  /** The caller's supplementary groups (tests replace /proc). */
  groupsOf?: (pid: number) => number[];
  /** Resolves a group name (a gid passes through). */
  gidOf?: (name: string) => number | undefined;
  /** Clock of the rate limit, in ms. */
  now?: () => number;
}

/** Denials recorded per uid: a burst of this many, then one per REFILL_MS; the others are counted in the next. */
const BURST = 20;
const REFILL_MS = 3_000;

/** What the daemon's server calls before serving a request. */
export class Authorizer {
  private readonly buckets = new Map<number, { tokens: number; at: number; suppressed: number }>();

  constructor(private readonly options: AuthorizerOptions) {}

  /**
   * Resolves when `caller` may make `request`; otherwise records the denial and throws PermissionDenied. A caller
   * the kernel could not name is refused (and not recorded: there is nobody to record).
   */
  async check<M extends Method>(method: M, request: RequestOf<M>, caller: { uid: number; gid: number; pid: number } | undefined, actor: Actor): Promise<void> {
    const { groups, context } = this.options;
    if (!caller) {
      throw new KukeError(ErrorKind.PermissionDenied, 'permission denied: the daemon cannot tell who is calling', { hint: "see the daemon's log (sudo kuke daemon logs): ss from iproute2 is needed" });
    }
    const full: Caller = { ...caller, groups: (this.options.groupsOf ?? processGroups)(caller.pid) };
    const role = roleOf(full, groups, this.options.gidOf);
    const decision = decide(role, method, request, context);
    if (decision.allowed) return;
    const message = denialMessage(decision, groups);
    const target = targetOf(request);
    const denial: DenialRecord = { method, ...(target ? { target } : {}), what: decision.what, role: role ?? 'none', needed: decision.needed };
    this.options.logger.info({ method, uid: caller.uid, pid: caller.pid, role: denial.role, needed: decision.needed, what: decision.what }, 'request denied');
    const suppressed = this.take(caller.uid);
    if (suppressed !== undefined) {
      await this.options.record({ ...denial, ...(suppressed ? { suppressed } : {}) }, actor).catch((err: unknown) => this.options.logger.warn({ err }, 'could not record a denial'));
    }
    throw new KukeError(ErrorKind.PermissionDenied, message);
  }

  /** Takes a token of `uid`'s bucket: the count of denials suppressed since its last record, or undefined when empty. */
  private take(uid: number): number | undefined {
    const now = (this.options.now ?? Date.now)();
    const b = this.buckets.get(uid) ?? { tokens: BURST, at: now, suppressed: 0 };
    b.tokens = Math.min(BURST, b.tokens + (now - b.at) / REFILL_MS);
    b.at = now;
    this.buckets.set(uid, b);
    if (b.tokens < 1) {
      b.suppressed++;
      return undefined;
    }
    b.tokens--;
    const suppressed = b.suppressed;
    b.suppressed = 0;
    return suppressed;
  }
}
