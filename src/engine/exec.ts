/**
 * `kuke exec`: a process in a running container of a cell, its stdio relayed to the caller, recorded on the
 * container's stream as an audit pair (events/container.ts): ExecStarted (who, which command) before the process
 * starts, ExecExited (its code) after. Neither changes the container's state (catalog.ts AUDIT_EVENTS).
 *
 *   caller ── input (stdin, resize, end of stdin) ──▶ relay ──▶ FIFOs ──▶ shim ──▶ process
 *   caller ◀── output (stdout, stderr), then exit ─── relay ◀── FIFOs ◀── shim ◀──┘
 *
 * Backpressure both ways: output is read from the FIFO only as fast as the caller takes it (a slow caller stops the
 * process at its next write once the pipe is full), and stdin is written only as fast as the process reads it.
 * When the caller goes away (its `signal` aborts), the process is killed: nobody is left to read it, and an exec
 * outliving its caller would be a process nobody sees. Its exit is recorded all the same.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { EXEC_ARG_MAX_CHARS, EXEC_ARGS_MAX } from '../../events/container.js';
import { ErrorKind, KukeError, toKukeError } from '../errors.js';
import { rootContainerName, validateName } from '../model/names.js';
import { describeKey, streamOf, type AggregateKey } from '../model/streams.js';
import type { ExecSession, TerminalSize } from '../runtime/ports.js';
import type { DispatchMeta, Engine } from './engine.js';
import type { CellRef } from './operations.js';

/** What to run, and where. */
export interface ExecRequest extends CellRef {
  /** A container of the cell by name; default the root. */
  container?: string;
  /** The command and its arguments. */
  command: string[];
  /** `KEY=VALUE` entries added to the container's env. */
  env?: string[];
  /** `uid[:gid]` (or root). */
  user?: string;
  /** Absolute working directory. */
  workdir?: string;
  /** Relay the caller's stdin. */
  stdin: boolean;
  /** A pseudo terminal. */
  tty: boolean;
  /** The caller's terminal size at start (tty). */
  size?: TerminalSize;
}

/** One message from the caller after the request. */
export type ExecInput = { stdin: Uint8Array } | { resize: TerminalSize } | { closeStdin: true };

/** The caller's end of the process's stdio, whatever carries it (a gRPC stream, the caller's own stdio). */
export interface ExecStdio {
  /** What the caller sends; it ends when the caller has nothing more to send (its stdin is then closed). */
  input: AsyncIterable<ExecInput>;
  /** Hands output to the caller; resolves when it can take more. */
  output(stream: 'stdout' | 'stderr', data: Uint8Array): Promise<void>;
  /** Aborts when the caller is gone. */
  signal: AbortSignal;
}

/**
 * How it ended: the exit code (128+N for signal N; 127 for a command not found and 126 for one that cannot be
 * executed, with `message` saying so, as Docker does).
 */
export interface ExecResult {
  execId: string;
  exitCode: number;
  message?: string;
}

/** How long the output may still flow after the process exited (a child it left behind may hold the pipe). */
const OUTPUT_DRAIN_MS = 2_000;

/** The command as an ExecStarted keeps it: bounded, and whether it was cut. */
export function auditedCommand(command: readonly string[]): { command: string[]; truncated?: true } {
  const kept = command.slice(0, EXEC_ARGS_MAX).map((a) => (a.length > EXEC_ARG_MAX_CHARS ? a.slice(0, EXEC_ARG_MAX_CHARS) : a));
  const cut = command.length > EXEC_ARGS_MAX || command.some((a) => a.length > EXEC_ARG_MAX_CHARS);
  return { command: kept, ...(cut ? { truncated: true as const } : {}) };
}

