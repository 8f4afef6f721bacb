/**
 * Bootstrapping a host (`kuke init`, in-process, as root): the default realm for workloads and the system realm
 * `kukeon-system` whose cell `kukeond` runs the daemon. Idempotent: what exists is reported as such and left alone.
 * A host bootstrapped by an older version (system namespace `kuke-system.<suffix>`) is adopted, not duplicated.
 *
 * Also the daemon's own lifecycle (`kuke daemon start|stop|kill|restart|recreate|reset`): the kukeond cell managed
 * in-process like any other cell, because the daemon cannot stop itself.
 */
import { chownSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Actor } from '../../events/record.js';
import { runLayout } from '../engine/config.js';
import type { OpenedEngine } from '../engine/index.js';
import { ensurePrivateDirs } from '../engine/private-dirs.js';
import { ErrorKind, KukeError, isKukeError } from '../errors.js';
import type { Logger } from '../log.js';
import { DEFAULT_REALM, DEFAULT_SPACE, DEFAULT_STACK, LEGACY_SYSTEM_REALM, SYSTEM_CELL, SYSTEM_REALM, SYSTEM_SPACE, SYSTEM_STACK } from '../model/names.js';
import type { CellView } from '../model/resources.js';
import type { Runtime } from '../runtime/ports.js';
import type { HostSettings } from '../settings.js';
import { daemonCellTemplate, type DaemonGroups } from '../daemon/cell-template.js';
import { groupId } from '../daemon/host.js';
import { buildDaemonImage, daemonImageRef } from '../daemon/image.js';
import { DEFAULT_RUNC_ROOT } from '../runtime/containerd/runc-state.js';
import { pingDaemon } from './grpc-client.js';
import type { InProcessClient } from './in-process.js';

/** One line of the report: what, and what happened to it. */
export interface BootstrapAction {
  group: 'Default hierarchy' | 'System hierarchy' | 'Permissions';
  what: string;
  outcome: string;
  /** Whether something changed. */
  changed: boolean;
}

/** What `kuke init` did. */
export interface BootstrapReport {
  changed: boolean;
  realm: { name: string; namespace: string };
  systemRealm: { name: string; namespace: string; adopted: boolean };
  image: string;
  actions: BootstrapAction[];
  /** Set when the daemon answered at the end. */
  daemon?: { version: string; pid: number };
}

/** Options of {@link bootstrapHost}. */
export interface BootstrapOptions {
  settings: HostSettings;
  client: InProcessClient;
  logger: Logger;
  /** An image reference present in the system namespace, or an OCI tar to import (default: build this version's). */
  kukeondImage?: string;
  /** Wait for the daemon to answer (default true). */
  wait?: boolean;
  onProgress?: (line: string) => void;
}

const SYSTEM_CELL_REF = { realm: SYSTEM_REALM, space: SYSTEM_SPACE, stack: SYSTEM_STACK, cell: SYSTEM_CELL };

/** Fails unless this process is root. */
export function requireRoot(command: string): void {
  if (process.getuid?.() !== 0) {
    throw new KukeError(ErrorKind.PermissionDenied, `${command} must run as root: it writes to root-owned paths and manages containerd, cgroups and networks`, {
      hint: `re-run with: sudo ${command}`,
    });
  }
}

/** Fails unless containerd's socket exists. */
export function requireContainerd(settings: HostSettings): void {
  if (!existsSync(settings.containerdSocket)) {
    throw new KukeError(ErrorKind.FailedPrecondition, `containerd's socket ${settings.containerdSocket} does not exist`, {
      hint: 'start containerd (apt-get install containerd), or point --containerd-socket at it',
    });
  }
}

/** Creates a system group unless it exists (a gid passes through); returns its gid and whether it was created. */
async function ensureGroup(name: string): Promise<{ gid: number | undefined; created: boolean }> {
  const existing = groupId(name);
  if (existing !== undefined) return { gid: existing, created: false };
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) => execFile('groupadd', ['--system', name], (err) => (err ? reject(err) : resolve()))).catch((err) => {
    throw new KukeError(ErrorKind.Internal, `could not create group ${name}: ${(err as Error).message}`);
  });
  return { gid: groupId(name), created: true };
}

/** The role groups as `kuke init` made or found them (src/api/authorization.ts says what each may do). */
export interface EnsuredGroups extends DaemonGroups {
  /** Per group: its name, gid and whether it was created now. */
  report: { name: string; role: string; gid: number | undefined; created: boolean }[];
}

