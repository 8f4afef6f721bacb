/**
 * The ContainerRuntime port over containerd's gRPC API (1.6+). Follows the safe order containerd does not enforce:
 * Kill → Wait → Tasks.Delete → Snapshots.Remove → Containers.Delete (deleting a container under a running task
 * orphans it). Creates and deletes are idempotent: AlreadyExists on create and NotFound on delete are success.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { constants as osConstants } from 'node:os';
import { ErrorKind, KukeError, isKukeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type {
  ContainerRecord,
  ContainerRuntime,
  ContainerSpec,
  ImageInfo,
  ImportProgress,
  Labels,
  Subscription,
  TaskExit,
  TaskInfo,
  TaskStatus,
} from '../ports.js';
import { Connection } from './connection.js';
import { watchTaskExits } from './events.js';
import type { Container } from './gen/containerd/services/containers/v1/containers.js';
import { Status, type Process } from './gen/containerd/services/tasks/v1/tasks.js';
import type { Timestamp } from './gen/google/protobuf/timestamp.js';
import { ImageService } from './images.js';
import { buildOciSpec, capabilitiesFromMask } from './oci-spec.js';

const SPEC_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
/** Label holding the file that receives a container's stdout and stderr. */
export const LOG_PATH_LABEL = 'kukeon.io/log-path';

/** Options of {@link ContainerdRuntime}. */
export interface ContainerdOptions {
  /** containerd's socket path. */
  address: string;
  logger?: Logger;
  snapshotter?: string;
  runtimeName?: string;
  /** Suffix of the namespaces whose task exits are watched (default kukeon.io). */
  namespaceSuffix?: string;
}

let capabilities: string[] | undefined;
/** What this process may grant (runc runs with the same bounding set as containerd, which we assume alike). */
function hostCapabilities(): string[] | undefined {
  if (capabilities) return capabilities;
  try {
    const mask = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (mask) capabilities = capabilitiesFromMask(mask);
  } catch {
    // not Linux-like: let runc decide
  }
  return capabilities;
}

function timestamp(ts: Timestamp | undefined): string | undefined {
  if (!ts || ts.seconds <= 0) return undefined;
  return new Date(ts.seconds * 1000 + Math.floor(ts.nanos / 1e6)).toISOString();
}

const STATUS: Record<number, TaskStatus> = { [Status.CREATED]: 'created', [Status.RUNNING]: 'running', [Status.STOPPED]: 'stopped', [Status.PAUSED]: 'paused', [Status.PAUSING]: 'paused' };

function signalNumber(signal: NodeJS.Signals | number): number {
  if (typeof signal === 'number') return signal;
  const n = osConstants.signals[signal];
  if (n === undefined) throw new KukeError(ErrorKind.InvalidArgument, `unknown signal ${signal}`);
  return n;
}

/** containerd as the engine's ContainerRuntime. */
export class ContainerdRuntime implements ContainerRuntime {
  readonly conn: Connection;
  private readonly images: ImageService;
  private readonly snapshotter: string;
  private readonly runtimeName: string;

  constructor(private readonly options: ContainerdOptions) {
    this.conn = new Connection(options.address);
    this.snapshotter = options.snapshotter ?? 'overlayfs';
    this.runtimeName = options.runtimeName ?? 'io.containerd.runc.v2';
    this.images = new ImageService(this.conn, this.snapshotter);
  }

  async version() {
    const res = await this.conn.call(this.conn.version, this.conn.version.version, {}, this.conn.meta(), 'containerd version', { timeoutMs: 5_000 });
    return { version: res.version, revision: res.revision };
  }

  // ---------------------------------------------------------------------------------------------- namespaces

  async listNamespaces() {
    const { namespaces } = await this.conn.call(this.conn.namespaces, this.conn.namespaces.list, { filter: '' }, this.conn.meta(), 'listing namespaces');
    return namespaces.map((n) => ({ name: n.name, labels: n.labels }));
  }