/** Checks what the caller asks, before anything is recorded. */
function checkRequest(request: ExecRequest): void {
  validateName('realm', request.realm);
  validateName('space', request.space);
  validateName('stack', request.stack);
  validateName('cell', request.cell);
  if (request.command.length === 0) throw new KukeError(ErrorKind.InvalidArgument, 'no command given', { hint: 'put the command after --: kuke exec web -- sh' });
  if (request.command[0] === '') throw new KukeError(ErrorKind.InvalidArgument, 'the command is empty');
  for (const e of request.env ?? []) {
    if (!/^[^=\0]+=/.test(e) || e.includes('\0')) throw new KukeError(ErrorKind.InvalidArgument, `env "${e}" is not NAME=VALUE`, { hint: 'write it as -e NAME=VALUE' });
  }
  if (request.workdir !== undefined && !request.workdir.startsWith('/')) {
    throw new KukeError(ErrorKind.InvalidArgument, `working directory "${request.workdir}" is not absolute`, { hint: 'give an absolute path, e.g. -w /tmp' });
  }
  if (request.user !== undefined && !/^(root|\d+)(:\d+)?$/.test(request.user)) {
    throw new KukeError(ErrorKind.InvalidArgument, `user "${request.user}" is not a uid[:gid]`, { hint: 'give a numeric uid, e.g. -u 1000 or -u 1000:1000' });
  }
}

/** The container aggregate an exec targets: running, with its containerd coordinates. */
function targetOf(engine: Engine, request: ExecRequest): { stream: string; namespace: string; containerdId: string } {
  const cellKey: AggregateKey = { kind: 'cell', realm: request.realm, space: request.space, stack: request.stack, cell: request.cell };
  const cell = engine.get(streamOf(cellKey));
  const cellState = cell ? String(cell.snapshot.value) : 'Absent';
  if (!cell || cellState === 'Absent' || cellState === 'Deleted') {
    throw new KukeError(ErrorKind.NotFound, `${describeKey(cellKey)} not found`, {
      hint: `list cells with: kuke get cells --realm ${request.realm} --space ${request.space} --stack ${request.stack}`,
    });
  }
  const template = (cell.snapshot.context as { template?: { root: string; containers: { name: string }[] } | null }).template;
  const asked = request.container;
  const isRoot = asked === undefined || asked === template?.root || asked === rootContainerName(request.cell);
  if (!isRoot && !template?.containers.some((c) => c.name === asked)) {
    const names = [rootContainerName(request.cell), ...(template?.containers.filter((c) => c.name !== template.root).map((c) => c.name) ?? [])];
    throw new KukeError(ErrorKind.NotFound, `${describeKey(cellKey)} has no container "${asked}"`, { hint: `its containers: ${names.join(', ')}` });
  }
  const name = isRoot ? rootContainerName(request.cell) : asked!;
  const key: AggregateKey = { kind: 'container', realm: request.realm, space: request.space, stack: request.stack, cell: request.cell, container: name };
  const stream = streamOf(key);
  const state = engine.stateOf(stream);
  if (state !== 'Running') {
    throw new KukeError(ErrorKind.FailedPrecondition, `${describeKey(key)} is ${state}, not Running`, {
      hint: cellState === 'Ready' ? 'wait until it runs again' : `start its cell first: kuke start cell ${request.cell}`,
    });
  }
  const c = engine.get(stream)!.snapshot.context as { namespace: string; containerdId: string };
  return { stream, namespace: c.namespace, containerdId: c.containerdId };
}

/**
 * Runs `request` and relays its stdio to `stdio` until it ends. Resolves with how it ended (a command that could not
 * be found or executed is an exit, 127 or 126, not a failure); rejects when it could not be started for another
 * reason (the container not running, the runtime down), after recording that.
 */
