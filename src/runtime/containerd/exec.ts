/**
 * Processes exec'd into a running task (`kuke exec`), as containerd's own client does it (client/process.go,
 * cmd/ctr/commands/tasks/exec.go): the process spec is the container's (env, cwd, user, capabilities, rlimits,
 * apparmor/selinux labels, no-new-privileges) with the command, terminal and what the caller overrides; Tasks.Exec
 * registers it under an exec id, Tasks.Wait is armed, Tasks.Start runs it (`runc exec --detach`) and the shim copies
 * its stdio to and from FIFOs (fifo-io.ts); after its exit, Tasks.DeleteProcess releases the shim's record of it.
 *
 * A command the container cannot run makes Tasks.Start fail with runc's text and no process: that text is the only
 * word on why, so it is read here, once, to tell "not found" (a shell's and Docker's 127) from "not executable"
 * (126), as Docker does (daemon/exec.go, translateContainerdStartErr).
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorKind, KukeError, isKukeError, toKukeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ExecSession, ExecSpec, ReapedExec, TerminalSize } from '../ports.js';
import { tolerate, type Connection } from './connection.js';
import type { ContainerStore } from './containers.js';
import { FifoEnds, makeFifos, removeFifos } from './fifo-io.js';
import { processUser, type OciSpec } from './oci-spec.js';
import { signalNumber, type TaskService } from './tasks.js';

/** The file of an exec's FIFO directory naming its process (a ReapedExec), for {@link ExecService.reap}. */
const OWNER_FILE = 'owner.json';

/** Type URL of an exec'd process's spec (what containerd's Go client sends). */
export const PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

/** A new exec id: unique within the task, and a containerd identifier. */
export function newExecId(): string {
  return `exec-${randomBytes(8).toString('hex')}`;
}

/**
 * The process spec of an exec: the container's own, with `spec`'s command, terminal, env (added, a name given again
 * overriding), cwd and user. Pure.
 */
export function execProcessSpec(container: OciSpec['process'], spec: ExecSpec, context: string): OciSpec['process'] & { consoleSize?: { height: number; width: number } } {
  const env = [...container.env];
  for (const entry of spec.env ?? []) {
    const name = entry.split('=')[0];
    const at = env.findIndex((e) => e.split('=')[0] === name);
    if (at >= 0) env[at] = entry;
    else env.push(entry);
  }
  return {
    ...container,
    terminal: spec.tty,
    args: spec.args,
    env,
    cwd: spec.cwd ?? container.cwd,
    ...(spec.user !== undefined ? { user: userOf(spec.user, context) } : {}),
    ...(spec.tty && spec.size ? { consoleSize: { height: spec.size.rows, width: spec.size.cols } } : {}),
  };
}

function userOf(user: string, context: string): { uid: number; gid: number } {
  try {
    return processUser(user, context);
  } catch (err) {
    throw new KukeError(ErrorKind.InvalidArgument, `${context}: user "${user}" is not a uid[:gid] (or root)`, { hint: 'give a numeric uid, e.g. -u 1000 or -u 1000:1000', cause: err });
  }
}

/** Why runc could not start the command, from its text (the only word on it; see the header). */
function startRefusal(err: unknown, command: string): KukeError | undefined {
  const text = toKukeError(err).message;
  if (/executable file not found|no such file or directory/i.test(text)) {
    return new KukeError(ErrorKind.NotFound, `${command}: executable file not found in the container's $PATH`, { cause: err });
  }
  if (/permission denied|is a directory/i.test(text)) {
    return new KukeError(ErrorKind.PermissionDenied, `${command}: permission denied (not an executable file)`, { cause: err });
  }
  return undefined;
}

/** Runs exec'd processes over one connection; FIFOs under `ioDir`. */
export class ExecService {
  constructor(
    private readonly conn: Connection,
    private readonly containers: ContainerStore,
    private readonly tasks: TaskService,
    private readonly ioDir: string | undefined,
    private readonly logger?: Logger,
  ) {}