  async ensureNamespace(namespace: string, labels: Labels = {}) {
    // Namespaces.Get never says NotFound; List tells. Create needs the header too (it publishes an event).
    if ((await this.listNamespaces()).some((n) => n.name === namespace)) return { created: false };
    try {
      await this.conn.call(this.conn.namespaces, this.conn.namespaces.create, { namespace: { name: namespace, labels } }, this.conn.meta(namespace), `creating namespace ${namespace}`);
      return { created: true };
    } catch (err) {
      if (isKukeError(err, ErrorKind.AlreadyExists)) return { created: false };
      throw err;
    }
  }

  async deleteNamespace(namespace: string): Promise<void> {
    if (!(await this.listNamespaces()).some((n) => n.name === namespace)) return;
    const containers = await this.listContainers(namespace);
    if (containers.length > 0) {
      throw new KukeError(ErrorKind.FailedPrecondition, `namespace ${namespace} is not empty: ${containers.length} container(s) remain (${containers.slice(0, 3).map((c) => c.id).join(', ')})`, {
        hint: 'delete the cells of the realm first (kuke delete realm --cascade)',
      });
    }
    // What kukeon itself put there (images, leases) goes; the garbage collector takes content and snapshots.
    for (const image of (await this.conn.call(this.conn.images, this.conn.images.list, { filters: [] }, this.conn.meta(namespace), `listing images in ${namespace}`)).images) {
      await this.images.delete(namespace, image.name);
    }
    const { leases } = await this.conn.call(this.conn.leases, this.conn.leases.list, { filters: [] }, this.conn.meta(namespace), `listing leases in ${namespace}`);
    for (const lease of leases) {
      await this.conn.call(this.conn.leases, this.conn.leases.delete, { id: lease.id, sync: true }, this.conn.meta(namespace), `deleting lease ${lease.id}`).catch(() => undefined);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.conn.call(this.conn.namespaces, this.conn.namespaces.delete, { name: namespace }, this.conn.meta(namespace), `deleting namespace ${namespace}`);
        return;
      } catch (err) {
        if (isKukeError(err, ErrorKind.NotFound)) return;
        // Content and snapshots go with the next (asynchronous) garbage collection: give it a moment.
        if (isKukeError(err, ErrorKind.FailedPrecondition) && attempt < 20) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        if (isKukeError(err, ErrorKind.FailedPrecondition)) {
          throw new KukeError(ErrorKind.FailedPrecondition, `namespace ${namespace} is not empty: ${err.message}`, { hint: 'something outside kukeon left objects there; remove them with ctr', cause: err });
        }
        throw err;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------- images

  importImage(namespace: string, tarPath: string, options?: { name?: string; onProgress?: (p: ImportProgress) => void }): Promise<ImageInfo[]> {
    return this.images.importTar(namespace, tarPath, options);
  }

  resolveImage(namespace: string, ref: string): Promise<ImageInfo> {
    return this.images.resolve(namespace, ref);
  }

  listImages(namespace: string): Promise<ImageInfo[]> {
    return this.images.list(namespace);
  }

  deleteImage(namespace: string, ref: string): Promise<void> {
    return this.images.delete(namespace, ref);
  }

  // ---------------------------------------------------------------------------------------------- containers

  private async record(namespace: string, id: string): Promise<Container | null> {
    try {
      const res = await this.conn.call(this.conn.containers, this.conn.containers.get, { id }, this.conn.meta(namespace), `container ${id}`);
      return res.container ?? null;
    } catch (err) {
      if (isKukeError(err, ErrorKind.NotFound)) return null;
      throw err;
    }
  }

  async createContainer(spec: ContainerSpec): Promise<{ created: boolean }> {
    const image = await this.images.resolve(spec.namespace, spec.image);
    const oci = buildOciSpec(spec, image.config, { available: hostCapabilities() });
    mkdirSync(dirname(spec.logPath), { recursive: true });
    const container: Container = {
      id: spec.id,
      // The task's log file is chosen at create time; startTask finds it here.
      labels: { ...spec.labels, [LOG_PATH_LABEL]: spec.logPath },
      image: spec.image,
      runtime: { name: this.runtimeName, options: undefined },
      spec: { typeUrl: SPEC_TYPE, value: Buffer.from(JSON.stringify(oci)) },
      snapshotter: this.snapshotter,
      snapshotKey: spec.id,
      createdAt: undefined,
      updatedAt: undefined,
      extensions: {},
    };
    let existing = await this.record(spec.namespace, spec.id);
    if (existing && existing.image !== spec.image) {
      // Another image means another rootfs: the old record and snapshot go, a new pair comes.
      await this.deleteContainer(spec.namespace, spec.id);
      existing = null;
    }
    if (existing) {
      const same = Buffer.from(existing.spec?.value ?? new Uint8Array()).equals(Buffer.from(container.spec!.value)) && JSON.stringify(existing.labels) === JSON.stringify(container.labels);
      if (same) {
        await this.ensureSnapshot(spec.namespace, spec.id, image.chainId);
        return { created: false };
      }
      // Same id: keep the record and its rootfs, refresh the spec (e.g. the network namespace to join) and labels.
      await this.conn.call(this.conn.containers, this.conn.containers.update, { container, updateMask: ['spec', 'labels', 'image'] }, this.conn.meta(spec.namespace), `updating container ${spec.id}`);
      await this.ensureSnapshot(spec.namespace, spec.id, image.chainId);
      return { created: false };
    }
    // Container first, then its snapshot: an unreferenced snapshot can be garbage-collected in between.
    try {
      await this.conn.call(this.conn.containers, this.conn.containers.create, { container }, this.conn.meta(spec.namespace), `creating container ${spec.id}`);
    } catch (err) {
      if (!isKukeError(err, ErrorKind.AlreadyExists)) throw err;
    }
    await this.ensureSnapshot(spec.namespace, spec.id, image.chainId);
    return { created: true };
  }

  private async ensureSnapshot(namespace: string, key: string, parent: string): Promise<void> {
    try {
      await this.conn.call(this.conn.snapshots, this.conn.snapshots.prepare, { snapshotter: this.snapshotter, key, parent, labels: {} }, this.conn.meta(namespace), `preparing rootfs of ${key}`);
    } catch (err) {
      if (!isKukeError(err, ErrorKind.AlreadyExists)) throw err;
    }
  }

  async deleteContainer(namespace: string, id: string): Promise<void> {
    const task = await this.getTask(namespace, id);
    if (task && task.status !== 'stopped' && task.status !== 'created') {
      throw new KukeError(ErrorKind.FailedPrecondition, `container ${id} still has a running task (pid ${task.pid})`, { hint: 'stop it first' });
    }
    if (task) await this.deleteTask(namespace, id);
    await this.conn.call(this.conn.snapshots, this.conn.snapshots.remove, { snapshotter: this.snapshotter, key: id }, this.conn.meta(namespace), `removing rootfs of ${id}`).catch((err) => {
      if (!isKukeError(err, ErrorKind.NotFound)) throw err;
    });
    await this.conn.call(this.conn.containers, this.conn.containers.delete, { id }, this.conn.meta(namespace), `deleting container ${id}`).catch((err) => {
      if (!isKukeError(err, ErrorKind.NotFound)) throw err;
    });
  }

  async getContainer(namespace: string, id: string): Promise<ContainerRecord | null> {
    const c = await this.record(namespace, id);
    return c ? { namespace, id: c.id, image: c.image, labels: c.labels } : null;
  }

  async listContainers(namespace: string, labels: Labels = {}): Promise<ContainerRecord[]> {
    const filters = Object.keys(labels).length ? [Object.entries(labels).map(([k, v]) => `labels."${k}"==${v}`).join(',')] : [];
    try {
      const { containers } = await this.conn.call(this.conn.containers, this.conn.containers.list, { filters }, this.conn.meta(namespace), `listing containers in ${namespace}`);
      return containers.map((c) => ({ namespace, id: c.id, image: c.image, labels: c.labels }));
    } catch (err) {
      if (isKukeError(err, ErrorKind.NotFound)) return [];
      throw err;
    }
  }

  // ---------------------------------------------------------------------------------------------- tasks

  private info(namespace: string, id: string, p: Process): TaskInfo {
    const status = STATUS[p.status] ?? 'unknown';
    const exitedAt = timestamp(p.exitedAt);
    return { namespace, id, pid: p.pid, status, ...(status === 'stopped' ? { exitCode: p.exitStatus } : {}), ...(exitedAt ? { exitedAt } : {}) };
  }

  async getTask(namespace: string, id: string): Promise<TaskInfo | null> {
    try {
      const { process } = await this.conn.call(this.conn.tasks, this.conn.tasks.get, { containerId: id, execId: '' }, this.conn.meta(namespace), `task ${id}`);
      return process ? this.info(namespace, id, process) : null;
    } catch (err) {
      if (isKukeError(err, ErrorKind.NotFound)) return null;
      throw err;
    }
  }

  async listTasks(namespace: string): Promise<TaskInfo[]> {
    const { tasks } = await this.conn.call(this.conn.tasks, this.conn.tasks.list, { filter: '' }, this.conn.meta(namespace), `listing tasks in ${namespace}`);
    return tasks.map((t) => this.info(namespace, t.id || t.containerId, t));
  }

  async startTask(namespace: string, id: string): Promise<{ pid: number }> {
    const existing = await this.getTask(namespace, id);
    if (existing?.status === 'running') return { pid: existing.pid };
    if (existing?.status === 'stopped') await this.deleteTask(namespace, id);
    const container = await this.record(namespace, id);
    if (!container) throw new KukeError(ErrorKind.NotFound, `container ${id} not found in ${namespace}`);
    if (!existing || existing.status === 'stopped') {
      const { mounts } = await this.conn.call(this.conn.snapshots, this.conn.snapshots.mounts, { snapshotter: this.snapshotter, key: container.snapshotKey }, this.conn.meta(namespace), `rootfs of ${id}`);
      const logPath = this.logPathOf(container);
      try {
        await this.conn.call(
          this.conn.tasks,
          this.conn.tasks.create,
          // stdout and stderr both set: the shim writes both streams to the stdout file (an empty stderr crashes it).
          { containerId: id, rootfs: mounts, stdin: '', stdout: `file://${logPath}`, stderr: `file://${logPath}`, terminal: false, checkpoint: undefined, options: undefined, runtimePath: '' },
          this.conn.meta(namespace),
          `creating task ${id}`,
        );
      } catch (err) {
        if (!isKukeError(err, ErrorKind.AlreadyExists)) throw err;
      }
    }
    try {
      const { pid } = await this.conn.call(this.conn.tasks, this.conn.tasks.start, { containerId: id, execId: '' }, this.conn.meta(namespace), `starting task ${id}`);
      return { pid };
    } catch (err) {
      // "cannot start a running process" comes as UNKNOWN from the shim: look instead of parsing it.
      const now = await this.getTask(namespace, id);
      if (now?.status === 'running') return { pid: now.pid };
      throw err;
    }
  }

  private logPathOf(container: Container): string {
    const spec = JSON.parse(Buffer.from(container.spec?.value ?? new Uint8Array()).toString() || '{}') as { annotations?: Record<string, string> };
    const path = container.labels[LOG_PATH_LABEL] ?? spec.annotations?.[LOG_PATH_LABEL];
    if (!path) throw new KukeError(ErrorKind.Internal, `container ${container.id} has no log path`);
    return path;
  }

  async killTask(namespace: string, id: string, signal: NodeJS.Signals | number, options: { all?: boolean } = {}): Promise<void> {
    try {
      await this.conn.call(this.conn.tasks, this.conn.tasks.kill, { containerId: id, execId: '', signal: signalNumber(signal), all: options.all ?? false }, this.conn.meta(namespace), `signalling task ${id}`);
    } catch (err) {
      if (isKukeError(err, ErrorKind.NotFound)) return;
      const task = await this.getTask(namespace, id);
      if (!task || task.status === 'stopped') return;
      throw err;
    }
  }

  /** Waits for the task's exit (no deadline; `signal` aborts). */
  waitTask(namespace: string, id: string, abort?: AbortSignal): Promise<TaskExit> {
    return new Promise<TaskExit>((resolve, reject) => {
      const call = this.conn.tasks.wait({ containerId: id, execId: '' }, this.conn.meta(namespace), {}, (err, res) => {
        if (err) reject(err.code === 1 && abort?.aborted ? new KukeError(ErrorKind.Canceled, `stopped waiting for ${id}`) : new KukeError(err.code === 5 ? ErrorKind.NotFound : ErrorKind.Internal, `waiting for task ${id}: ${err.details}`, { cause: err }));
        else resolve({ namespace, id, pid: 0, exitCode: res.exitStatus, exitedAt: timestamp(res.exitedAt) ?? new Date().toISOString() });
      });
      abort?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  async stopTask(namespace: string, id: string, options: { signal?: NodeJS.Signals | number; graceMs?: number } = {}): Promise<TaskExit | null> {
    const task = await this.getTask(namespace, id);
    if (!task) return null;
    if (task.status === 'stopped' || task.status === 'created') {
      if (task.status === 'created') await this.killTask(namespace, id, 'SIGKILL');
      const now = (await this.getTask(namespace, id)) ?? task;
      return { namespace, id, pid: task.pid, exitCode: now.exitCode ?? 0, exitedAt: now.exitedAt ?? new Date().toISOString() };
    }
    // Register the wait before signalling (the exit can arrive within milliseconds).
    const abort = new AbortController();
    const waiting = this.waitTask(namespace, id, abort.signal);
    waiting.catch(() => undefined);
    const signal = options.signal ?? 'SIGTERM';
    await this.killTask(namespace, id, signal, { all: true });
    const grace = signalNumber(signal) === 9 ? 0 : (options.graceMs ?? 10_000);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([waiting, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), grace)))]);
    clearTimeout(timer);
    if (outcome !== 'timeout') return { ...outcome, pid: task.pid };
    // PID 1 may ignore SIGTERM (no handler in its own pid namespace): SIGKILL after the grace period.
    await this.killTask(namespace, id, 'SIGKILL', { all: true });
    const exit = await Promise.race([waiting, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 30_000)))]);
    clearTimeout(timer);
    if (exit === 'timeout') {
      abort.abort();
      throw new KukeError(ErrorKind.DeadlineExceeded, `task ${id} did not exit 30 s after SIGKILL`);
    }
    return { ...exit, pid: task.pid };
  }

  async deleteTask(namespace: string, id: string): Promise<TaskExit | null> {
    try {
      const res = await this.conn.call(this.conn.tasks, this.conn.tasks.delete, { containerId: id }, this.conn.meta(namespace), `deleting task ${id}`);
      return { namespace, id, pid: res.pid, exitCode: res.exitStatus, exitedAt: timestamp(res.exitedAt) ?? '' };
    } catch (err) {
      if (isKukeError(err, ErrorKind.NotFound)) return null;
      const task = await this.getTask(namespace, id);
      if (task && task.status === 'running') throw new KukeError(ErrorKind.FailedPrecondition, `task ${id} is running (pid ${task.pid}); stop it first`, { cause: err });
      if (!task) return null;
      throw err;
    }
  }

  watchExits(handlers: { onExit: (exit: TaskExit) => void; onResync: () => void; onOom?: (task: { namespace: string; id: string }) => void }): Subscription {
    return watchTaskExits(this.conn, this.options.namespaceSuffix ?? 'kukeon.io', handlers, this.options.logger);
  }

  close(): void {
    this.conn.close();
  }
}