export async function execInCell(engine: Engine, request: ExecRequest, stdio: ExecStdio, meta: DispatchMeta): Promise<ExecResult> {
  checkRequest(request);
  const runtime = engine.runtime;
  if (!runtime) throw new KukeError(ErrorKind.Internal, 'exec needs an engine with a runtime');
  const target = targetOf(engine, request);
  const execId = `exec-${randomBytes(8).toString('hex')}`;
  const log = engine.logger.child({ stream: target.stream, execId });
  const audit = { ...meta, correlation: meta.correlation ?? execId };
  // Recorded before the process exists: an exec cut short by the daemon's death still shows that it began.
  await engine.dispatch(
    target.stream,
    'ExecStarted',
    { execId, ...auditedCommand(request.command), tty: request.tty, stdin: request.stdin, ...(request.user !== undefined ? { user: request.user } : {}) },
    audit,
  );
  const exited = (data: { code?: number; error?: string }) =>
    engine.dispatch(target.stream, 'ExecExited', { execId, ...data }, audit).catch((err: unknown) => log.error({ err }, 'could not record the end of an exec'));

  let session: ExecSession;
  try {
    session = await runtime.containers.execProcess(target.namespace, target.containerdId, {
      execId,
      args: request.command,
      ...(request.env?.length ? { env: request.env } : {}),
      ...(request.workdir !== undefined ? { cwd: request.workdir } : {}),
      ...(request.user !== undefined ? { user: request.user } : {}),
      stdin: request.stdin,
      tty: request.tty,
      ...(request.tty && request.size ? { size: request.size } : {}),
    });
  } catch (err) {
    const error = toKukeError(err);
    // As a shell and Docker do: 127 for a command not found, 126 for one that cannot be executed.
    const code = error.kind === ErrorKind.NotFound ? 127 : error.kind === ErrorKind.PermissionDenied ? 126 : undefined;
    await exited({ ...(code !== undefined ? { code } : {}), error: error.message });
    if (code === undefined) throw error;
    return { execId, exitCode: code, message: error.message };
  }
  log.debug({ pid: session.pid }, 'exec started');
  const gone = () => void session.close().catch((err: unknown) => log.warn({ err }, 'could not release an exec'));
  stdio.signal.addEventListener('abort', gone, { once: true });
  try {
    const feeding = feed(session, stdio.input, stdio.signal).catch((err: unknown) => log.debug({ err }, 'exec input ended with an error'));
    const outputs = [relay(session.stdout, 'stdout', stdio), ...(session.stderr ? [relay(session.stderr, 'stderr', stdio)] : [])];
    const exitCode = await session.exited;
    // What the process wrote before it exited is still in the pipe: wait for the shim to finish copying it, but not
    // for a child it left behind that keeps the pipe open.
    await Promise.race([Promise.allSettled(outputs), new Promise((r) => setTimeout(r, OUTPUT_DRAIN_MS).unref())]);
    void feeding;
    await exited({ code: exitCode });
    return { execId, exitCode };
  } catch (err) {
    // The exit could not be learned (containerd went away): say so in history, and let the caller know.
    await exited({ error: toKukeError(err).message });
    throw err;
  } finally {
    stdio.signal.removeEventListener('abort', gone);
    await session.close().catch((err: unknown) => log.warn({ err }, 'could not release an exec'));
  }
}

/** Copies one output stream to the caller, reading only as fast as the caller takes it. */
async function relay(stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr', stdio: ExecStdio): Promise<void> {
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (stdio.signal.aborted) return;
    await stdio.output(name, chunk);
  }
}

/** Hands the caller's input to the process: stdin (as fast as it reads), resizes, the end of stdin. */
async function feed(session: ExecSession, input: AsyncIterable<ExecInput>, signal: AbortSignal): Promise<void> {
  for await (const message of input) {
    if (signal.aborted) return;
    if ('stdin' in message) {
      const stdin = session.stdin;
      if (!stdin) continue;
      if (!stdin.write(message.stdin)) await Promise.race([once(stdin as NodeJS.EventEmitter, 'drain'), once(stdin as NodeJS.EventEmitter, 'close')]);
    } else if ('resize' in message) {
      await session.resize(message.resize);
    } else {
      await session.closeStdin();
    }
  }
  // The caller has nothing more to send: its stdin is at its end too.
  await session.closeStdin();
}

/**
 * kukeond's start: the execs a previous daemon relayed lost their callers with it. Each is killed (runtime.reapExecs)
 * and its end recorded on its container's stream, so that no ExecStarted stays without its ExecExited. Returns how
 * many were found.
 */
export async function reapExecs(engine: Engine, meta: DispatchMeta): Promise<number> {
  const runtime = engine.runtime;
  if (!runtime) return 0;
  const reaped = await runtime.containers.reapExecs();
  for (const exec of reaped) {
    const container = engine
      .list('container/', { live: true })
      .find((a) => {
        const c = a.snapshot.context as { namespace: string; containerdId: string };
        return c.namespace === exec.namespace && c.containerdId === exec.id;
      });
    if (!container) continue;
    const error = 'kukeond stopped while it ran; killed at its next start';
    await engine
      .dispatch(container.stream, 'ExecExited', { execId: exec.execId, ...(exec.exitCode !== undefined ? { code: exec.exitCode } : {}), error }, meta)
      .catch((err: unknown) => engine.logger.warn({ err, execId: exec.execId }, 'could not record the end of an orphaned exec'));
  }
  return reaped.length;
}
