/**
 * Resource kinds as the CLI spells them (`kuke get cells`, `kuke get ce`), and the scope flags each needs.
 */
import type { Command } from 'commander';
import type { NamedQuery, Query } from '../api/client.js';
import { ErrorKind, KukeError } from '../errors.js';
import { DEFAULT_REALM, DEFAULT_SPACE, DEFAULT_STACK } from '../model/names.js';
import type { ResourceView } from '../model/resources.js';
import type { AggregateKey } from '../model/streams.js';

export type CliKind = 'realm' | 'space' | 'stack' | 'cell' | 'container';

const ALIASES: Record<string, CliKind> = {
  realm: 'realm',
  realms: 'realm',
  r: 'realm',
  space: 'space',
  spaces: 'space',
  sp: 'space',
  stack: 'stack',
  stacks: 'stack',
  st: 'stack',
  cell: 'cell',
  cells: 'cell',
  ce: 'cell',
  container: 'container',
  containers: 'container',
  co: 'container',
};

/** Every spelling, for help and completion. */
export const KIND_WORDS = Object.keys(ALIASES);

/** Resolves a kind word, or throws InvalidArgument listing the kinds. */
export function parseKind(word: string, allowed: readonly CliKind[] = ['realm', 'space', 'stack', 'cell', 'container']): CliKind {
  const kind = ALIASES[word.toLowerCase()];
  if (!kind || !allowed.includes(kind)) {
    throw new KukeError(ErrorKind.InvalidArgument, `unknown resource kind "${word}"`, { hint: `use one of: ${allowed.join(', ')}` });
  }
  return kind;
}

/** The view kind of a CLI kind. */
export function viewKind(kind: CliKind): ResourceView['kind'] {
  return (kind[0]!.toUpperCase() + kind.slice(1)) as ResourceView['kind'];
}

/** Scope flags (`--realm`, `--space`, `--stack`, and `--cell` for containers). */
export interface ScopeOptions {
  realm?: string;
  space?: string;
  stack?: string;
  cell?: string;
}

/** Adds the scope flags to a command. Each defaults to `default`. */
export function withScope(command: Command, options: { cell?: boolean } = {}): Command {
  command
    .option('--realm <realm>', 'realm', DEFAULT_REALM)
    .option('--space <space>', 'space', DEFAULT_SPACE)
    .option('--stack <stack>', 'stack', DEFAULT_STACK);
  if (options.cell) command.option('--cell <cell>', 'cell (for containers)');
  return command;
}

/** The query for a kind, scope and optional name. */
export function queryOf(kind: CliKind, scope: ScopeOptions, name?: string): Query {
  const n = name === undefined ? {} : { name };
  const realm = scope.realm ?? DEFAULT_REALM;
  const space = scope.space ?? DEFAULT_SPACE;
  const stack = scope.stack ?? DEFAULT_STACK;
  switch (kind) {
    case 'realm':
      return { kind, ...n };
    case 'space':
      return { kind, realm, ...n };
    case 'stack':
      return { kind, realm, space, ...n };
    case 'cell':
      return { kind, realm, space, stack, ...n };
    case 'container':
      if (!scope.cell) throw new KukeError(ErrorKind.InvalidArgument, 'containers are listed per cell', { hint: 'pass --cell <name>' });
      return { kind, realm, space, stack, cell: scope.cell, ...n };
  }
}

/** The query naming one resource. */
export function namedQuery(kind: CliKind, scope: ScopeOptions, name: string): NamedQuery {
  return queryOf(kind, scope, name) as NamedQuery;
}

/** The aggregate key of a named resource (for history). */
export function keyOf(kind: CliKind, scope: ScopeOptions, name: string): AggregateKey {
  const q = queryOf(kind, scope, name);
  switch (q.kind) {
    case 'realm':
      return { kind: 'realm', realm: name };
    case 'space':
      return { kind: 'space', realm: q.realm, space: name };
    case 'stack':
      return { kind: 'stack', realm: q.realm, space: q.space, stack: name };
    case 'cell':
      return { kind: 'cell', realm: q.realm, space: q.space, stack: q.stack, cell: name };
    case 'container':
      return { kind: 'container', realm: q.realm, space: q.space, stack: q.stack, cell: q.cell, container: name };
  }
}
