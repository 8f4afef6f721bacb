/**
 * `kuke run [-d] [--rm] [--name N] [-e K=V] [-p …] [--entrypoint E] [--realm/--space/--stack …] IMAGE [CMD [ARG…]]`
 * (issue 12): creates a one-container cell (its root runs IMAGE; CMD and ARGs replace the image's Cmd and keep its
 * Entrypoint, as `docker run` does), starts it, and
 *  - with `-d`, prints the cell's name and returns;
 *  - without, prints its output (through the logs API, from the start of the log) until the cell stops, and exits with
 *    its root's exit code (`kuke run --rm IMAGE echo hi` prints hi and exits 0; `… sh -c 'exit 7'` exits 7). Ctrl-C
 *    stops the cell (SIGTERM, then SIGKILL after the grace period) and still waits for it.
 * Without `--name` the cell gets a readable name (`brave-otter`) that no cell of its stack has. `--rm` deletes the
 * cell when it exits: with `-d` the daemon does it (`autoDelete`); in the foreground kuke does it once it has the exit
 * code, so nothing of the cell is removed before kuke has read it.
 *
 * Everything after IMAGE belongs to the container, options included (`kuke run IMAGE ls -p`): see {@link runArgv}.
 */
import { randomInt } from 'node:crypto';
import type { Command } from 'commander';
import type { KukeonClient } from '../../api/client.js';
import { ErrorKind, isKukeError, KukeError } from '../../errors.js';
import { validateName } from '../../model/names.js';
import { parsePublish } from '../../model/ports.js';
import type { CellView } from '../../model/resources.js';
import type { CommandContext } from '../context.js';
import { CommandExit } from '../errors.js';
import { withScope, type ScopeOptions } from '../kinds.js';
import { securityFields, withSecurityFlags, type SecurityOptions } from '../security-flags.js';
import { oneContainerCell } from './create.js';