/** Ensures the groups of the three roles: `kukeon` (the socket's: operators), `kukeon-admin` and `kukeon-view`. */
export async function ensureGroups(settings: HostSettings): Promise<EnsuredGroups> {
  const socket = await ensureGroup(settings.socketGroup);
  const admin = await ensureGroup(settings.adminGroup);
  const view = await ensureGroup(settings.viewGroup);
  return {
    socket: socket.gid,
    admin: admin.gid,
    view: view.gid,
    report: [
      { name: settings.socketGroup, role: 'operators: workloads in user realms', ...socket },
      { name: settings.adminGroup, role: 'admins: everything, root-equivalent', ...admin },
      { name: settings.viewGroup, role: 'viewers: read-only', ...view },
    ],
  };
}

/**
 * The host directories the daemon's cell binds that may be missing (a reboot empties /run), made before the cell
 * starts: the socket's (0750 root:kukeon), and runc's state root, which runc itself creates only with its first
 * container (the daemon's own is that first one).
 */
export function ensureDaemonDirs(settings: HostSettings): void {
  const dir = dirname(settings.socket);
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const gid = groupId(settings.socketGroup);
  if (gid !== undefined) chownSync(dir, 0, gid);
  mkdirSync(settings.runcRoot ?? DEFAULT_RUNC_ROOT, { recursive: true, mode: 0o711 });
}

/** The image to run: an imported tar, an existing reference, or this version's image built from the package. */
export async function resolveDaemonImage(runtime: Runtime, namespace: string, settings: HostSettings, requested: string | undefined, onProgress?: (line: string) => void): Promise<{ ref: string; imported: boolean }> {
  if (requested && !existsSync(requested)) {
    await runtime.containers.resolveImage(namespace, requested).catch((err) => {
      if (isKukeError(err, ErrorKind.NotFound)) {
        throw new KukeError(ErrorKind.NotFound, `kukeond image ${requested} is not in namespace ${namespace}`, { hint: 'pass an OCI image tar with --kukeond-image <file>, or omit it to build this version\'s image' });
      }
      throw err;
    });
    return { ref: requested, imported: false };
  }
  let tar = requested;
  let built = false;
  if (!tar) {
    const ref = daemonImageRef();
    const present = await runtime.containers.resolveImage(namespace, ref).then(() => true, () => false);
    if (present) return { ref, imported: false };
    onProgress?.(`building ${ref}`);
    tar = buildDaemonImage(join(runLayout(settings.engine.runPath).images, `kukeond-${ref.split(':')[1]}.tar`), (step) => onProgress?.(`  ${step}`), ref).path;
    built = true;
  }
  onProgress?.(`importing ${tar} into ${namespace}`);
  let last = 0;
  const [image] = await runtime.containers.importImage(namespace, tar, {
    onProgress: (p) => {
      const pct = p.total ? Math.floor((p.done / p.total) * 10) : 10;
      if (p.total > 8 << 20 && pct !== last) {
        last = pct;
        onProgress?.(`  ${p.item.slice(0, 19)}… ${pct * 10}%`);
      }
    },
  });
  if (!image) throw new KukeError(ErrorKind.InvalidArgument, `${tar} holds no image`);
  // containerd holds it now; a tar of ours (about 120 MB) would only pile up, one per build.
  if (built) rmSync(tar, { force: true });
  return { ref: image.name, imported: true };
}

/** Waits until kukeond answers on its socket. */
export async function waitForDaemon(settings: HostSettings, timeoutMs = 60_000): Promise<{ version: string; pid: number }> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      return await pingDaemon(settings.socket, 1_000);
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new KukeError(ErrorKind.DeadlineExceeded, `kukeond did not answer on ${settings.socket} within ${Math.round(timeoutMs / 1000)} s (${(lastError as Error)?.message ?? 'no answer'})`, {
    hint: `see what it said: sudo kuke daemon logs (${settings.daemonLogFile})`,
  });
}

function outcome(created: boolean): string {
  return created ? 'created' : 'already existed';
}