  async exec(namespace: string, id: string, spec: ExecSpec): Promise<ExecSession> {
    if (!this.ioDir) throw new KukeError(ErrorKind.FailedPrecondition, 'this runtime has no directory for process FIFOs (ioDir)');
    if (spec.args.length === 0) throw new KukeError(ErrorKind.InvalidArgument, 'exec: no command given');
    const record = await this.containers.record(namespace, id);
    if (!record) throw new KukeError(ErrorKind.NotFound, `container ${id} not found in ${namespace}`);
    const task = await this.tasks.get(namespace, id);
    if (task?.status !== 'running') {
      throw new KukeError(ErrorKind.FailedPrecondition, `container ${id} in ${namespace} is not running`, { hint: 'start its cell first' });
    }
    const oci = JSON.parse(Buffer.from(record.spec?.value ?? new Uint8Array()).toString('utf8')) as OciSpec;
    const processSpec = execProcessSpec(oci.process, spec, `exec in ${id}`);
    const execId = spec.execId ?? newExecId();
    const scope = { namespace };
    const paths = await makeFifos(join(this.ioDir, execId), { stdin: spec.stdin, stderr: !spec.tty });
    // Which process the directory relays, for the next daemon should this one die first (reap).
    await writeFile(join(paths.dir, OWNER_FILE), JSON.stringify({ namespace, id, execId } satisfies ReapedExec), { mode: 0o600 });
    let ends: FifoEnds | undefined;
    let registered = false;
    const abortWait = new AbortController();
    try {
      ends = FifoEnds.open(paths);
      await this.conn.unary(
        this.conn.tasks,
        'exec',
        {
          containerId: id,
          execId,
          stdin: paths.stdin ?? '',
          stdout: paths.stdout,
          stderr: paths.stderr ?? '',
          terminal: spec.tty,
          spec: { typeUrl: PROCESS_TYPE_URL, value: Buffer.from(JSON.stringify(processSpec)) },
        },
        `exec in task ${id} in ${namespace}`,
        scope,
      );
      registered = true;
      // Armed before the start: a short command can end before Start's answer arrives.
      const waiting = this.conn.unary(this.conn.tasks, 'wait', { containerId: id, execId }, `waiting for ${execId} in ${id}`, { ...scope, timeoutMs: null, signal: abortWait.signal });
      waiting.catch(() => undefined);
      let pid: number;
      try {
        ({ pid } = await this.conn.unary(this.conn.tasks, 'start', { containerId: id, execId }, `starting ${execId} in task ${id} in ${namespace}`, scope));
      } catch (err) {
        throw startRefusal(err, spec.args[0]!) ?? err;
      }
      ends.started();
      this.logger?.debug({ namespace, id, execId, pid }, 'exec started');
      const session = new Session(this.conn, namespace, id, execId, pid, ends, paths.dir, waiting, abortWait, this.logger);
      if (spec.tty && spec.size) await session.resize(spec.size).catch((err) => this.logger?.debug({ err, execId }, 'could not size the terminal'));
      return session;
    } catch (err) {
      abortWait.abort();
      ends?.close();
      if (registered) await tolerate(this.conn.unary(this.conn.tasks, 'deleteProcess', { containerId: id, execId }, `deleting ${execId} in ${id}`, scope), ErrorKind.NotFound).catch(() => undefined);
      await removeFifos(paths.dir);
      throw err;
    }
  }

