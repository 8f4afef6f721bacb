/**
 * The kuke command tree: global options, then every command, registered from one list. Commands live one per file
 * in commands/; each declares its arguments and options and calls the client.
 */
import { Command, CommanderError, Option } from 'commander';
import { VERSION } from '../version.js';
import { createContext, type ClientFactories, type CommandContext } from './context.js';
import { reportError } from './errors.js';
import type { Streams } from './output.js';
import * as apply from './commands/apply.js';
import * as completion from './commands/completion.js';
import * as create from './commands/create.js';
import * as daemon from './commands/daemon.js';
import * as del from './commands/delete.js';
import * as get from './commands/get.js';
import * as history from './commands/history.js';
import * as image from './commands/image.js';
import * as init from './commands/init.js';
import * as lifecycle from './commands/lifecycle.js';
import * as version from './commands/version.js';

/** Every command, in help order. */
export const COMMANDS: { register(program: Command, ctx: CommandContext): void }[] = [init, get, create, apply, del, lifecycle, history, image, daemon, version, completion];

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
    .addOption(new Option('--pod-subnet <cidr>', 'parent CIDR of the spaces (default 10.88.0.0/16)').hideHelp())
    .option('-v, --verbose', 'log what kuke does to stderr')
    .configureOutput({ writeOut: (s) => streams.out(s), writeErr: (s) => streams.err(s), outputError: (s, write) => write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  // commander's --no-daemon defines `daemon: true` by default; expose it as noDaemon for the context.
  program.hook('preAction', (root) => {
    const opts = root.opts<{ daemon?: boolean; noDaemon?: boolean }>();
    if (opts.daemon === false) root.setOptionValue('noDaemon', true);
  });
  const ctx = createContext(program, streams, factories, env);
  for (const command of COMMANDS) command.register(program, ctx);
  for (const sub of program.commands) sub.exitOverride().configureOutput({ writeOut: (s) => streams.out(s), writeErr: (s) => streams.err(s) });
  return { program, ctx };
}

/** Runs kuke with `argv` (without node and script); resolves with the exit status. */
export async function runKuke(argv: string[], streams: Streams, factories: ClientFactories, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { program, ctx } = buildProgram(streams, factories, env);
  if (argv.length === 0) {
    streams.out(program.helpInformation());
    return 0;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version output are not failures; usage errors were already printed by commander.
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 1;
    }
    let settings;
    try {
      settings = ctx.settings();
    } catch {
      settings = undefined;
    }
    return reportError(streams, err, { ...(settings ? { socket: settings.socket, logFile: settings.daemonLogFile } : {}), debug: program.opts().verbose === true });
  } finally {
    await ctx.close().catch(() => undefined);
  }
}