interface RunOptions extends ScopeOptions, SecurityOptions {
  detach?: boolean;
  rm?: boolean;
  interactive?: boolean;
  tty?: boolean;
  name?: string;
  env?: string[];
  publish?: string[];
  entrypoint?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function register(program: Command, ctx: CommandContext): void {
  const command = program
    .command('run')
    .description('create a one-container cell from an image, start it, and wait for it (or -d: print its name)')
    .argument('<image>', 'image of the cell\'s container')
    .argument('[command...]', "replaces the image's Cmd (its Entrypoint is kept); everything after the image goes to it")
    .option('-d, --detach', "print the cell's name and return; the cell keeps running")
    .option('--rm', 'delete the cell (containers, network, cgroups, logs) once it exits')
    .option('-i, --interactive', 'keep stdin open (not yet: needs kuke attach)')
    .option('-t, --tty', 'allocate a terminal (not yet: needs kuke attach)')
    .option('--name <name>', 'name of the cell (default: a generated one, e.g. brave-otter)')
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .option('-p, --publish <[hostIP:]hostPort:containerPort[/tcp|udp]>', 'publish a port of the cell on the host (repeatable)', collect)
    .option('--entrypoint <path>', "replaces the image's Entrypoint");
  withScope(withSecurityFlags(command)).action(async (image: string, words: string[], options: RunOptions) => {
    if (options.interactive || options.tty) {
      throw new KukeError(ErrorKind.Unimplemented, `kuke run ${options.tty ? '-t' : '-i'} is not supported yet: it needs kuke attach (issue 12)`, {
        hint: 'run it with -d for now (the cell keeps running; kuke stop cell <name> stops it)',
      });
    }
    if (!options.detach && ctx.inProcess()) {
      throw new KukeError(ErrorKind.FailedPrecondition, 'kuke run in the foreground needs kukeond: in-process nothing would record the exit it waits for', {
        hint: 'ask kukeond (without --no-daemon/--run-path), or run it with -d',
      });
    }
    // Before connecting: bad input is refused without touching the daemon or the log.
    const ports = (options.publish ?? []).map(parsePublish);
    const security = securityFields(options, { hostNetwork: false });
    if (options.name !== undefined) validateName('cell', options.name);
    const ref = { realm: options.realm!, space: options.space!, stack: options.stack! };
    const client = await ctx.client();
    const name = options.name ?? (await freshName(client, ref));
    const template = oneContainerCell({
      image,
      command: options.entrypoint !== undefined ? [options.entrypoint] : [],
      args: words,
      env: options.env ?? [],
      ports,
      // In the foreground kuke deletes the cell itself once it has the exit code (see the header).
      autoDelete: options.rm === true && options.detach === true,
      security,
    });
    const cell = { ...ref, cell: name };
    const { view } = await client.createCell({ ...cell, template, start: true });
    if (options.detach) {
      ctx.streams.out(`${name}\n`);
      return;
    }
    const ended = await printUntilStopped(ctx, client, cell, view);
    const root = ended.containers.find((c) => c.root);
    if (options.rm) await client.delete({ kind: 'cell', ...ref, name });
    if (ended.state === 'Failed') {
      throw new KukeError(ErrorKind.FailedPrecondition, `cell "${name}" failed: ${ended.error?.message ?? 'see kuke history cell ' + name}`, {
        hint: `see why: kuke history cell ${name}`,
      });
    }
    // As docker run: the container's code; 128+N for a death by signal N is already in it.
    const status = root?.exitCode ?? 1;
    if (status !== 0) throw new CommandExit(status);
  });
}

/**
 * Prints the root's output from its first byte (so nothing it wrote before kuke asked is lost) until the cell stops,
 * then resolves with the cell as it ended (Exited, Stopped, Failed, or Deleted by someone else). Ctrl-C (or SIGTERM)
 * stops the cell and keeps printing until it has stopped, as `docker run` passes the signal on.
 */
async function printUntilStopped(ctx: CommandContext, client: KukeonClient, cell: { realm: string; space: string; stack: string; cell: string }, started: CellView): Promise<CellView> {
  const query = { kind: 'cell' as const, realm: cell.realm, space: cell.space, stack: cell.stack, name: cell.cell };
  const write = ctx.streams.bytes ?? ((chunk: Uint8Array) => ctx.streams.out(Buffer.from(chunk).toString('utf8')));
  let stopping: Promise<unknown> | undefined;
  const onSignal = () => {
    stopping ??= client.stopCell(cell, { mode: 'stop' }).catch(() => undefined);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await client.logs(cell, { follow: true }, write);
    await stopping;
    // Someone else may have deleted it meanwhile: then its exit code is unknown.
    const [view] = (await client.find(query).catch((err) => {
      if (isKukeError(err, ErrorKind.NotFound)) return [];
      throw err;
    })) as CellView[];
    return view ?? { ...started, state: 'Deleted', containers: [] };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Docker-like readable names: `<adjective>-<noun>` (DNS labels have no `_`). */
const ADJECTIVES = ['agile', 'bold', 'brave', 'bright', 'calm', 'clever', 'cool', 'eager', 'fair', 'fast', 'gentle', 'happy', 'jolly', 'keen', 'kind', 'lucid', 'merry', 'neat', 'nimble', 'noble', 'proud', 'quick', 'quiet', 'sharp', 'shy', 'sleek', 'smart', 'snug', 'steady', 'sunny', 'swift', 'tidy', 'vivid', 'warm', 'wise', 'witty', 'young', 'zen'];
const NOUNS = ['badger', 'beaver', 'bison', 'cobra', 'condor', 'crane', 'dingo', 'eagle', 'falcon', 'ferret', 'gecko', 'heron', 'ibis', 'jackal', 'koala', 'lemur', 'lynx', 'marten', 'moose', 'newt', 'ocelot', 'otter', 'panda', 'puffin', 'quail', 'raven', 'salmon', 'seal', 'shrew', 'stoat', 'tapir', 'tern', 'toucan', 'vole', 'walrus', 'wombat', 'yak', 'zebra'];

/** A generated name that no cell of the stack has (with a number after it once the pairs run short). */
async function freshName(client: KukeonClient, ref: { realm: string; space: string; stack: string }): Promise<string> {
  const taken = new Set((await client.find({ kind: 'cell', ...ref }).catch(() => [])).map((v) => v.name));
  for (let attempt = 0; ; attempt++) {
    const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}`;
    const name = attempt < 20 ? base : `${base}-${randomInt(1000, 10000)}`;
    if (!taken.has(name)) return name;
  }
}

/** {@link runArgv} with the options of `program` and of its run command. */
export function runArgvOf(program: Command, argv: string[]): string[] {
  const run = program.commands.find((c) => c.name() === 'run');
  const valued = new Set(
    [...program.options, ...(run?.options ?? [])].filter((o) => o.required || o.optional).flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined)),
  );
  return runArgv(argv, (word) => valued.has(word));
}

/**
 * `kuke … run [options] IMAGE CMD ARGS…` as commander should read it: a `--` after IMAGE, so that the container's words
 * are never taken for kuke's options (`kuke run IMAGE ls -p` lists with -p; Docker stops at the image too). `options`
 * names the options that take a value (of the program and of run), so that their values are not taken for IMAGE.
 * Argv without `run` as its command, or with a `--` already, is returned as it is.
 */
export function runArgv(argv: string[], takesValue: (option: string) => boolean): string[] {
  let i = 0;
  const skipOptions = () => {
    while (i < argv.length && argv[i]!.startsWith('-') && argv[i] !== '--' && argv[i] !== '-') {
      const word = argv[i]!;
      i += word.includes('=') || !takesValue(word) ? 1 : 2;
    }
  };
  skipOptions();
  if (argv[i] !== 'run') return argv;
  i++;
  skipOptions();
  if (i >= argv.length || argv[i] === '--' || argv[i + 1] === '--') return argv;
  return [...argv.slice(0, i + 1), '--', ...argv.slice(i + 1)];
}
