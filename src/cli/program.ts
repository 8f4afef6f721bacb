/**
 * The kuke command tree: global options, then every command, registered from one list. Commands live one per file
 * in commands/; each declares its arguments and options and calls the client.
 */
import { Command, CommanderError, Option } from 'commander';
import { ErrorKind, KukeError } from '../errors.js';
import { DEFAULT_POD_SUBNET } from '../engine/config.js';
import { VERSION } from '../version.js';
import { createContext, type ClientFactories, type CommandContext } from './context.js';
import { CommandExit, EXIT_FAILURE, reportError } from './errors.js';
import type { Streams } from './output.js';
import * as apply from './commands/apply.js';
import * as completion from './commands/completion.js';
import * as create from './commands/create.js';
import * as daemon from './commands/daemon.js';
import * as exec from './commands/exec.js';
import * as del from './commands/delete.js';
import * as get from './commands/get.js';
import * as history from './commands/history.js';
import * as image from './commands/image.js';
import * as init from './commands/init.js';
import * as lifecycle from './commands/lifecycle.js';
import * as logs from './commands/logs.js';
import * as run from './commands/run.js';
import * as version from './commands/version.js';

/** Every command, in help order. */
export const COMMANDS: { register(program: Command, ctx: CommandContext): void }[] = [init, get, create, apply, del, lifecycle, run, exec, logs, history, image, daemon, version, completion];

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Builds the program. */
export function buildProgram(streams: Streams, factories: ClientFactories, env: NodeJS.ProcessEnv = process.env): { program: Command; ctx: CommandContext } {
  const program = new Command('kuke')
    .description('kukeon: a single-host container orchestrator (realms → spaces → stacks → cells → containers)')
    .version(`v${VERSION}`, '--client-version', 'print the client version')
    .option('--run-path <dir>', 'work in-process on this run path (default /opt/kukeon)')
    .option('--no-daemon', 'work in-process instead of asking kukeond')
    .option('--socket <path>', "kukeond's socket (default /run/kukeon/kukeond.sock)")
    .option('--containerd-socket <path>', "containerd's socket (default /run/containerd/containerd.sock)")
    .option('--cgroup-root <path>', 'cgroup root of the hierarchy (default /kukeon)')
    .addOption(new Option('--runc-root <dir>', "runc's state root for kukeon's tasks (default runc's own)").hideHelp())
    .addOption(new Option('--namespace-suffix <suffix>', 'suffix of realm namespaces (default kukeon.io)').hideHelp())
    .addOption(new Option('--cni-bin-dir <dir>', 'directory of CNI plugins (repeatable)').argParser(collect).hideHelp())
    .addOption(new Option('--pod-subnet <cidr>', `parent CIDR of the spaces' /24s (default ${DEFAULT_POD_SUBNET})`).hideHelp())
    .addOption(new Option('--log-max-size <size>', "kukeond rotates a container's log at this size (default 10m)").hideHelp())
    .addOption(new Option('--log-max-file <n>', 'log files kept per container, the live one included (default 3)').hideHelp())
    .option('-v, --verbose', 'log what kuke does to stderr')
    // commander's own usage errors are reported by runKuke in our one-line form, not printed here; so is `kuke help
    // <unknown>`, for which commander would print the whole help on stderr (its only use of writeErr here).
    .configureOutput({ writeOut: (s) => streams.out(s), writeErr: () => undefined, outputError: () => undefined });
  // commander's --no-daemon defines `daemon: true` by default; expose it as noDaemon for the context.
  program.hook('preAction', (root) => {
    const opts = root.opts<{ daemon?: boolean; noDaemon?: boolean }>();
    if (opts.daemon === false) root.setOptionValue('noDaemon', true);
  });
  const ctx = createContext(program, streams, factories, env);
  for (const command of COMMANDS) command.register(program, ctx);
  for (const command of allCommands(program)) {
    command.exitOverride((err) => {
      throw Object.assign(err, { commandPath: commandPath(command) });
    });
    if (command.commands.length > 0 && command !== program) requireSubcommand(command);
  }
  return { program, ctx };
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

/** `kuke daemon` for the daemon command. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * A command group (`kuke daemon`) run without a subcommand, or with one that does not exist, fails with one line
 * listing its subcommands (commander would print the whole help on stderr).
 */
function requireSubcommand(group: Command): void {
  const names = group.commands.map((c) => c.name()).filter((n) => n !== 'help');
  group.usage('[options] [command]').argument('[subcommand]').action((word: string | undefined) => {
    const what = word === undefined ? `${commandPath(group)} needs a subcommand` : `unknown command "${word}" for ${commandPath(group)}`;
    throw new KukeError(ErrorKind.InvalidArgument, what, { hint: `use one of: ${names.join(', ')} (see: ${commandPath(group)} --help)` });
  });
}

/** commander's usage error (unknown option, missing argument…) as our one line: the problem, then where to look. */
function usageLine(err: CommanderError): string {
  const [first = '', ...rest] = err.message.replace(/^error:\s*/i, '').split('\n');
  const suggestion = rest.map((l) => l.trim().replace(/^\((.*)\)$/, '$1')).filter(Boolean).join('; ');
  const where = (err as CommanderError & { commandPath?: string }).commandPath ?? 'kuke';
  return `Error: ${first.replace(/\.$/, '')}${suggestion ? ` (${suggestion.charAt(0).toLowerCase()}${suggestion.slice(1).replace(/\?$/, '?')})` : ''}; see: ${where} --help\n`;
}

/** `kuke help <word>` for a word that is no command: one line naming it, instead of the whole help on stderr. */
function unknownHelpTopic(argv: string[], err: CommanderError): string {
  const where = (err as CommanderError & { commandPath?: string }).commandPath ?? 'kuke';
  const word = argv[argv.lastIndexOf('help') + 1];
  return `Error: ${word === undefined ? `${where} has no such command` : `unknown command ${JSON.stringify(word)}`}; see: ${where} --help\n`;
}

/** Runs kuke with `argv` (without node and script); resolves with the exit status. */
export async function runKuke(argv: string[], streams: Streams, factories: ClientFactories, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { program, ctx } = buildProgram(streams, factories, env);
  if (argv.length === 0) {
    streams.out(program.helpInformation());
    return 0;
  }
  try {
    await program.parseAsync(run.runArgvOf(program, argv), { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommandExit) return err.status;
    if (err instanceof CommanderError) {
      // Help and version output are not failures.
      if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      streams.err(err.code === 'commander.help' ? unknownHelpTopic(argv, err) : usageLine(err));
      return EXIT_FAILURE;
    }
    let settings;
    try {
      settings = ctx.settings();
    } catch {
      settings = undefined;
    }
    return reportError(streams, err, { ...(settings ? { socket: settings.socket } : {}), debug: program.opts().verbose === true });
  } finally {
    await ctx.close().catch(() => undefined);
  }
}
