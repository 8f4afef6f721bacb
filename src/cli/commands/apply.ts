/**
 * `kuke apply -f <file|->`: apply a multi-document v1beta1 manifest. Every document is validated before anything
 * changes; resources are applied in dependency order and reported as created, updated, unchanged or failed.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ErrorKind, KukeError } from '../../errors.js';
import { parseFormat, type CommandContext } from '../context.js';
import { printStructured } from '../output.js';

async function readInput(file: string): Promise<string> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new KukeError(ErrorKind.InvalidArgument, `failed to open file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: 'pass an existing manifest with -f <file>, or - for stdin',
    });
  }
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('apply')
    .description('create or update the resources of a manifest (YAML, v1beta1)')
    .requiredOption('-f, --filename <file>', 'manifest file, or - for stdin')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (options: { filename: string; output?: string }) => {
      const format = parseFormat(options.output, ['table', 'json', 'yaml']);
      const text = await readInput(options.filename);
      const client = await ctx.client();
      const results = await client.apply(text);
      if (!printStructured(ctx.streams, format, { resources: results })) {
        for (const r of results) {
          ctx.streams.out(`${r.kind} "${r.name}": ${r.action}\n`);
          for (const change of r.changes) ctx.streams.out(`  - ${change}\n`);
          if (r.error) ctx.streams.out(`  Error: ${r.error.message}\n`);
        }
      }
      const failed = results.filter((r) => r.action === 'failed');
      if (failed.length > 0) {
        throw new KukeError((failed[0]!.error?.kind as ErrorKind | undefined) ?? ErrorKind.Internal, `${failed.length} of ${results.length} resources failed to apply`, {
          hint: 'see the errors above; fix and apply again (applied resources are kept)',
        });
      }
    });
}
