/**
 * `kuke delete <kind> <name>`: delete a realm, space, stack or cell. A scope that still holds resources needs
 * `--cascade`; the system realm needs `--force`. The container logs of the deleted cells go with them unless
 * `--keep-logs`. `--force` deletes whatever state the resource is in (Failed, stuck Creating or Deleting, refused by
 * containerd): it cleans what it can, records what it could not (see `kuke history`), and the resource is gone from
 * kukeon's state either way.
 */
import type { Command } from 'commander';
import { validateName } from '../../model/names.js';
import type { CommandContext } from '../context.js';
import { namedQuery, parseKind, withScope, type ScopeOptions } from '../kinds.js';
import { deleteSecret, isSecretKind } from './secret.js';

export function register(program: Command, ctx: CommandContext): void {
  const command = program
    .command('delete')
    .alias('d')
    .description('delete a realm, space, stack, cell or secret')
    .argument('<kind>', 'realm, space, stack, cell or secret')
    .argument('<name>', 'resource name')
    .option('--cascade', 'also delete what it contains')
    .option('--force', 'delete it whatever state it is in: clean what can be cleaned, record the rest in its history (needed for the system realm)')
    .option('--keep-logs', "keep the container logs of the deleted cells (by default they go with their cell)");
  withScope(command).action(async (word: string, name: string, options: ScopeOptions & { cascade?: boolean; force?: boolean; keepLogs?: boolean }) => {
    if (isSecretKind(word)) return deleteSecret(ctx, name, options);
    const kind = parseKind(word, ['realm', 'space', 'stack', 'cell']);
    validateName(kind, name);
    const client = await ctx.client();
    const { leftovers } = await client.delete(namedQuery(kind, options, name), { cascade: options.cascade ?? false, force: options.force ?? false, keepLogs: options.keepLogs ?? false });
    const where = kind === 'realm' ? '' : kind === 'space' ? ` from realm "${options.realm}"` : kind === 'stack' ? ` from space "${options.space}"` : ` from stack "${options.stack}"`;
    ctx.streams.out(`Deleted ${kind} "${name}"${where}${options.force ? ' (forced)' : ''}\n`);
    // Gone from kukeon's state, but not everything from the host: say what, and where it stays on record.
    for (const l of leftovers) ctx.streams.err(`warning: left behind: ${l.resource} (${l.error.kind}: ${l.error.message}); recorded in: ${historyCommand(l.stream)}\n`);
  });
}

/** The `kuke history` command that shows a stream's events (a container's are in its cell's history). */
function historyCommand(stream: string): string {
  const [kind, realm, space, stack, cell] = stream.split('/') as [string, string, string?, string?, string?];
  switch (kind) {
    case 'realm':
      return `kuke history realm ${realm}`;
    case 'space':
      return `kuke history space ${space!} --realm ${realm}`;
    case 'stack':
      return `kuke history stack ${stack!} --realm ${realm} --space ${space!}`;
    default:
      return `kuke history cell ${cell!} --realm ${realm} --space ${space!} --stack ${stack!}`;
  }
}
