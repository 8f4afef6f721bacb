/**
 * What every command gets: the resolved settings, the output streams and format, and the client — the daemon's
 * (gRPC over its socket) or an in-process one (`--no-daemon`, `KUKEON_NO_DAEMON=true`, or an explicit run path).
 */
import type { Command } from 'commander';
import type { KukeonClient } from '../api/client.js';
import { ErrorKind, KukeError } from '../errors.js';
import { createLogger, silentLogger, type Logger } from '../log.js';
import { ENV, resolveSettings, type HostSettings, type SettingFlags } from '../settings.js';
import type { OutputFormat, Streams } from './output.js';
import { OUTPUT_FORMATS } from './output.js';

/** Options every command accepts (declared on the root program). */
export interface GlobalOptions extends SettingFlags {
  noDaemon?: boolean;
  verbose?: boolean;
}

/** A command's view of the world. */
export interface CommandContext {
  streams: Streams;
  /** Settings from the global flags and the environment. */
  settings(): HostSettings;
  /** Whether this invocation works in-process. */
  inProcess(): boolean;
  /** The client for this invocation (created once). */
  client(): Promise<KukeonClient>;
  logger(): Logger;
  /** Closes what was opened (the client). */
  close(): Promise<void>;
}

/** Factories the CLI is built with; tests swap them. */
export interface ClientFactories {
  daemon: (settings: HostSettings, logger: Logger) => Promise<KukeonClient>;
  inProcess: (settings: HostSettings, logger: Logger) => Promise<KukeonClient>;
}

/** Builds the context of one invocation from the root program's options. */
export function createContext(program: Command, streams: Streams, factories: ClientFactories, env: NodeJS.ProcessEnv = process.env): CommandContext {
  let client: Promise<KukeonClient> | undefined;
  let logger: Logger | undefined;
  const globals = () => program.opts<GlobalOptions>();
  const settings = () => resolveSettings(globals(), env);
  const inProcess = () => globals().noDaemon === true || env[ENV.noDaemon] === 'true' || globals().runPath !== undefined || env[ENV.runPath] !== undefined;
  const getLogger = () => {
    logger ??= globals().verbose ? createLogger({ svc: 'kuke', level: settings().logLevel === 'info' ? 'debug' : settings().logLevel }) : silentLogger();
    return logger;
  };
  // In-process, kuke is the daemon: it writes the log and drives containerd, cgroups and networks, with no one to
  // check what it asks. Only root may (issue 11); everyone else asks kukeond, which checks.
  const inProcessClient = async () => {
    if ((process.getuid?.() ?? 0) !== 0) {
      throw new KukeError(ErrorKind.PermissionDenied, 'working in-process (--no-daemon, --run-path, KUKEON_NO_DAEMON, KUKEON_RUN_PATH) needs root', {
        hint: 'ask kukeond instead: run the command without them',
      });
    }
    return factories.inProcess(settings(), getLogger());
  };
  return {
    streams,
    settings,
    inProcess,
    logger: getLogger,
    client() {
      client ??= inProcess() ? inProcessClient() : factories.daemon(settings(), getLogger());
      return client;
    },
    async close() {
      if (client) await (await client.catch(() => undefined))?.close();
    },
  };
}

/** Parses `-o`. */
export function parseFormat(value: string | undefined, allowed: readonly OutputFormat[] = OUTPUT_FORMATS): OutputFormat {
  const format = (value ?? 'table') as OutputFormat;
  if (!allowed.includes(format)) {
    throw new KukeError(ErrorKind.InvalidArgument, `unknown output format "${value}"`, { hint: `use one of: ${allowed.join(', ')}` });
  }
  return format;
}
