/**
 * `kuke get <kind> [name]`: list resources or show one, as a table (`-o wide` adds columns, including CPU and
 * memory of realms and cells), or as manifest documents in JSON or YAML that `kuke apply -f` takes back
 * (model/documents.ts). `--at <seq|time>` shows them as they were.
 */
import type { Command } from 'commander';
import type { ResourceView, UsageView } from '../../model/resources.js';
import { parseFormat, type CommandContext } from '../context.js';
import { KIND_WORDS, parseKind, queryOf, viewKind, withScope, type ScopeOptions } from '../kinds.js';
import { resourceDocument } from '../../model/documents.js';
import { printDocuments, viewsTable } from '../output.js';
import { parseLogPoint } from '../values.js';
import { getSecrets, isSecretKind } from './secret.js';

interface GetOptions extends ScopeOptions {
  output?: string;
  at?: string;
}

export function register(program: Command, ctx: CommandContext): void {
  const command = program
    .command('get')
    .alias('g')
    .description('list resources of a kind, or show one')
    .argument('<kind>', `resource kind (${KIND_WORDS.filter((w) => !w.endsWith('s') || w === 'realms').join(', ')}…)`)
    .argument('[name]', 'resource name (all in scope when omitted)')
    .option('-o, --output <format>', 'table, wide, json or yaml', 'table')
    .option('--at <seq|time>', 'show state as it was after this event seq or at this time');
  withScope(command, { cell: true }).action(async (word: string, name: string | undefined, options: GetOptions) => {
    if (isSecretKind(word) && options.at === undefined) return getSecrets(ctx, name, options);
    const kind = parseKind(word);
    const format = parseFormat(options.output);
    const query = queryOf(kind, options, name);
    const at = options.at === undefined ? {} : parseLogPoint('--at', options.at);
    const client = await ctx.client();
    const views = await client.find(query, at);
    const documents = format === 'json' || format === 'yaml' ? views.map((v) => resourceDocument(v, { namespaceSuffix: ctx.settings().engine.namespaceSuffix })) : [];
    if (printDocuments(ctx.streams, format, documents, name === undefined)) return;
    let usage: Map<ResourceView, UsageView> | undefined;
    if (format === 'wide' && (kind === 'realm' || kind === 'cell') && at.atSeq === undefined && at.atTime === undefined) {
      usage = new Map();
      for (const view of views) {
        const u = await client.usage(queryOf(kind, options, view.name) as never).catch(() => undefined);
        if (u) usage.set(view, u);
      }
    }
    ctx.streams.out(viewsTable(viewKind(kind), views, format === 'wide', usage));
  });
}
