/**
 * `kuke create realm|space|stack|cell <name>`: create one resource imperatively. Realms, spaces and stacks are
 * idempotent (a second create says "already existed"); a cell is created from `--image` (ports published with
 * Docker's `-p`, a static address with Podman's `--ip`) and left Pending unless `--start` is given (then a root that
 * exits by itself, a one-shot, is reported with its code: `cell "once" exited with code 0`, and the command succeeds).
 * With `--rm` the daemon deletes the cell once its root exits by itself (`autoDelete`).
 */
import type { Command } from 'commander';
import type { CellTemplate } from '../../../events/specs.js';
import { ErrorKind, KukeError } from '../../errors.js';
import { validateName } from '../../model/names.js';
import { parsePublish } from '../../model/ports.js';
import { parseFormat, type CommandContext } from '../context.js';
import { parseKind, withScope, type ScopeOptions } from '../kinds.js';
import { exitLine, printStructured } from '../output.js';
import { createSecret, isSecretKind } from './secret.js';
import { securityFields, withSecurityFlags, type SecurityOptions } from '../security-flags.js';

interface CreateOptions extends ScopeOptions, SecurityOptions {
  namespace?: string;
  image?: string;
  command?: string;
  arg?: string[];
  env?: string[];
  publish?: string[];
  ip?: string;
  start?: boolean;
  rm?: boolean;
  output?: string;
  fromLiteral?: string[];
  fromFile?: string[];
}

/** What a one-container cell is made of on the command line (`kuke create cell`, `kuke run`). */
export interface OneContainerFlags {
  image: string;
  /** Entrypoint override (`--command`); empty keeps the image's. */
  command: string[];
  /** Replaces the image's Cmd when not empty (Docker: the words after the image). */
  args: string[];
  env: string[];
  ports: ReturnType<typeof parsePublish>[];
  ip?: string | undefined;
  autoDelete: boolean;
  /** The security flags, parsed (../security-flags.ts); absent = Docker's defaults. */
  security?: ReturnType<typeof securityFields>;
}

/** The template of a cell whose only container, its root, is `main`. */
export function oneContainerCell(f: OneContainerFlags): CellTemplate {
  return {
    root: 'main',
    labels: {},
    containers: [
      {
        name: 'main',
        image: f.image,
        command: f.command,
        args: f.args,
        env: f.env,
        privileged: false,
        hostNetwork: false,
        hostPid: false,
        mounts: f.security?.mounts ?? [],
        resources: {},
        restartPolicy: 'never',
        ...(f.ports.length ? { ports: f.ports } : {}),
        ...f.security?.fields,
      },
    ],
    ...(f.ip !== undefined ? { ip: f.ip } : {}),
    ...(f.autoDelete ? { autoDelete: true } : {}),
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function register(program: Command, ctx: CommandContext): void {
  const command = program
    .command('create')
    .alias('c')
    .description('create a realm, space, stack, cell or secret')
    .argument('<kind>', 'realm, space, stack, cell or secret')
    .argument('<name>', 'name of the new resource')
    .option('--namespace <ns>', 'realm: containerd namespace (default <name>.kukeon.io)')
    .option('--image <ref>', 'cell: image of its (root) container')
    .option('--command <path>', 'cell: entrypoint override')
    .option('--arg <arg>', 'cell: argument (repeatable)', collect)
    .option('--env <KEY=VALUE>', 'cell: environment variable (repeatable)', collect)
    .option('-p, --publish <[hostIP:]hostPort:containerPort[/tcp|udp]>', 'cell: publish a port of the cell on the host (repeatable)', collect)
    .option('--ip <address>', "cell: its IPv4 address in the space's subnet, kept for its life (default: the first free one)")
    .option('--start', 'cell: start it and wait until Ready (or until it exits, for a root that runs to its end)')
    .option('--from-literal <key=value>', 'secret: a key and its value (repeatable)', collect)
    .option('--from-file <[key=]path>', "secret: a key whose value is the file's content; the key defaults to the file's name (repeatable)", collect)
    .option('--rm', 'cell: the daemon deletes it once its root exits by itself (autoDelete)')
    .option('-o, --output <format>', 'table, json or yaml', 'table');
  withScope(withSecurityFlags(command)).action(async (word: string, name: string, options: CreateOptions) => {
    if (isSecretKind(word)) return createSecret(ctx, name, options);
    const kind = parseKind(word, ['realm', 'space', 'stack', 'cell']);
    const format = parseFormat(options.output, ['table', 'json', 'yaml']);
    validateName(kind, name);
    // Before connecting: a bad -p is refused without touching the daemon or the log.
    const ports = kind === 'cell' ? (options.publish ?? []).map(parsePublish) : [];
    const security = securityFields(options, { hostNetwork: false });
    const client = await ctx.client();
    const say = (line: string) => ctx.streams.out(`${line}\n`);
    const realm = options.realm!;
    const space = options.space!;
    const stack = options.stack!;
    switch (kind) {
      case 'realm': {
        const { view, created } = await client.createRealm({ name, ...(options.namespace ? { namespace: options.namespace } : {}) });
        if (printStructured(ctx.streams, format, view)) return;
        say(`Realm "${name}" (namespace "${view.namespace}"): ${created ? 'created' : 'already existed'}`);
        return;
      }
      case 'space': {
        const { view, created } = await client.createSpace({ realm, space: name });
        if (printStructured(ctx.streams, format, view)) return;
        say(`Space "${name}" (realm "${realm}", network "${view.network.name}", subnet ${view.network.subnet}): ${created ? 'created' : 'already existed'}`);
        return;
      }
      case 'stack': {
        const { view, created } = await client.createStack({ realm, space, stack: name });
        if (printStructured(ctx.streams, format, view)) return;
        say(`Stack "${name}" (realm "${realm}", space "${space}"): ${created ? 'created' : 'already existed'}`);
        return;
      }
      case 'cell': {
        if (!options.image) throw new KukeError(ErrorKind.InvalidArgument, 'creating a cell needs --image', { hint: 'e.g. kuke create cell web --image kukeon.local/busybox:test, or use kuke apply -f cell.yaml' });
        const template = oneContainerCell({
          image: options.image,
          command: options.command ? [options.command] : [],
          args: options.arg ?? [],
          env: options.env ?? [],
          ports,
          ip: options.ip,
          autoDelete: options.rm === true,
          security,
        });
        const { view, created } = await client.createCell({ realm, space, stack, cell: name, template, start: options.start ?? false });
        if (printStructured(ctx.streams, format, view)) return;
        say(`Cell "${name}" (realm "${realm}", space "${space}", stack "${stack}"): ${created ? 'created' : 'already existed'} (${view.state})`);
        // A root that ran to its end did what --start asked (it started): its exit is told, and the command succeeds.
        const exited = options.start ? exitLine(view) : undefined;
        if (exited) say(exited);
      }
    }
  });
}
