/**
 * `kuke logs <cell> [--container c] [-f|--follow] [-n|--tail N]`: a container's output (the cell's root unless
 * --container), as its log files hold it, through kukeond or in-process. Bytes go to stdout unchanged (nothing added,
 * nothing decoded: binary output stays binary). `-f` follows until the cell stops, or Ctrl-C (exit 0, as docker).
 * `kuke daemon logs` is this command on the daemon's own cell.
 */
import type { Command } from 'commander';
import type { CellRef, KukeonClient, LogsOptions } from '../../api/client.js';
import { ErrorKind, KukeError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { withScope, type ScopeOptions } from '../kinds.js';

interface LogsFlags extends ScopeOptions {
  container?: string;
  follow?: boolean;
  tail?: string;
}

/** `--tail`: a whole number of lines, or `all` (docker's default). */
export function parseTail(value: string | undefined): number | undefined {
  if (value === undefined || value === 'all') return undefined;
  if (!/^\d{1,9}$/.test(value.trim())) {
    throw new KukeError(ErrorKind.InvalidArgument, `--tail "${value}" is not a number of lines`, { hint: 'use a whole number, e.g. --tail 20, or --tail all' });
  }
  return Number(value);
}

/**
 * Prints a container's log to stdout until it ends (or, following, until the cell stops); Ctrl-C, a TERM or a closed
 * stdout (`kuke logs web | head`) end it quietly.
 */
export async function printLogs(ctx: CommandContext, client: KukeonClient, ref: CellRef, options: LogsOptions): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const onStdoutError = (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? stop.abort() : undefined);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.stdout.on('error', onStdoutError);
  const write = ctx.streams.bytes ?? ((chunk: Uint8Array) => ctx.streams.out(Buffer.from(chunk).toString('utf8')));
  // A full stdout is waited for, unless kuke is told to stop meanwhile (its reader may never drain it).
  const stopped = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  try {
    await client.logs(ref, options, (chunk) => (stop.signal.aborted ? undefined : Promise.race([write(chunk), stopped])), stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdout.off('error', onStdoutError);
  }
}

export function register(program: Command, ctx: CommandContext): void {
  const command = program
    .command('logs')
    .description("print a container's output (the cell's root container unless --container)")
    .argument('<cell>', 'cell name')
    .option('--container <name>', 'a container of the cell (its name in the manifest)')
    .option('-f, --follow', 'keep printing what it writes until the cell stops (or Ctrl-C)')
    .option('-n, --tail <lines>', 'only the last lines, or "all"', 'all');
  withScope(command).action(async (cell: string, flags: LogsFlags) => {
    const tail = parseTail(flags.tail);
    const client = await ctx.client();
    const ref = { realm: flags.realm!, space: flags.space!, stack: flags.stack!, cell };
    await printLogs(ctx, client, ref, { ...(flags.container !== undefined ? { container: flags.container } : {}), ...(flags.follow ? { follow: true } : {}), ...(tail !== undefined ? { tail } : {}) });
  });
}
