/**
 * The ContainerRuntime port over containerd's gRPC API (1.6+): the facade over one connection that composes
 * namespaces, images, containers, tasks and the exit watcher.
 *
 * containerd does not enforce a teardown order; this adapter follows the safe one: Kill → Wait → Tasks.Delete →
 * Snapshots.Remove → Containers.Delete (a container deleted under a running task orphans it). Creates and deletes are
 * idempotent: AlreadyExists on create and NotFound on delete are success.
 *
 * @example
 * const rt = new ContainerdRuntime({ address: '/run/containerd/containerd.sock' });
 * await rt.importImage('default.kukeon.io', 'busybox.tar');
 * await rt.createContainer(spec);
 * const { pid } = await rt.createTask(spec.namespace, spec.id); // the process waits; /proc/<pid>/ns/net exists
 * await rt.startTask(spec.namespace, spec.id);
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { ErrorKind, KukeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ContainerRecord, ContainerRuntime, ContainerSpec, ExecSession, ExecSpec, ImageInfo, ReapedExec, ImportProgress, Labels, Subscription, TaskExit, TaskInfo } from '../ports.js';
import { Connection } from './connection.js';
import { ContainerStore } from './containers.js';
import { watchTaskExits, type ExitHandlers } from './events.js';
import { needsUserFiles, resolveUser } from './image-user.js';
import { ImageStore } from './images.js';
import { NamespaceStore } from './namespaces.js';
import { capabilitiesFromMask } from './oci-spec.js';
import { ExecService } from './exec.js';
import { TaskService } from './tasks.js';

export { LOG_PATH_LABEL } from './containers.js';

/** Options of {@link ContainerdRuntime}. */
export interface ContainerdOptions {
  /** containerd's socket path (required), e.g. `/run/containerd/containerd.sock`. */
  address: string;
  logger?: Logger;
  /** Snapshotter for rootfs and unpacking; default `overlayfs`. */
  snapshotter?: string;
  /** Shim runtime; default `io.containerd.runc.v2`. */
  runtimeName?: string;
  /** Suffix of the namespaces whose task exits are watched, without the dot; default `kukeon.io`. */
  namespaceSuffix?: string;
  /** Deadline of unary calls in ms; default 60 s. */
  callTimeoutMs?: number;
  /**
   * runc's state root for the containers this adapter creates (runc shim option `root`). Default: runc's own,
   * /run/containerd/runc/<namespace>, which every containerd of the host shares; private test instances set their own.
   */
  runcRoot?: string;
  /** Directory of the FIFOs of exec'd processes (`<run path>/io/exec`); without it, execProcess is refused. */
  execIoDir?: string;
}

/** The capabilities this host can grant, read once (runc runs with containerd's bounding set, assumed like ours). */
function hostCapabilities(): () => readonly string[] | undefined {
  let cached: readonly string[] | undefined;
  let read = false;
  return () => {
    if (!read) {
      read = true;
      try {
        const mask = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
        if (mask) cached = capabilitiesFromMask(mask);
      } catch {
        // Not Linux: let runc decide.
      }
    }
    return cached;
  };
}

/**
 * Each CPU's thermal_throttle directory that exists on this host, which Docker masks (GHSA-6fw5-f8r9-fgfm: its
 * counters leak what other tenants run); read once.
 */
const thermalThrottlePaths = (() => {
  let cached: string[] | undefined;
  return (): string[] => {
    cached ??= (() => {
      try {
        return readdirSync('/sys/devices/system/cpu')
          .filter((d) => /^cpu\d+$/.test(d))
          .sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)))
          .map((d) => `/sys/devices/system/cpu/${d}/thermal_throttle`)
          .filter((p) => existsSync(p));
      } catch {
        return [];
      }
    })();
    return cached;
  };
})();

/**
 * The JSON of a seccomp profile file on this host; InvalidArgument naming the file when it cannot be read or parsed.
 * The daemon runs in a container that shares the host's PID namespace: the host's files are under /proc/1/root.
 */
