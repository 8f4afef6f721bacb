/**
 * Read queries over a set of views. The daemon answers from its live projection, `kuke get --no-daemon` from the
 * on-disk read model; both go through this one class, so both print the same rows and the same errors.
 */
import { ErrorKind, KukeError } from '../errors.js';
import { validateName } from '../model/names.js';
import type { CellView, ContainerView, RealmView, ResourceView, SpaceView, StackView } from '../model/resources.js';
import { describeKey, type AggregateKey } from '../model/streams.js';

/** What a `get`/`list` addresses. */
export type Query =
  | { kind: 'realm'; name?: string }
  | { kind: 'space'; realm: string; name?: string }
  | { kind: 'stack'; realm: string; space: string; name?: string }
  | { kind: 'cell'; realm: string; space: string; stack: string; name?: string }
  | { kind: 'container'; realm: string; space: string; stack: string; cell: string; name?: string };

/** All views, as a snapshot in time. */
export interface ViewSet {
  realms: RealmView[];
  spaces: SpaceView[];
  stacks: StackView[];
  cells: CellView[];
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Queries with uniform NotFound errors naming the first missing ancestor. */
export class ViewQueries {
  constructor(private readonly views: ViewSet) {}

  /** The views a query selects: one (name given; NotFound if missing) or all in scope, sorted by name. */
  find(query: Query): ResourceView[] {
    validateQuery(query);
    const items = this.inScope(query);
    if (query.name === undefined) return items;
    const found = items.filter((v) => v.name === query.name);
    if (found.length === 0) throw notFound(keyOf(query, query.name));
    return found;
  }

  private inScope(query: Query): ResourceView[] {
    const v = this.views;
    switch (query.kind) {
      case 'realm':
        return [...v.realms].sort(byName);
      case 'space':
        this.requireRealm(query.realm);
        return v.spaces.filter((s) => s.realm === query.realm).sort(byName);
      case 'stack':
        this.requireSpace(query.realm, query.space);
        return v.stacks.filter((s) => s.realm === query.realm && s.space === query.space).sort(byName);
      case 'cell':
        this.requireStack(query.realm, query.space, query.stack);
        return v.cells.filter((c) => c.realm === query.realm && c.space === query.space && c.stack === query.stack).sort(byName);
      case 'container': {
        this.requireStack(query.realm, query.space, query.stack);
        const cell = v.cells.find((c) => c.realm === query.realm && c.space === query.space && c.stack === query.stack && c.name === query.cell);
        if (!cell) throw notFound({ kind: 'cell', realm: query.realm, space: query.space, stack: query.stack, cell: query.cell });
        return cell.containers as ContainerView[];
      }
    }
  }

  private requireRealm(realm: string): void {
    if (!this.views.realms.some((r) => r.name === realm)) throw notFound({ kind: 'realm', realm });
  }
  private requireSpace(realm: string, space: string): void {
    this.requireRealm(realm);
    if (!this.views.spaces.some((s) => s.realm === realm && s.name === space)) throw notFound({ kind: 'space', realm, space });
  }
  private requireStack(realm: string, space: string, stack: string): void {
    this.requireSpace(realm, space);
    if (!this.views.stacks.some((s) => s.realm === realm && s.space === space && s.name === stack)) throw notFound({ kind: 'stack', realm, space, stack });
  }
}

function validateQuery(query: Query): void {
  if ('realm' in query) validateName('realm', query.realm);
  if ('space' in query) validateName('space', query.space);
  if ('stack' in query) validateName('stack', query.stack);
  if ('cell' in query) validateName('cell', query.cell);
  if (query.name === undefined) return;
  // A root container is addressed as `<cell>_root`: the only generated name with `_`.
  if (query.kind === 'container') validateName('container', query.name.replace(/_root$/, ''));
  else validateName(query.kind, query.name);
}

function keyOf(query: Query, name: string): AggregateKey {
  switch (query.kind) {
    case 'realm':
      return { kind: 'realm', realm: name };
    case 'space':
      return { kind: 'space', realm: query.realm, space: name };
    case 'stack':
      return { kind: 'stack', realm: query.realm, space: query.space, stack: name };
    case 'cell':
      return { kind: 'cell', realm: query.realm, space: query.space, stack: query.stack, cell: name };
    case 'container':
      return { kind: 'container', realm: query.realm, space: query.space, stack: query.stack, cell: query.cell, container: name };
  }
}

const LIST_HINTS: Record<string, (k: AggregateKey) => string> = {
  realm: () => 'list realms with: kuke get realms',
  space: (k) => `list spaces with: kuke get spaces --realm ${(k as { realm: string }).realm}`,
  stack: (k) => `list stacks with: kuke get stacks --realm ${(k as { realm: string }).realm} --space ${(k as { space: string }).space}`,
  cell: (k) => {
    const c = k as { realm: string; space: string; stack: string };
    return `list cells with: kuke get cells --realm ${c.realm} --space ${c.space} --stack ${c.stack}`;
  },
  container: (k) => {
    const c = k as { realm: string; space: string; stack: string; cell: string };
    return `list containers with: kuke get containers --cell ${c.cell} --realm ${c.realm} --space ${c.space} --stack ${c.stack}`;
  },
};

/** NotFound for a key, with the list command as the hint. */
export function notFound(key: AggregateKey): KukeError {
  return new KukeError(ErrorKind.NotFound, `${describeKey(key)} not found`, {
    resource: { kind: key.kind },
    hint: LIST_HINTS[key.kind]?.(key) ?? '',
  });
}
