/**
 * `kuke daemon start|stop|kill|restart|recreate|reset|logs`: the daemon's own lifecycle, done in-process (as root)
 * on its cell `kukeond` in the system realm — the daemon cannot stop itself, so kuke talks to containerd directly
 * and records what it did in the event log once the daemon has let go of it.
 */
import type { Command } from 'commander';
import type { InProcessClient } from '../../api/in-process.js';
import { pingDaemon } from '../../api/grpc-client.js';
import { ErrorKind, KukeError, isKukeError } from '../../errors.js';
import { SYSTEM_CELL, SYSTEM_REALM, SYSTEM_SPACE, SYSTEM_STACK } from '../../model/names.js';
import type { CellView } from '../../model/resources.js';
import type { CommandContext } from '../context.js';
import { parseDuration } from '../values.js';
import { parseTail, printLogs } from './logs.js';

const SYSTEM_CELL_REF = { realm: SYSTEM_REALM, space: SYSTEM_SPACE, stack: SYSTEM_STACK, cell: SYSTEM_CELL };

/** The in-process machinery, loaded only when a daemon verb runs. */
async function load() {
  const [bootstrap, inProcess, runtime, template] = await Promise.all([
    import('../../api/bootstrap.js'),
    import('../../api/in-process.js'),
    import('../../runtime/index.js'),
    import('../../daemon/cell-template.js'),
  ]);
  return { ...bootstrap, ...inProcess, ...runtime, ...template };
}

const WHERE = `cell "kukeond" in realm "kukeon-system"`;

