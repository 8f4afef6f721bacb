/**
 * `kuke exec [-i] [-t] [--container c] [-e NAME=VALUE] [-u uid[:gid]] [-w dir] <cell> -- <command> [args…]`: runs a
 * command in a running container of a cell (its root by default), as `docker exec` does. kuke's exit status is the
 * command's (127 when it is not found, 126 when it cannot be executed).
 *
 * `-i` sends kuke's stdin to the command until it ends. `-t` gives the command a pseudo terminal of kuke's terminal's
 * size, resized with it (SIGWINCH); with `-i` too, kuke's terminal is put in raw mode (keys, Ctrl-C included, go to
 * the command) and restored on every way out: the command's end, an error, SIGTERM or SIGHUP to kuke.
 */
import type { Command } from 'commander';
import type { ExecInput, ExecRequest, KukeonClient } from '../../api/client.js';
import { AsyncQueue } from '../../api/async-queue.js';
import { ErrorKind, KukeError, isKukeError } from '../../errors.js';
import { validateName } from '../../model/names.js';
import type { TerminalSize } from '../../runtime/ports.js';
import type { CommandContext } from '../context.js';
import { CommandExit } from '../errors.js';
import { withScope, type ScopeOptions } from '../kinds.js';

/** What exec needs of kuke's own stdio (the process's in real use; tests pass their own). */
export interface ExecTerminal {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(mode: boolean): unknown; destroy?(): unknown };
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: NodeJS.WritableStream;
  /** Signals that end kuke (SIGTERM, SIGHUP): `listener` runs instead of the default death; returns an unsubscribe. */
  onSignal(listener: (signal: NodeJS.Signals) => void): () => void;
}

/** kuke's own stdio. */
export function processTerminal(): ExecTerminal {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    onSignal(listener) {
      const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];
      for (const s of signals) process.on(s, listener);
      return () => {
        for (const s of signals) process.off(s, listener);
      };
    },
  };
}

/** stdin chunks waiting for the daemon before kuke stops reading its stdin. */
const STDIN_HIGH_WATER = 8;
const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGTERM: 15 };

function sizeOf(term: ExecTerminal): TerminalSize | undefined {
  const { columns, rows } = term.stdout;
  return term.stdout.isTTY && columns && rows ? { cols: columns, rows } : undefined;
}

/** Writes to a stream, resolving once it can take more. */
function write(stream: NodeJS.WritableStream, data: Uint8Array): Promise<void> {
  if (stream.write(data)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

/**
 * Runs the exec with `term` as the command's terminal: relays input and output until the command ends, restoring
 * the terminal however it ends. Returns the command's exit code.
 */
export async function runExec(client: KukeonClient, request: ExecRequest, term: ExecTerminal): Promise<number> {
  const interactive = request.stdin && request.tty;
  if (interactive && !term.stdin.isTTY) {
    throw new KukeError(ErrorKind.InvalidArgument, 'the input device is not a TTY', { hint: 'drop -t to pipe input into the command, or run kuke exec from a terminal' });
  }
  const inputs = new AsyncQueue<ExecInput>({ highWater: STDIN_HIGH_WATER, onFull: () => term.stdin.pause(), onLow: () => term.stdin.resume() });
  const abort = new AbortController();
  let killedBy: NodeJS.Signals | undefined;
  const cleanups: (() => void)[] = [];
  try {
    if (request.tty && term.stdout.isTTY) {
      const onResize = () => {
        const size = sizeOf(term);
        if (size) inputs.push({ resize: size });
      };
      term.stdout.on('resize', onResize);
      cleanups.push(() => term.stdout.off('resize', onResize));
    }
    if (interactive && term.stdin.setRawMode) {
      term.stdin.setRawMode(true);
      // Also on an exit that skips the finally below (process.exit elsewhere): a terminal left raw is unusable.
      const restore = () => term.stdin.setRawMode?.(false);
      process.once('exit', restore);
      cleanups.push(() => {
        restore();
        process.off('exit', restore);
      });
    }
    cleanups.push(
      term.onSignal((signal) => {
        killedBy = signal;
        abort.abort();
      }),
    );
    if (request.stdin) {
      const onData = (chunk: Buffer | string) => inputs.push({ stdin: typeof chunk === 'string' ? Buffer.from(chunk) : chunk });
      const onEnd = () => {
        inputs.push({ closeStdin: true });
        inputs.end();
      };
      term.stdin.on('data', onData);
      term.stdin.once('end', onEnd);
      cleanups.push(() => {
        term.stdin.off('data', onData);
        term.stdin.off('end', onEnd);
        term.stdin.pause();
      });
    }
    const size = request.tty ? sizeOf(term) : undefined;
    const result = await client.exec(
      { ...request, ...(size ? { size } : {}) },
      { input: inputs, output: (stream, data) => write(stream === 'stdout' ? term.stdout : term.stderr, data), signal: abort.signal },
    );
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
    if (result.message) term.stderr.write(`Error: ${result.message}\n`);
    return result.exitCode;
  } catch (err) {
    if (killedBy && isKukeError(err, ErrorKind.Canceled)) return 128 + (SIGNAL_NUMBERS[killedBy] ?? 15);
    throw err;
  } finally {
    inputs.end();
    for (const cleanup of cleanups.reverse()) cleanup();
    // A stdin kuke read from keeps the process alive (a terminal's handle stays open) after the command's end.
    if (request.stdin) term.stdin.destroy?.();
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface ExecOptions extends ScopeOptions {
  interactive?: boolean;
  tty?: boolean;
  container?: string;
  env: string[];
  user?: string;
  workdir?: string;
}

export function register(program: Command, ctx: CommandContext): void {
  const command = program
    .command('exec')
    .description('run a command in a running container of a cell (kuke exec web -- sh)')
    .argument('<cell>', 'cell name')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('-i, --interactive', "send kuke's stdin to the command")
    .option('-t, --tty', 'give the command a pseudo terminal')
    .option('--container <name>', 'a container of the cell (default: its root)')
    .option('-e, --env <NAME=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('-u, --user <uid[:gid]>', 'run as this user')
    .option('-w, --workdir <dir>', 'working directory inside the container');
  withScope(command).action(async (cell: string, argv: string[], options: ExecOptions) => {
    validateName('cell', cell);
    if (options.container !== undefined && options.container !== `${cell}_root`) validateName('container', options.container);
    const request: ExecRequest = {
      realm: options.realm!,
      space: options.space!,
      stack: options.stack!,
      cell,
      ...(options.container !== undefined ? { container: options.container } : {}),
      command: argv,
      ...(options.env.length ? { env: options.env } : {}),
      ...(options.user !== undefined ? { user: options.user } : {}),
      ...(options.workdir !== undefined ? { workdir: options.workdir } : {}),
      stdin: options.interactive === true,
      tty: options.tty === true,
    };
    const status = await runExec(await ctx.client(), request, processTerminal());
    if (status !== 0) throw new CommandExit(status);
  });
}
