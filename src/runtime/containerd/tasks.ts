/**
 * Tasks: the running process of a container (one shim each). Create with the rootfs mounts of the container's
 * snapshot and stdout/stderr to `file://<log path>` (both set: the shim writes both streams to the stdout path, and an
 * empty stderr next to a file:// stdout crashes it); start; kill; wait; stop (signal → grace → SIGKILL → wait);
 * delete; get; list.
 *
 * What the shim or runc refuses comes back as UNKNOWN with a text ("cannot start a running process", "cannot delete
 * a running process"): every such failure is followed by a fresh look at the task, never by parsing the text.
 */
import { constants as osConstants } from 'node:os';
import { ErrorKind, KukeError, isKukeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { TaskExit, TaskInfo, TaskStatus } from '../ports.js';
import { isoTime, tolerate, type Connection } from './connection.js';
import { logPathOf, type ContainerStore } from './containers.js';
import { Status, type Process } from './gen/containerd/services/tasks/v1/tasks.js';
import { clearStaleRuncState, runcRootOf } from './runc-state.js';

/** How long stopTask waits for the exit after SIGKILL before it gives up (DeadlineExceeded). */
export const KILL_WAIT_MS = 30_000;
/** Default grace period between the stop signal and SIGKILL. */
export const DEFAULT_GRACE_MS = 10_000;

const STATUS: Readonly<Record<Status, TaskStatus>> = {
  [Status.UNKNOWN]: 'unknown',
  [Status.CREATED]: 'created',
  [Status.RUNNING]: 'running',
  [Status.STOPPED]: 'stopped',
  [Status.PAUSED]: 'paused',
  [Status.PAUSING]: 'paused',
  [Status.UNRECOGNIZED]: 'unknown',
};

/** A signal name or number as the number containerd wants. */
export function signalNumber(signal: NodeJS.Signals | number): number {
  if (typeof signal === 'number') {
    if (!Number.isInteger(signal) || signal <= 0 || signal > 64) throw new KukeError(ErrorKind.InvalidArgument, `invalid signal number ${signal}`);
    return signal;
  }
  const n = osConstants.signals[signal];
  if (n === undefined) throw new KukeError(ErrorKind.InvalidArgument, `unknown signal ${signal}`);
  return n;
}

/** Task operations over one connection. */
export class TaskService {
  constructor(
    private readonly conn: Connection,
    private readonly containers: ContainerStore,
    private readonly logger?: Logger,
  ) {}

  /** The task of a container, or null. */
  async get(namespace: string, id: string): Promise<TaskInfo | null> {
    const res = await tolerate(this.conn.unary(this.conn.tasks, 'get', { containerId: id, execId: '' }, `task ${id} in ${namespace}`, { namespace }), ErrorKind.NotFound);
    return res?.process ? toInfo(namespace, id, res.process) : null;
  }

  /** Every task of the namespace. */
  async list(namespace: string): Promise<TaskInfo[]> {
    const { tasks } = await this.conn.unary(this.conn.tasks, 'list', { filter: '' }, `listing tasks in ${namespace}`, { namespace });
    // Get and List fill `id` with the container id and leave `container_id` empty.
    return tasks.map((t) => toInfo(namespace, t.id || t.containerId, t));
  }

  /**
   * Creates the task (runc create: namespaces made, the process waiting before the container's command) unless one
   * is there. Idempotent: a created or running task's pid is returned as is; a stopped one is deleted and a new one
   * created. The pid names the task's namespaces (`/proc/<pid>/ns/net`) until it exits.
   */
  async createTask(namespace: string, id: string): Promise<{ pid: number; status: 'created' | 'running' }> {
    let task = await this.get(namespace, id);
    if (task?.status === 'running' || task?.status === 'paused') return { pid: task.pid, status: 'running' };
    if (task?.status === 'stopped' || task?.status === 'unknown') {
      await this.delete(namespace, id);
      task = null;
    }
    if (!task) task = await this.create(namespace, id);
    return { pid: task.pid, status: task.status === 'created' ? 'created' : 'running' };
  }

  /**
   * Starts the task: the created one, or one created here if there is none. Idempotent: a running task's pid is
   * returned as is; a stopped one is deleted and a new one created and started.
   */
  async start(namespace: string, id: string): Promise<{ pid: number }> {
    const task = await this.createTask(namespace, id);
    if (task.status === 'running') return { pid: task.pid };
    try {
      const { pid } = await this.conn.unary(this.conn.tasks, 'start', { containerId: id, execId: '' }, `starting task ${id} in ${namespace}`, { namespace });
      this.logger?.debug({ namespace, id, pid }, 'task started');
      return { pid };
    } catch (err) {
      const now = await this.get(namespace, id).catch(() => null);
      if (now?.status === 'running') return { pid: now.pid };
      // A task left in CREATED would block the next attempt (and hold a runc init process): remove it.
      if (now) await this.delete(namespace, id).catch(() => undefined);
      throw err;
    }
  }

  /** Creates the task; called only when containerd holds none for the container. Returns it, in CREATED. */
  private async create(namespace: string, id: string): Promise<TaskInfo> {
    const container = await this.containers.record(namespace, id);
    if (!container) throw new KukeError(ErrorKind.NotFound, `container ${id} not found in ${namespace}`, { hint: 'create the container first' });
    const rootfs = await this.containers.rootfs(namespace, container);
    const log = `file://${logPathOf(container)}`;
    // No task, yet runc may still hold state of one whose shim died (containerd and its shims killed without a
    // reboot): runc would refuse the id. Cleared first, so the create below does not fail on it.
    await clearStaleRuncState(runcRootOf(container), namespace, id, this.logger);
    try {
      const { pid } = await this.conn.unary(
        this.conn.tasks,
        'create',
        { containerId: id, rootfs, stdin: '', stdout: log, stderr: log, terminal: false, runtimePath: '' },
        `creating task ${id} in ${namespace}`,
        { namespace },
      );
      this.logger?.debug({ namespace, id, pid }, 'task created');
      return { namespace, id, pid, status: 'created' };
    } catch (err) {
      // The shim's text says why (e.g. the command does not exist); what matters is whether a task is there now
      // (AlreadyExists: another caller created it meanwhile).
      const now = await this.get(namespace, id).catch(() => null);
      if (now && (now.status === 'created' || now.status === 'running' || now.status === 'paused')) return now;
      throw err;
    }
  }

  /** Sends a signal (to every process of the container if `all`). No task, or a finished process → ok. */
  async kill(namespace: string, id: string, signal: NodeJS.Signals | number, options: { all?: boolean } = {}): Promise<void> {
    const signo = signalNumber(signal);
    try {
      await this.conn.unary(this.conn.tasks, 'kill', { containerId: id, execId: '', signal: signo, all: options.all ?? false }, `signalling task ${id} in ${namespace}`, { namespace });
    } catch (err) {
      if (isKukeError(err, ErrorKind.NotFound)) return;
      const now = await this.get(namespace, id);
      if (!now || now.status === 'stopped') return;
      throw err;
    }
  }

  /** Waits for the task's exit (no deadline; `signal` cancels with kind Canceled). NotFound if there is no task. */
  async wait(namespace: string, id: string, signal?: AbortSignal): Promise<TaskExit> {
    const res = await this.conn.unary(this.conn.tasks, 'wait', { containerId: id, execId: '' }, `waiting for task ${id} in ${namespace}`, {
      namespace,
      timeoutMs: null,
      ...(signal ? { signal } : {}),
    });
    return { namespace, id, pid: 0, exitCode: res.exitStatus, exitedAt: isoTime(res.exitedAt) ?? new Date().toISOString() };
  }

  /**
   * Stops the task: `signal` (default SIGTERM) to every process, up to `graceMs` for the exit, then SIGKILL and a
   * wait. PID 1 of a container ignores signals it has no handler for (SIGTERM included), hence the fallback.
   * Returns the exit, or null if there was no task. Idempotent: a stopped task's exit is returned as is.
   */
  async stop(namespace: string, id: string, options: { signal?: NodeJS.Signals | number; graceMs?: number } = {}): Promise<TaskExit | null> {
    const task = await this.get(namespace, id);
    if (!task) return null;
    if (task.status === 'stopped') return exitOf(task);
    // Register the wait before signalling: the exit can come within milliseconds (and Wait also answers after it).
    const abort = new AbortController();
    const waiting = this.wait(namespace, id, abort.signal);
    waiting.catch(() => undefined);
    try {
      const signal = task.status === 'created' ? 'SIGKILL' : (options.signal ?? 'SIGTERM');
      const signo = signalNumber(signal);
      await this.kill(namespace, id, signo, { all: true });
      if (signo !== osConstants.signals.SIGKILL) {
        const exit = await within(waiting, options.graceMs ?? DEFAULT_GRACE_MS);
        if (exit) return { ...exit, pid: task.pid };
        this.logger?.info({ namespace, id, signal, graceMs: options.graceMs ?? DEFAULT_GRACE_MS }, 'task ignored the stop signal; killing it');
        await this.kill(namespace, id, 'SIGKILL', { all: true });
      }
      const exit = await within(waiting, KILL_WAIT_MS);
      if (!exit) throw new KukeError(ErrorKind.DeadlineExceeded, `task ${id} in ${namespace} did not exit within ${KILL_WAIT_MS / 1000} s of SIGKILL`, { hint: 'the process may be stuck in the kernel (D state); check the host' });
      return { ...exit, pid: task.pid };
    } finally {
      abort.abort();
    }
  }

  /** Deletes a task that is not running (created or stopped). Returns its exit, or null if there was none. */
  async delete(namespace: string, id: string): Promise<TaskExit | null> {
    try {
      const res = await this.conn.unary(this.conn.tasks, 'delete', { containerId: id }, `deleting task ${id} in ${namespace}`, { namespace });
      return { namespace, id, pid: res.pid, exitCode: res.exitStatus, exitedAt: isoTime(res.exitedAt) ?? new Date().toISOString() };
    } catch (err) {
      if (isKukeError(err, ErrorKind.NotFound)) return null;
      const now = await this.get(namespace, id);
      if (!now) return null;
      if (now.status === 'running' || now.status === 'paused') {
        throw new KukeError(ErrorKind.FailedPrecondition, `task ${id} in ${namespace} is running (pid ${now.pid})`, { hint: 'stop it first', cause: err });
      }
      throw err;
    }
  }
}

function toInfo(namespace: string, id: string, p: Process): TaskInfo {
  const status = STATUS[p.status] ?? 'unknown';
  const exitedAt = isoTime(p.exitedAt);
  return { namespace, id, pid: p.pid, status, ...(status === 'stopped' ? { exitCode: p.exitStatus } : {}), ...(exitedAt ? { exitedAt } : {}) };
}

function exitOf(task: TaskInfo): TaskExit {
  return { namespace: task.namespace, id: task.id, pid: task.pid, exitCode: task.exitCode ?? 0, exitedAt: task.exitedAt ?? new Date().toISOString() };
}

/** The promise's value if it settles within `ms`, else undefined. Rejections pass through. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
