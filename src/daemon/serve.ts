/**
 * kukeond: wires the parts and decides nothing. Order matters:
 *
 *   log file → event-log lock (waits while `kuke init` holds it) → replay → reconcile → read model
 *   → execs of a previous daemon ended → DaemonStarted → stale socket removed (only now: the lock proves no other daemon) → bind under umask 0117
 *   → chown root:kukeon → pid file → serve → log rotation (a pass now, then periodic).
 *
 * SIGTERM/SIGINT drain: refuse new requests, let in-flight ones finish (bounded), record DaemonStopped, close the
 * log (releases the lock), remove socket and pid file. SIGHUP reopens the log file (logrotate). Container logs and
 * kukeond.log are rotated by the daemon itself (src/runtime/logs/), by --log-max-size/--log-max-file: an in-process
 * `kuke` rotates nothing.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { dirname } from 'node:path';
import { pino } from 'pino';
import { ServerCredentials, type Server } from '@grpc/grpc-js';
import { EngineBackend } from '../api/backend.js';
import { Authorizer, resolveHostPath } from '../api/authorization.js';
import { createApiServer, kukeonHandlers } from '../api/server.js';
import { catalogCodec } from '../engine/codec.js';
import { runLayout } from '../engine/config.js';
import { reapExecs } from '../engine/exec.js';
import { openEngine, type OpenedEngine } from '../engine/index.js';
import { ensurePrivateDirs } from '../engine/private-dirs.js';
import { ReadModelWriter } from '../engine/read-model.js';
import { cellView, realmView } from '../engine/views.js';
import { ErrorKind, KukeError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { validateSocketPath } from '../model/names.js';
import { DAEMON_STREAM } from '../model/streams.js';
import { createRuntime } from '../runtime/index.js';
import { rotateOwnLog } from '../runtime/logs/own-log.js';
import { LogRotator, type LogRotatorOptions } from '../runtime/logs/rotator.js';
import type { LogRotationPolicy, LogRotationReport, Runtime } from '../runtime/ports.js';
import type { HostSettings } from '../settings.js';
import { LevelEventLog, isLockedError } from '../store/event-log.js';
import type { EventStore } from '../store/types.js';
import { VERSION } from '../version.js';
import { groupId, groupName, socketAnswers } from './host.js';
import { PeerRegistry } from './peer.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  settings: HostSettings;
  /** How long to wait for the event log's lock (kuke init holds it while it starts this daemon). */
  lockWaitMs?: number;
  /** Replaces the real runtime (tests). */
  runtime?: Runtime;
  /** Interval and timer of the container log rotation (tests); the policy comes from the settings. */
  logRotation?: Pick<LogRotatorOptions, 'intervalMs' | 'timer'>;
}

/** A running daemon. */
export interface RunningDaemon {
  logger: Logger;
  opened: OpenedEngine;
  /** Drains and stops; resolves when everything is released. */
  stop(reason: string): Promise<void>;
  /** Resolves when the daemon has stopped. */
  stopped: Promise<void>;
  /** The container log rotation (tests run a pass with `check()`). */
  rotator: LogRotator;
}

/** How much of the daemon's log is held in memory while its file cannot be written (a full disk); then lines drop. */
const LOG_BUFFER_BYTES = 16 * 1024 * 1024;

function daemonLogger(settings: HostSettings): { logger: Logger; reopen: () => void } {
  mkdirSync(dirname(settings.daemonLogFile), { recursive: true, mode: 0o700 });
  const file = pino.destination({ dest: settings.daemonLogFile, sync: false, mkdir: true, maxLength: LOG_BUFFER_BYTES, mode: 0o600 });
  const stderr = pino.destination({ dest: 2, sync: true });
  const logger = createLogger({ svc: 'kukeond', level: settings.logLevel, destination: pino.multistream([{ stream: file }, { stream: stderr }]) });
  // A destination that cannot write (ENOSPC, EIO) emits 'error'; unheard, that event would kill the daemon. The
  // file keeps what it could not write and retries on the next line, so logging resumes when space returns.
  let failing = false;
  file.on('error', (err: NodeJS.ErrnoException) => {
    if (failing) return;
    failing = true;
    logger.error({ err, file: settings.daemonLogFile }, 'cannot write the daemon log file; lines are kept in memory (up to 16 MiB) and written when it can be');
  });
  file.on('write', () => {
    if (!failing) return;
    failing = false;
    logger.info({ file: settings.daemonLogFile }, 'writing the daemon log file again');
  });
  stderr.on('error', () => undefined);
  return { logger, reopen: () => file.reopen() };
}

