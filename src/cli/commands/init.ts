/**
 * `kuke init`: bootstraps this host (as root, in-process): realm `default` (space and stack `default`) for
 * workloads, and the system realm `kukeon-system` whose cell `kukeond` runs the daemon from a locally built image.
 * Waits until the daemon answers, then reports what it created or found. Running it again changes nothing.
 */
import type { Command } from 'commander';
import type { BootstrapReport } from '../../api/bootstrap.js';
import { pingDaemon } from '../../api/grpc-client.js';
import type { CommandContext } from '../context.js';

/**
 * Prints the report the way the original does, and the pod subnet the spaces' /24s come from (so a user can tell
 * whether it meets another range on the host before it does).
 */
export function formatReport(report: BootstrapReport, runPath: string, socket: string, podSubnet: string): string {
  const lines = [
    report.changed ? 'Initialized Kukeon runtime' : 'Kukeon runtime already initialized',
    `Realm: ${report.realm.name} (namespace: ${report.realm.namespace})`,
    `System realm: ${report.systemRealm.name} (namespace: ${report.systemRealm.namespace})${report.systemRealm.adopted ? ' — adopted from an older layout' : ''}`,
    `Run path: ${runPath}`,
    `Pod subnet: ${podSubnet} (each space gets a /24 of it)`,
    `Kukeond image: ${report.image}`,
    'Actions:',
  ];
  for (const group of ['Default hierarchy', 'System hierarchy', 'Permissions'] as const) {
    const items = report.actions.filter((a) => a.group === group);
    if (items.length === 0) continue;
    lines.push(`  ${group}:`);
    for (const a of items) lines.push(`    - ${a.what}: ${a.outcome}`);
  }
  if (report.daemon) lines.push(`kukeond is ready (unix://${socket}, pid ${report.daemon.pid})`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('init')
    .description('bootstrap this host: the default realm and the system realm running kukeond (root)')
    .option('--kukeond-image <ref|tar>', 'run kukeond from this image reference, or import this OCI image tar')
    .option('--no-wait', 'do not wait for kukeond to answer')
    .action(async (options: { kukeondImage?: string; wait?: boolean }) => {
      const [{ bootstrapHost, requireContainerd, requireRoot }, { InProcessClient }, { createRuntime }] = await Promise.all([
        import('../../api/bootstrap.js'),
        import('../../api/in-process.js'),
        import('../../runtime/index.js'),
      ]);
      requireRoot('kuke init');
      const settings = ctx.settings();
      requireContainerd(settings);
      const progress = (line: string) => {
        if (process.stderr.isTTY) ctx.streams.err(`${line}\n`);
      };
      // A daemon that answers holds the log: everything exists already; report it through the daemon.
      const alive = await pingDaemon(settings.socket, 500).catch(() => undefined);
      if (alive) {
        const client = await ctx.client();
        const realms = await client.find({ kind: 'realm' });
        const cells = await client.find({ kind: 'cell', realm: 'kukeon-system', space: 'kukeon', stack: 'kukeon' }).catch(() => []);
        const daemonCell = cells.find((c) => c.name === 'kukeond');
        const system = realms.find((r) => r.kind === 'Realm' && r.system);
        const def = realms.find((r) => r.name === 'default');
        if (!system || !def || daemonCell?.state !== 'Ready') {
          throw new Error('kukeond is running but the host is not fully initialised; stop it (sudo kuke daemon stop) and run kuke init again');
        }
        const image = daemonCell.kind === 'Cell' ? (daemonCell.template?.containers[0]?.image ?? '') : '';
        ctx.streams.out(
          formatReport(
            {
              changed: false,
              realm: { name: def.name, namespace: def.kind === 'Realm' ? def.namespace : '' },
              systemRealm: { name: system.name, namespace: system.kind === 'Realm' ? system.namespace : '', adopted: system.kind === 'Realm' && system.namespace.startsWith('kuke-system.') },
              image,
              actions: [
                { group: 'Default hierarchy', what: 'realm "default", space "default", stack "default"', outcome: 'already existed', changed: false },
                { group: 'System hierarchy', what: 'realm "kukeon-system", space "kukeon", stack "kukeon"', outcome: 'already existed', changed: false },
                { group: 'System hierarchy', what: 'cell "kukeond"', outcome: 'already existed', changed: false },
                { group: 'System hierarchy', what: 'cell containers', outcome: 'already running', changed: false },
              ],
              daemon: alive,
            },
            settings.engine.runPath,
            settings.socket,
            daemonFlag(daemonCell.kind === 'Cell' ? daemonCell.template?.containers[0]?.args : undefined, '--pod-subnet') ?? settings.engine.podSubnet,
          ),
        );
        // Nothing is changed while the daemon runs, an older build included: say how to switch.
        const { daemonImageRef } = await import('../../daemon/image.js');
        const installed = options.kukeondImage ?? daemonImageRef();
        if (image !== installed) ctx.streams.err(`kukeond runs ${image}; this package's daemon is ${installed}: switch with: sudo kuke daemon recreate${options.kukeondImage ? ` --image ${options.kukeondImage}` : ''}\n`);
        return;
      }
      const client = new InProcessClient({ config: settings.engine, runtime: () => createRuntime(settings, ctx.logger()), logger: ctx.logger() });
      try {
        const report = await bootstrapHost({
          settings,
          client,
          logger: ctx.logger(),
          ...(options.kukeondImage ? { kukeondImage: options.kukeondImage } : {}),
          wait: options.wait !== false,
          onProgress: progress,
        });
        ctx.streams.out(formatReport(report, settings.engine.runPath, settings.socket, settings.engine.podSubnet));
      } finally {
        await client.close();
      }
    });
}

/** The value of `flag` in kukeond's arguments (the settings it was started with), if given. */
function daemonFlag(args: readonly string[] | undefined, flag: string): string | undefined {
  const i = args?.indexOf(flag) ?? -1;
  return i >= 0 ? args![i + 1] : undefined;
}
