/**
 * `kuke apply -f <file|->`: apply a multi-document v1beta1 manifest. Every document is validated before anything
 * changes; resources are applied in dependency order and each is reported as created, updated, unchanged or failed
 * as soon as it is done (a table line each; `-o json|yaml` prints one document at the end). Ctrl-C stops the apply
 * after the document in progress; what was reported is what was applied.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { ErrorKind, KukeError, isKukeError } from '../../errors.js';
import { checkManifestSize, MAX_MANIFEST_BYTES } from '../../model/limits.js';
import { parseFormat, type CommandContext } from '../context.js';
import type { ApplyResult } from '../../api/client.js';
import { printStructured, type Streams } from '../output.js';

/**
 * The manifest's text. One over the manifest limit is refused with the daemon's line without being held whole: a
 * file by its size, stdin once what was read passes the limit (the rest is only counted, for the message).
 */
async function readInput(file: string): Promise<string> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of process.stdin) {
      bytes += (chunk as Buffer).length;
      if (bytes <= MAX_MANIFEST_BYTES) chunks.push(chunk as Buffer);
    }
    checkManifestSize(bytes);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    checkManifestSize(statSync(file).size);
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (isKukeError(err)) throw err;
    throw new KukeError(ErrorKind.InvalidArgument, `failed to open file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: 'pass an existing manifest with -f <file>, or - for stdin',
    });
  }
}

function printResult(streams: Streams, r: ApplyResult): void {
  streams.out(`${r.kind} "${r.name}": ${r.action}\n`);
  for (const change of r.changes) streams.out(`  - ${change}\n`);
  if (r.error) streams.out(`  Error: ${r.error.message}\n`);
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
      // Ctrl-C (or a TERM) stops the apply after the document in progress; a second one kills kuke at once.
      const interrupt = new AbortController();
      const onSignal = () => interrupt.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let results: ApplyResult[];
      try {
        results = await client.apply(text, { signal: interrupt.signal, onResult: (r) => (format === 'table' ? printResult(ctx.streams, r) : undefined) });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      printStructured(ctx.streams, format, { resources: results });
      if (interrupt.signal.aborted) {
        throw new KukeError(ErrorKind.Canceled, `apply interrupted after ${results.length} document${results.length === 1 ? '' : 's'}: those reported were applied, no later one was started`, {
          hint: 'the one in progress may have finished (see kuke get); apply the manifest again to finish',
        });
      }
      const failed = results.filter((r) => r.action === 'failed');
      if (failed.length > 0) {
        throw new KukeError((failed[0]!.error?.kind as ErrorKind | undefined) ?? ErrorKind.Internal, `${failed.length} of ${results.length} resources failed to apply`, {
          hint: 'see the errors above; fix and apply again (applied resources are kept)',
        });
      }
    });
}