/**
 * Process-level safety for kukeond (installed by its entry point, not by tests that serve in-process): a promise
 * rejected with nobody listening is a bug to log, not a reason to drop every client; an uncaught exception still
 * ends the process (its state is unknown), but its cause reaches the log first.
 */
export function guardProcess(logger: Logger): void {
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection (a bug in kukeon); the daemon keeps serving'));
  process.on('uncaughtExceptionMonitor', (err, origin) => {
    logger.fatal({ err, origin }, 'uncaught exception (a bug in kukeon); the daemon stops');
    logger.flush();
  });
}

async function takeLog(settings: HostSettings, logger: Logger, lockWaitMs: number): Promise<EventStore> {
  const path = runLayout(settings.engine.runPath).eventLog;
  if (!existsSync(path)) {
    logger.info({ path }, 'no event log yet: creating it (first start on this run path)');
    mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    return LevelEventLog.create(path, { codec: catalogCodec, logger });
  }
  const deadline = Date.now() + lockWaitMs;
  let announced = false;
  for (;;) {
    try {
      return await LevelEventLog.open(path, { codec: catalogCodec, logger });
    } catch (err) {
      if (!isLockedError(err) || Date.now() > deadline) throw err;
      if (!announced) logger.info({ path }, 'waiting for the event log lock (held by another kukeon process)');
      announced = true;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Listens on the API socket and hands each connection to grpc-js, after registering it so its caller's credentials
 * are looked up (peer.ts). Returns the listener, which the stop closes first.
 */
async function bindSocket(server: Server, peers: PeerRegistry, settings: HostSettings, logger: Logger): Promise<NetServer> {
  const socket = settings.socket;
  validateSocketPath(socket);
  const dir = dirname(socket);
  const gid = groupId(settings.socketGroup);
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  chmodSync(dir, 0o750);
  if (gid !== undefined) chownSync(dir, 0, gid);
  else logger.warn({ group: settings.socketGroup }, 'socket group does not exist; the socket stays root-only (kuke init creates it)');
  if (existsSync(socket)) {
    // We hold the log's lock, so no other daemon serves here: the file is stale (a kill -9 leaves it behind).
    if (await socketAnswers(socket)) throw new KukeError(ErrorKind.FailedPrecondition, `something already answers on ${socket}`, { hint: 'is another kukeond using this socket with another run path?' });
    rmSync(socket, { force: true });
    logger.info({ socket }, 'removed a stale socket');
  }
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const listener = createNetServer((connection) => {
    peers.register(connection);
    injector.injectConnection(connection);
  });
  // umask 0117 makes the socket 0660 from the start: no window in which it is wider.
  const old = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(socket, () => {
        listener.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(old);
  }
  listener.on('error', (err) => logger.error({ err }, 'API socket error'));
  if (gid !== undefined) chownSync(socket, 0, gid);
  const mode = statSync(socket).mode & 0o777;
  logger.info({ socket, mode: mode.toString(8), group: gid === undefined ? 'root' : groupName(settings.socketGroup) }, 'listening');
  return listener;
}

/**
 * The host's root as the daemon can walk it: through the host's init (the daemon's cell shares its PID namespace);
 * else its own root, where the allow-list's directories are bound at their host paths (cell-template.ts), so that a
 * source resolves there as on the host, and one that leads elsewhere resolves outside them or not at all (refused).
 */
function hostRoot(): string {
  try {
    readdirSync('/proc/1/root/');
    return '/proc/1/root';
  } catch {
    return '/';
  }
}

/** Who may do what (src/api/authorization.ts), over the live views; denials are recorded on the daemon's stream. */
function authorizer(settings: HostSettings, opened: OpenedEngine, logger: Logger): Authorizer {
  const root = hostRoot();
  logger.info({ hostRoot: root, allowedBindPaths: settings.allowedBindPaths }, 'bind sources are resolved on the host root');
  const engine = opened.engine;
  return new Authorizer({
    groups: { operator: settings.socketGroup, admin: settings.adminGroup, viewer: settings.viewGroup },
    context: {
      // Only what a check reads: a view of every cell per request would cost as much as a `kuke get cells`.
      realms: () => engine.list('realm/', { live: true }).map(realmView),
      cellTemplate: (ref) => {
        const agg = engine.list(`cell/${ref.realm}/${ref.space}/${ref.stack}/`, { live: true }).find((a) => a.stream === `cell/${ref.realm}/${ref.space}/${ref.stack}/${ref.cell}`);
        return agg ? (cellView(engine, agg).template ?? undefined) : undefined;
      },
      bind: { allowed: settings.allowedBindPaths, resolve: (path) => resolveHostPath(path, root) },
    },
    record: async (denial, actor) => {
      await engine.dispatch(DAEMON_STREAM, 'AccessDenied', denial, { actor });
    },
    logger,
  });
}

/** Starts kukeond. */
export async function serve(options: ServeOptions): Promise<RunningDaemon> {
  const started = performance.now();
  const { settings } = options;
  // Before anything is written there: an install made before these modes is fixed on its next start.
  const tightened = ensurePrivateDirs(settings.engine.runPath);
  const { logger, reopen } = daemonLogger(settings);
  if (tightened > 0) logger.info({ runPath: settings.engine.runPath, entries: tightened }, 'made the event log, read model and logs root-only (0700/0600)');
  logger.info({ version: VERSION, pid: process.pid, runPath: settings.engine.runPath }, 'kukeond starting');
  const store = await takeLog(settings, logger, options.lockWaitMs ?? 60_000);
  const runtime = options.runtime ?? (await createRuntime(settings, logger));
  const readModel = new ReadModelWriter(runLayout(settings.engine.runPath).readModel, logger);
  let opened: OpenedEngine;
  try {
    opened = await openEngine({ store, runtime, config: settings.engine, logger, onApplied: readModel.onApplied, resumeRestarts: true });
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  readModel.attach(opened.engine);
  const engine = opened.engine;
  logger.info({ replayed: engine.replayStats.events, fromSnapshots: engine.replayStats.fromSnapshots, replayMs: Math.round(engine.replayStats.ms), reconcile: opened.reconcileReport }, 'replayed and reconciled');

  // Processes a previous daemon relayed (kuke exec): their clients went with it; killed, their ends recorded.
  const reaped = await reapExecs(engine, { actor: { type: 'daemon', pid: process.pid } }).catch((err: unknown) => logger.warn({ err }, 'could not reap the execs of a previous daemon'));
  if (reaped) logger.info({ reaped }, 'ended the execs of a previous daemon');

  const unclean = engine.stateOf(DAEMON_STREAM) === 'Running';
  const readyMs = performance.now() - started;
  await engine.dispatch(DAEMON_STREAM, 'DaemonStarted', { pid: process.pid, version: VERSION, replayed: engine.replayStats.events, readyMs, uncleanShutdown: unclean }, { actor: { type: 'daemon', pid: process.pid } });

  let draining = false;
  const peers = new PeerRegistry(logger);
  const handlers = kukeonHandlers((actor) => new EngineBackend(opened, runtime, actor), logger, () => draining, (peer) => peers.credentialsOf(peer), authorizer(settings, opened, logger));
  const server = createApiServer(handlers);
  const listener = await bindSocket(server, peers, settings, logger);
  writeFileSync(settings.pidFile, `${process.pid}\n`, { mode: 0o644 });
  logger.info({ readyMs: Math.round(performance.now() - started) }, 'kukeond ready');
  // kukeond's own log is bounded by the same policy as the containers' (renamed and reopened: it is our writer).
  const logs = {
    async rotate(policy: LogRotationPolicy): Promise<LogRotationReport> {
      const containers = await runtime.logs.rotate(policy);
      const own = await rotateOwnLog(settings.daemonLogFile, policy, reopen);
      return { rotated: [...containers.rotated, ...own.rotated], removed: [...containers.removed, ...own.removed] };
    },
  };
  const rotator = new LogRotator(logs, { maxBytes: settings.engine.logMaxBytes, maxFiles: settings.engine.logMaxFiles }, { ...options.logRotation, logger });
  rotator.start();

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;
  const stop = (reason: string) => {
    stopping ??= (async () => {
      draining = true;
      logger.info({ reason }, 'kukeond draining');
      listener.close();
      await rotator.stop();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 5_000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await engine.settle({ timeoutMs: 10_000 }).catch(() => undefined);
      await engine.dispatch(DAEMON_STREAM, 'DaemonStopped', { pid: process.pid, reason }, { actor: { type: 'daemon', pid: process.pid } }).catch((err) => logger.warn({ err }, 'could not record the stop'));
      await opened.close({ graceMs: 10_000 });
      readModel.flush();
      rmSync(settings.socket, { force: true });
      rmSync(settings.pidFile, { force: true });
      runtime.containers.close();
      logger.info('kukeond stopped');
      logger.flush();
      resolveStopped();
    })();
    return stopping;
  };
  process.on('SIGHUP', reopen);
  return { logger, opened, stop, stopped, rotator };
}
