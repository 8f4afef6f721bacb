/**
 * Secrets on the command line (issue 11), spelled as kubectl and Docker users know them:
 *
 *   kuke create secret NAME --from-literal KEY=VALUE --from-file [KEY=]PATH [--realm R --space S]
 *   kuke get secrets [NAME]        names, keys and age; -o json|yaml: documents with keys and digest in status, no data
 *   kuke delete secret NAME [--force]
 *   kuke history secret NAME
 *
 * `create`, `get`, `delete` and `history` hand the `secret` kind to this file (their kind words are otherwise the
 * scopes and cells). A value is read here, sent to kukeond in the request, and printed nowhere.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { ErrorKind, KukeError } from '../../errors.js';
import { MAX_SECRET_BYTES } from '../../engine/secrets.js';
import { DEFAULT_REALM, DEFAULT_SPACE, validateName } from '../../model/names.js';
import type { SecretView } from '../../model/resources.js';
import type { AggregateKey } from '../../model/streams.js';
import type { SecretData } from '../../runtime/ports.js';
import { parseFormat, type CommandContext } from '../context.js';
import type { ScopeOptions } from '../kinds.js';
import { secretDocument } from '../../model/documents.js';
import { age, formatTable, printDocuments } from '../output.js';

const WORDS = new Set(['secret', 'secrets', 'sec']);

/** Whether a kind word of `create`, `get`, `delete` or `history` names secrets. */
export function isSecretKind(word: string): boolean {
  return WORDS.has(word.toLowerCase());
}

function place(options: ScopeOptions): { realm: string; space: string } {
  return { realm: options.realm ?? DEFAULT_REALM, space: options.space ?? DEFAULT_SPACE };
}

/**
 * The data of `--from-literal KEY=VALUE` and `--from-file [KEY=]PATH` (the key defaults to the file's name, as
 * kubectl has it). A key given twice, an entry without a key, or an unreadable file is one line naming it.
 */
export function secretDataOf(literals: readonly string[], files: readonly string[], read: (path: string) => Buffer = readSecretFile): SecretData {
  const data: SecretData = {};
  const add = (key: string, value: () => Buffer, flag: string) => {
    if (key === '') throw new KukeError(ErrorKind.InvalidArgument, `${flag} needs a key`, { hint: `use ${flag} key=${flag === '--from-file' ? 'path' : 'value'}` });
    if (key in data) throw new KukeError(ErrorKind.InvalidArgument, `secret key "${key}" is given twice`, { hint: 'give each key once' });
    data[key] = value();
  };
  for (const literal of literals) {
    const eq = literal.indexOf('=');
    // Never echo the literal: it is the value.
    if (eq < 0) throw new KukeError(ErrorKind.InvalidArgument, '--from-literal takes key=value (no "=" found)', { hint: 'e.g. --from-literal password=…' });
    add(literal.slice(0, eq), () => Buffer.from(literal.slice(eq + 1), 'utf8'), '--from-literal');
  }
  for (const entry of files) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? basename(entry) : entry.slice(0, eq);
    const path = eq < 0 ? entry : entry.slice(eq + 1);
    add(key, () => read(path), '--from-file');
  }
  if (Object.keys(data).length === 0) {
    throw new KukeError(ErrorKind.InvalidArgument, 'a secret needs data', { hint: 'give at least one key: --from-literal key=value or --from-file key=path' });
  }
  return data;
}

function readSecretFile(path: string): Buffer {
  try {
    // Checked before reading: a device or a huge file is refused instead of filling memory.
    const st = statSync(path);
    if (!st.isFile()) throw new KukeError(ErrorKind.InvalidArgument, `--from-file ${path}: not a regular file`);
    if (st.size > MAX_SECRET_BYTES) throw new KukeError(ErrorKind.InvalidArgument, `--from-file ${path}: ${st.size} bytes, more than a secret may hold (${MAX_SECRET_BYTES})`);
    return readFileSync(path);
  } catch (err) {
    if (err instanceof KukeError) throw err;
    throw new KukeError(ErrorKind.InvalidArgument, `--from-file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/** `kuke create secret NAME …`. */
export async function createSecret(ctx: CommandContext, name: string, options: ScopeOptions & { fromLiteral?: string[]; fromFile?: string[]; output?: string }): Promise<void> {
  const format = parseFormat(options.output, ['table', 'json', 'yaml']);
  validateName('secret', name);
  const data = secretDataOf(options.fromLiteral ?? [], options.fromFile ?? []);
  const client = await ctx.client();
  const { view, action } = await client.putSecret({ ...place(options), name, data, createOnly: true });
  if (printDocuments(ctx.streams, format, [secretDocument(view)], false)) return;
  const what = action === 'created' ? 'created' : 'already existed with the same data';
  ctx.streams.out(`Secret "${name}" (realm "${view.realm}", space "${view.space}", keys ${view.keys.join(', ')}): ${what}\n`);
}

/** `kuke get secrets [NAME]`. */
export async function getSecrets(ctx: CommandContext, name: string | undefined, options: ScopeOptions & { output?: string }): Promise<void> {
  const format = parseFormat(options.output);
  if (name !== undefined) validateName('secret', name);
  const client = await ctx.client();
  const views = await client.listSecrets({ ...place(options), ...(name !== undefined ? { name } : {}) });
  if (printDocuments(ctx.streams, format, views.map(secretDocument), name === undefined)) return;
  ctx.streams.out(secretsTable(views, format === 'wide'));
}

/** The table of `kuke get secrets`: NAME REALM SPACE KEYS STATE AGE (`-o wide` adds the digest). */
export function secretsTable(views: SecretView[], wide: boolean, now = Date.now()): string {
  if (views.length === 0) return 'No secrets found.\n';
  const header = ['NAME', 'REALM', 'SPACE', 'KEYS', 'STATE', 'AGE', ...(wide ? ['DIGEST'] : [])];
  const rows = views.map((v) => [v.name, v.realm, v.space, v.keys.join(','), v.state, age(v.createdAt, now), ...(wide ? [v.digest] : [])]);
  return formatTable(header, rows);
}

/** `kuke delete secret NAME`. */
export async function deleteSecret(ctx: CommandContext, name: string, options: ScopeOptions & { force?: boolean }): Promise<void> {
  validateName('secret', name);
  const client = await ctx.client();
  const where = place(options);
  await client.deleteSecret({ ...where, name, force: options.force ?? false });
  ctx.streams.out(`Deleted secret "${name}" from space "${where.space}"${options.force ? ' (forced)' : ''}\n`);
}

/** The history key of `kuke history secret NAME`. */
export function secretKey(name: string, options: ScopeOptions): AggregateKey {
  validateName('secret', name);
  return { kind: 'secret', ...place(options), secret: name };
}