function readSeccompFile(path: string, id: string): unknown {
  let text: string;
  try {
    try {
      text = readFileSync(`/proc/1/root${path}`, 'utf8');
    } catch {
      text = readFileSync(path, 'utf8');
    }
  } catch (err) {
    throw new KukeError(ErrorKind.InvalidArgument, `container ${id}: cannot read the seccomp profile ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      hint: "the path is read on the daemon's host; use default or unconfined, or a file there",
    });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new KukeError(ErrorKind.InvalidArgument, `container ${id}: the seccomp profile ${path} is not valid JSON`, { hint: 'fix the file, or use default or unconfined' });
  }
}

/** containerd as the engine's ContainerRuntime. The methods of the port are documented on it (src/runtime/ports.ts). */
export class ContainerdRuntime implements ContainerRuntime {
  /** The connection (for tests and tools that need a call the port does not offer). */
  readonly conn: Connection;
  private readonly namespaces: NamespaceStore;
  private readonly images: ImageStore;
  private readonly containers: ContainerStore;
  private readonly tasks: TaskService;
  private readonly execs: ExecService;
  private readonly namespaceSuffix: string;
  private readonly logger: Logger | undefined;

  constructor(options: ContainerdOptions) {
    const snapshotter = options.snapshotter ?? 'overlayfs';
    this.namespaceSuffix = options.namespaceSuffix ?? 'kukeon.io';
    this.logger = options.logger?.child({ component: 'containerd' });
    this.conn = new Connection(options.address, options.callTimeoutMs === undefined ? {} : { callTimeoutMs: options.callTimeoutMs });
    this.images = new ImageStore(this.conn, snapshotter, this.namespaceSuffix);
    this.namespaces = new NamespaceStore(this.conn, this.images, snapshotter);
    this.containers = new ContainerStore(this.conn, {
      snapshotter,
      runtimeName: options.runtimeName ?? 'io.containerd.runc.v2',
      capabilities: hostCapabilities(),
      ...(options.runcRoot ? { runcRoot: options.runcRoot } : {}),
    });
    this.tasks = new TaskService(this.conn, this.containers, this.logger);
    this.execs = new ExecService(this.conn, this.containers, this.tasks, options.execIoDir, this.logger);
  }

  async version(): Promise<{ version: string; revision: string }> {
    const res = await this.conn.unary(this.conn.version, 'version', {}, 'asking containerd its version', { timeoutMs: 5_000 });
    return { version: res.version, revision: res.revision };
  }

  // ---------------------------------------------------------------------------------------------- namespaces

  ensureNamespace(namespace: string, labels?: Labels): Promise<{ created: boolean }> {
    return this.namespaces.ensure(namespace, labels);
  }

  listNamespaces(): Promise<{ name: string; labels: Labels }[]> {
    return this.namespaces.list();
  }

  deleteNamespace(namespace: string): Promise<void> {
    return this.namespaces.delete(namespace);
  }

  // ---------------------------------------------------------------------------------------------- images

  async importImage(namespace: string, tarPath: string, options?: { name?: string; onProgress?: (p: ImportProgress) => void }): Promise<ImageInfo[]> {
    const started = Date.now();
    const images = await this.images.import(namespace, tarPath, options);
    this.logger?.info({ namespace, tarPath, images: images.map((i) => i.name), ms: Date.now() - started }, 'image imported');
    return images;
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

  async createContainer(spec: ContainerSpec): Promise<{ created: boolean }> {
    const image = await this.images.resolve(spec.namespace, spec.image);
    const existing = await this.containers.get(spec.namespace, spec.id);
    // Another image means another rootfs: the old container goes (refused while its task runs), a new one comes.
    if (existing && existing.image !== spec.image) await this.deleteContainer(spec.namespace, spec.id);
    // Names (and a bare uid's group) come from the image's own /etc/passwd and /etc/group, read here where I/O is
    // allowed; the spec builder takes the numbers.
    const user = spec.user ?? image.config.user;
    const resolved = needsUserFiles(user) ? resolveUser(user, await this.images.userFiles(spec.namespace, image), spec.image) : undefined;
    const profile = !spec.privileged && spec.seccompProfile?.startsWith('/') ? readSeccompFile(spec.seccompProfile, spec.id) : undefined;
    return this.containers.create(spec, image, {
      ...(resolved ? { user: resolved } : {}),
      ...(profile !== undefined ? { seccompFile: profile } : {}),
      ...(spec.privileged ? {} : { hostMaskedPaths: thermalThrottlePaths() }),
    });
  }

  async deleteContainer(namespace: string, id: string): Promise<void> {
    const task = await this.tasks.get(namespace, id);
    if (task && (task.status === 'running' || task.status === 'paused')) {
      throw new KukeError(ErrorKind.FailedPrecondition, `container ${id} in ${namespace} still has a running task (pid ${task.pid})`, { hint: 'stop it first' });
    }
    if (task) await this.tasks.delete(namespace, id);
    await this.containers.remove(namespace, id);
  }

  getContainer(namespace: string, id: string): Promise<ContainerRecord | null> {
    return this.containers.get(namespace, id);
  }

  listContainers(namespace: string, labels?: Labels): Promise<ContainerRecord[]> {
    return this.containers.list(namespace, labels);
  }

  // ---------------------------------------------------------------------------------------------- tasks

  createTask(namespace: string, id: string): Promise<{ pid: number; status: 'created' | 'running' }> {
    return this.tasks.createTask(namespace, id);
  }

  startTask(namespace: string, id: string): Promise<{ pid: number }> {
    return this.tasks.start(namespace, id);
  }

  killTask(namespace: string, id: string, signal: NodeJS.Signals | number, options?: { all?: boolean }): Promise<void> {
    return this.tasks.kill(namespace, id, signal, options);
  }

  /** Waits for the task's exit (no deadline; `signal` cancels). Not part of the port: for tools and tests. */
  waitTask(namespace: string, id: string, signal?: AbortSignal): Promise<TaskExit> {
    return this.tasks.wait(namespace, id, signal);
  }

  stopTask(namespace: string, id: string, options?: { signal?: NodeJS.Signals | number; graceMs?: number }): Promise<TaskExit | null> {
    return this.tasks.stop(namespace, id, options);
  }

  deleteTask(namespace: string, id: string): Promise<TaskExit | null> {
    return this.tasks.delete(namespace, id);
  }

  getTask(namespace: string, id: string): Promise<TaskInfo | null> {
    return this.tasks.get(namespace, id);
  }

  listTasks(namespace: string): Promise<TaskInfo[]> {
    return this.tasks.list(namespace);
  }

  watchExits(handlers: ExitHandlers): Subscription {
    return watchTaskExits(this.conn, this.namespaceSuffix, handlers, this.logger);
  }

  execProcess(namespace: string, id: string, spec: ExecSpec): Promise<ExecSession> {
    return this.execs.exec(namespace, id, spec);
  }

  reapExecs(): Promise<ReapedExec[]> {
    return this.execs.reap();
  }

  close(): void {
    this.conn.close();
  }
}

/** Creates the adapter (same as `new ContainerdRuntime(options)`). */
export function createContainerdRuntime(options: ContainerdOptions): ContainerdRuntime {
  return new ContainerdRuntime(options);
}