/** Runs `kuke init`. The caller has checked root and containerd. */
export async function bootstrapHost(options: BootstrapOptions): Promise<BootstrapReport> {
  const { settings, client } = options;
  const suffix = settings.engine.namespaceSuffix;
  const actions: BootstrapAction[] = [];
  const act = (group: BootstrapAction['group'], what: string, text: string, changed: boolean) => actions.push({ group, what, outcome: text, changed });

  const groups = await ensureGroups(settings);
  for (const g of groups.report) act('Permissions', `group ${g.name}${g.gid !== undefined ? ` (gid ${g.gid})` : ''} (${g.role})`, outcome(g.created), g.created);
  mkdirSync(settings.engine.runPath, { recursive: true, mode: 0o750 });
  ensurePrivateDirs(settings.engine.runPath);
  ensureDaemonDirs(settings);

  const report: BootstrapReport = await client.session(
    async (opened: OpenedEngine, runtime: Runtime, actor: Actor) => {
      const ops = opened.operations;
      const o = { actor };
      const realm = await ops.createRealm({ name: DEFAULT_REALM }, o);
      act('Default hierarchy', `realm "${DEFAULT_REALM}" (namespace ${realm.view.namespace})`, outcome(realm.created), realm.created);
      const space = await ops.createSpace({ realm: DEFAULT_REALM, space: DEFAULT_SPACE }, o);
      act('Default hierarchy', `space "${DEFAULT_SPACE}" (network ${space.view.network.name}, ${space.view.network.subnet})`, outcome(space.created), space.created);
      const stack = await ops.createStack({ realm: DEFAULT_REALM, space: DEFAULT_SPACE, stack: DEFAULT_STACK }, o);
      act('Default hierarchy', `stack "${DEFAULT_STACK}"`, outcome(stack.created), stack.created);

      // An older host's system namespace is adopted as the system realm's, not duplicated.
      const known = ops.listRealms().find((r) => r.name === SYSTEM_REALM);
      const legacy = `${LEGACY_SYSTEM_REALM}.${suffix}`;
      const adopt = !known && (await runtime.containers.listNamespaces()).some((n) => n.name === legacy);
      const system = await ops.createRealm({ name: SYSTEM_REALM, system: true, ...(adopt ? { namespace: legacy } : {}) }, o);
      const adopted = adopt || system.view.namespace === legacy;
      act('System hierarchy', `realm "${SYSTEM_REALM}" (namespace ${system.view.namespace})`, adopt ? `adopted from ${LEGACY_SYSTEM_REALM}` : outcome(system.created), system.created);
      const sysSpace = await ops.createSpace({ realm: SYSTEM_REALM, space: SYSTEM_SPACE }, o);
      act('System hierarchy', `space "${SYSTEM_SPACE}" (network ${sysSpace.view.network.name}, ${sysSpace.view.network.subnet})`, outcome(sysSpace.created), sysSpace.created);
      const sysStack = await ops.createStack({ realm: SYSTEM_REALM, space: SYSTEM_SPACE, stack: SYSTEM_STACK }, o);
      act('System hierarchy', `stack "${SYSTEM_STACK}"`, outcome(sysStack.created), sysStack.created);

      const image = await resolveDaemonImage(runtime, system.view.namespace, settings, options.kukeondImage, options.onProgress);
      act('System hierarchy', `image ${image.ref}`, image.imported ? 'imported' : 'already present', image.imported);
      const template = daemonCellTemplate(settings, image.ref, groups);
      const cell = await ensureDaemonCell(ops, template, o);
      act('System hierarchy', `cell "${SYSTEM_CELL}"`, cell.outcome, cell.changed);
      act('System hierarchy', 'cell containers', cell.view.state === 'Ready' ? (cell.changed ? 'started' : 'already running') : cell.view.state, cell.changed);
      return {
        changed: actions.some((a) => a.changed),
        realm: { name: DEFAULT_REALM, namespace: realm.view.namespace },
        systemRealm: { name: SYSTEM_REALM, namespace: system.view.namespace, adopted },
        image: image.ref,
        actions,
      };
    },
    { create: true },
  );
  if (options.wait !== false) report.daemon = await waitForDaemon(settings);
  return report;
}

/** Creates, updates (image drift) or starts the kukeond cell so that it runs `template`. */
async function ensureDaemonCell(ops: OpenedEngine['operations'], template: ReturnType<typeof daemonCellTemplate>, o: { actor: Actor }): Promise<{ view: CellView; outcome: string; changed: boolean }> {
  const existing = ops.query({ kind: 'cell', realm: SYSTEM_REALM, space: SYSTEM_SPACE, stack: SYSTEM_STACK }).find((c) => c.name === SYSTEM_CELL) as CellView | undefined;
  const before = existing?.template?.containers[0]?.image;
  const result = await ops.applyCell({ ...SYSTEM_CELL_REF, template }, o);
  const after = template.containers[0]!.image;
  if (result.action === 'created') return { view: result.view, outcome: `created (image ${after})`, changed: true };
  if (result.action === 'unchanged') return { view: result.view, outcome: 'already existed', changed: false };
  if (before && before !== after) return { view: result.view, outcome: `recreated (image drift: ${before} → ${after})`, changed: true };
  return { view: result.view, outcome: `updated (${result.changes.join('; ')})`, changed: true };
}

/** Removes the socket and pid file a dead daemon left behind. Returns what it removed. */
export function removeDaemonFiles(settings: HostSettings): string[] {
  const removed: string[] = [];
  for (const path of [settings.socket, settings.pidFile]) {
    if (existsSync(path)) {
      rmSync(path, { force: true });
      removed.push(path);
    }
  }
  return removed;
}

export { SYSTEM_CELL_REF };