  /** See ContainerRuntime.reapExecs. */
  async reap(): Promise<ReapedExec[]> {
    if (!this.ioDir) return [];
    let names: string[];
    try {
      names = await readdir(this.ioDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const reaped: ReapedExec[] = [];
    for (const name of names) {
      const dir = join(this.ioDir, name);
      const owner = await readFile(join(dir, OWNER_FILE), 'utf8').then((text) => JSON.parse(text) as ReapedExec, () => undefined);
      if (owner?.namespace && owner.id && owner.execId) {
        const scope = { namespace: owner.namespace };
        const target = { containerId: owner.id, execId: owner.execId };
        await tolerate(this.conn.unary(this.conn.tasks, 'kill', { ...target, signal: 9, all: false }, `killing ${owner.execId} in ${owner.id}`, scope), ErrorKind.NotFound, ErrorKind.FailedPrecondition).catch(() => undefined);
        // The kill is asynchronous: the exit (and with it the process's release) follows within moments.
        const exit = await tolerate(
          this.conn.unary(this.conn.tasks, 'wait', target, `waiting for ${owner.execId} in ${owner.id}`, { ...scope, timeoutMs: 5_000 }),
          ErrorKind.NotFound,
          ErrorKind.FailedPrecondition,
        ).catch(() => undefined);
        await tolerate(this.conn.unary(this.conn.tasks, 'deleteProcess', target, `deleting ${owner.execId} in ${owner.id}`, scope), ErrorKind.NotFound, ErrorKind.FailedPrecondition).catch(
          (err: unknown) => this.logger?.warn({ err, execId: owner.execId }, 'could not delete an orphaned exec'),
        );
        reaped.push({ namespace: owner.namespace, id: owner.id, execId: owner.execId, ...(exit ? { exitCode: exit.exitStatus } : {}) });
      }
      await removeFifos(dir);
    }
    return reaped;
  }
}

class Session implements ExecSession {
  readonly exited: Promise<number>;
  private closing: Promise<void> | undefined;
  private done = false;

  constructor(
    private readonly conn: Connection,
    private readonly namespace: string,
    private readonly id: string,
    readonly execId: string,
    readonly pid: number,
    private readonly ends: FifoEnds,
    private readonly dir: string,
    waiting: Promise<{ exitStatus: number }>,
    private readonly abortWait: AbortController,
    private readonly logger?: Logger,
  ) {
    this.exited = waiting.then((res) => {
      this.done = true;
      return res.exitStatus;
    });
    this.exited.catch(() => undefined);
    // A relay that stopped (the shim gone, the client gone) must not take the daemon down with an unhandled error.
    for (const s of [ends.stdout, ends.stderr, ends.stdin]) s?.on('error', (err) => logger?.debug({ err, execId }, 'exec stdio error'));
  }

  get stdin() {
    return this.ends.stdin;
  }
  get stdout() {
    return this.ends.stdout;
  }
  get stderr() {
    return this.ends.stderr;
  }

  async closeStdin(): Promise<void> {
    if (!this.ends.stdin) return;
    await this.ends.endStdin();
    // The shim holds a writer of the stdin FIFO too: CloseIO closes it, and the process reads end of file.
    await tolerate(this.conn.unary(this.conn.tasks, 'closeIo', { containerId: this.id, execId: this.execId, stdin: true }, `closing the stdin of ${this.execId}`, { namespace: this.namespace }), ErrorKind.NotFound);
  }

  async resize(size: TerminalSize): Promise<void> {
    const width = clampSize(size.cols);
    const height = clampSize(size.rows);
    await tolerate(this.conn.unary(this.conn.tasks, 'resizePty', { containerId: this.id, execId: this.execId, width, height }, `resizing the terminal of ${this.execId}`, { namespace: this.namespace }), ErrorKind.NotFound);
  }

  async kill(signal: NodeJS.Signals | number): Promise<void> {
    if (this.done) return;
    try {
      await this.conn.unary(this.conn.tasks, 'kill', { containerId: this.id, execId: this.execId, signal: signalNumber(signal), all: false }, `signalling ${this.execId}`, { namespace: this.namespace });
    } catch (err) {
      // Already finished (NotFound), or finishing: the exit says.
      if (!isKukeError(err, ErrorKind.NotFound)) this.logger?.debug({ err, execId: this.execId }, 'exec kill failed');
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.done) {
        await this.kill('SIGKILL');
        await Promise.race([this.exited.catch(() => undefined), new Promise((r) => setTimeout(r, 5_000).unref())]);
      }
      this.abortWait.abort();
      this.ends.close();
      await tolerate(this.conn.unary(this.conn.tasks, 'deleteProcess', { containerId: this.id, execId: this.execId }, `deleting ${this.execId} in ${this.id}`, { namespace: this.namespace }), ErrorKind.NotFound).catch(
        (err: unknown) => this.logger?.warn({ err, execId: this.execId }, 'could not delete an exec process'),
      );
      await removeFifos(this.dir);
    })();
    return this.closing;
  }
}

/** A terminal dimension as the kernel's winsize holds it (16 bits); 0 means unknown and is left to the pty. */
function clampSize(n: number): number {
  return Math.max(0, Math.min(0xffff, Math.floor(n)));
}