export function register(program: Command, ctx: CommandContext): void {
  const daemon = program.command('daemon').description("manage kukeond (its cell in the system realm); needs root");

  const client = async (): Promise<InProcessClient> => {
    const { InProcessClient, createRuntime } = await load();
    const settings = ctx.settings();
    return new InProcessClient({ config: settings.engine, runtime: () => createRuntime(settings, ctx.logger()), logger: ctx.logger() });
  };

  /** The kukeond cell as the log (or the read model) has it; NotFound means the host is not initialised. */
  const daemonCell = async (c: InProcessClient): Promise<CellView> => {
    try {
      return (await c.find({ kind: 'cell', ...SYSTEM_CELL_REF, name: SYSTEM_CELL_REF.cell }))[0] as CellView;
    } catch (err) {
      if (isKukeError(err, ErrorKind.NotFound)) {
        throw new KukeError(ErrorKind.FailedPrecondition, 'kukeon host is not initialized: the kukeond cell is missing', { hint: 'run: sudo kuke init' });
      }
      throw err;
    }
  };

  const preflight = async () => {
    const { requireContainerd, requireRoot } = await load();
    requireRoot('kuke daemon');
    const settings = ctx.settings();
    requireContainerd(settings);
    return settings;
  };

  const stop = async (mode: 'stop' | 'kill', graceMs: number | undefined): Promise<'stopped' | 'already'> => {
    const settings = ctx.settings();
    const c = await client();
    try {
      const cell = await daemonCell(c);
      const alive = await pingDaemon(settings.socket, 500).then(() => true, () => false);
      if (!alive && cell.state !== 'Ready') return 'already';
      await c.stopCell(SYSTEM_CELL_REF, { mode, ...(graceMs !== undefined ? { graceMs } : {}) });
      (await load()).removeDaemonFiles(settings);
      return 'stopped';
    } finally {
      await c.close();
    }
  };

  const start = async (): Promise<'started' | 'already'> => {
    const settings = ctx.settings();
    if (await pingDaemon(settings.socket, 500).then(() => true, () => false)) return 'already';
    const c = await client();
    try {
      const cell = await daemonCell(c);
      if (cell.state === 'Ready') {
        // Ready in the log but not answering (killed, crashed): put the cell down before starting it again.
        ctx.streams.err(`kukeond is not answering although its cell is Ready; restarting it\n`);
        await c.stopCell(SYSTEM_CELL_REF, { mode: 'kill' });
      }
      (await load()).ensureDaemonDirs(settings);
      await c.startCell(SYSTEM_CELL_REF);
    } finally {
      await c.close();
    }
    await (await load()).waitForDaemon(settings);
    return 'started';
  };

  daemon
    .command('start')
    .description('start kukeond')
    .action(async () => {
      await preflight();
      const outcome = await start();
      ctx.streams.out(outcome === 'already' ? `kukeond is already running (${WHERE})\n` : `kukeond started (${WHERE}); socket ${ctx.settings().socket}\n`);
    });

  daemon
    .command('stop')
    .description('stop kukeond (SIGTERM, then SIGKILL after the timeout)')
    .option('--timeout <duration>', 'grace period before SIGKILL', '10s')
    .action(async (options: { timeout?: string }) => {
      const graceMs = parseDuration('--timeout', options.timeout ?? '10s');
      await preflight();
      const outcome = await stop('stop', graceMs);
      ctx.streams.out(outcome === 'already' ? `kukeond is already stopped (${WHERE})\n` : `kukeond stopped (${WHERE})\n`);
    });

  daemon
    .command('kill')
    .description('kill kukeond (SIGKILL)')
    .action(async () => {
      await preflight();
      const outcome = await stop('kill', 0);
      ctx.streams.out(outcome === 'already' ? `kukeond is already stopped (${WHERE})\n` : `kukeond killed (${WHERE})\n`);
    });

  daemon
    .command('restart')
    .description('stop kukeond, then start it')
    .option('--timeout <duration>', 'grace period before SIGKILL', '10s')
    .action(async (options: { timeout?: string }) => {
      const graceMs = parseDuration('--timeout', options.timeout ?? '10s');
      await preflight();
      await stop('stop', graceMs);
      await start();
      ctx.streams.out(`kukeond restarted (${WHERE})\n`);
    });

  daemon
    .command('reset')
    .description("remove kukeond's cell, socket and pid file (user realms are kept)")
    .option('--purge-system', 'also delete the system realm')
    .action(async (options: { purgeSystem?: boolean }) => {
      await preflight();
      const settings = ctx.settings();
      const c = await client();
      try {
        let cell: CellView | undefined;
        try {
          cell = await daemonCell(c);
        } catch (err) {
          if (!isKukeError(err, ErrorKind.FailedPrecondition)) throw err;
        }
        if (cell) await c.delete({ kind: 'cell', ...SYSTEM_CELL_REF, name: SYSTEM_CELL_REF.cell });
        for (const path of (await load()).removeDaemonFiles(settings)) ctx.streams.out(`removed ${path}\n`);
        if (options.purgeSystem) {
          await c.delete({ kind: 'realm', name: SYSTEM_CELL_REF.realm }, { cascade: true, force: true }).catch((err) => {
            if (!isKukeError(err, ErrorKind.NotFound)) throw err;
          });
          ctx.streams.out(`purged realm "${SYSTEM_CELL_REF.realm}"\n`);
        }
        ctx.streams.out(cell ? `kukeond cell removed (${WHERE})\n` : 'kukeond cell already torn down\n');
      } finally {
        await c.close();
      }
    });

  daemon
    .command('recreate')
    .description("swap kukeond's image and recreate its cell (the upgrade path); user cells are untouched")
    .option('--image <ref|tar>', 'image reference in the system namespace, or an OCI image tar to import')
    .option('--kukeond-image <ref|tar>', 'same as --image')
    .action(async (options: { image?: string; kukeondImage?: string }) => {
      const settings = await preflight();
      const requested = options.image ?? options.kukeondImage;
      const { ensureGroups, ensureDaemonDirs, resolveDaemonImage, daemonCellTemplate, waitForDaemon } = await load();
      await stop('stop', 10_000);
      const c = await client();
      let image = '';
      try {
        await daemonCell(c);
        const groups = await ensureGroups(settings);
        ensureDaemonDirs(settings);
        await c.session(async (opened, runtime, actor) => {
          const system = opened.operations.listRealms().find((r) => r.system);
          if (!system) throw new KukeError(ErrorKind.FailedPrecondition, 'the system realm is missing', { hint: 'run: sudo kuke init' });
          image = (await resolveDaemonImage(runtime, system.namespace, settings, requested, (line) => process.stderr.isTTY && ctx.streams.err(`${line}\n`))).ref;
          await opened.operations.applyCell({ ...SYSTEM_CELL_REF, realm: system.name, template: daemonCellTemplate(settings, image, groups) }, { actor });
        });
      } finally {
        await c.close();
      }
      await waitForDaemon(settings);
      ctx.streams.out(`kukeond recreated (${WHERE}, image ${image})\nkukeond is ready (unix://${settings.socket})\n`);
    });

  daemon
    .command('logs')
    .alias('log')
    .description(`print kukeond's output (kuke logs on ${WHERE}; JSON lines)`)
    .option('-f, --follow', 'keep printing new lines until the daemon stops (or Ctrl-C)')
    .option('-n, --tail <lines>', 'only the last lines, or "all"', 'all')
    .action(async (options: { follow?: boolean; tail?: string }) => {
      const tail = parseTail(options.tail);
      await preflight();
      // In-process, so that it works while the daemon is down (that is when its log is wanted most).
      const c = await client();
      try {
        await daemonCell(c);
        await printLogs(ctx, c, SYSTEM_CELL_REF, { ...(options.follow ? { follow: true } : {}), ...(tail !== undefined ? { tail } : {}) });
      } finally {
        await c.close();
      }
    });
}
