/**
 * Stream names: one stream per aggregate, named after its place in the hierarchy, so that a prefix selects a
 * subtree (`container/r/s/t/c/` = the containers of cell c).
 *
 *   realm/<realm>
 *   space/<realm>/<space>
 *   stack/<realm>/<space>/<stack>
 *   cell/<realm>/<space>/<stack>/<cell>
 *   container/<realm>/<space>/<stack>/<cell>/<container>     (the root container is `<cell>_root`)
 *   daemon/kukeond
 *   secret/<realm>/<space>/<secret>                          (machines/secret.ts says why a space holds them)
 */
import type { AggregateKind } from '../../machines/index.js';
import { ErrorKind, KukeError } from '../errors.js';

/** The identity of an aggregate: its kind and the names along its path. */
export type AggregateKey =
  | { kind: 'realm'; realm: string }
  | { kind: 'space'; realm: string; space: string }
  | { kind: 'stack'; realm: string; space: string; stack: string }
  | { kind: 'cell'; realm: string; space: string; stack: string; cell: string }
  | { kind: 'container'; realm: string; space: string; stack: string; cell: string; container: string }
  | { kind: 'daemon'; name: string }
  | { kind: 'secret'; realm: string; space: string; secret: string };

/** The daemon's own stream. */
export const DAEMON_STREAM = 'daemon/kukeond';

/** The stream of an aggregate. Names must already be validated. */
export function streamOf(key: AggregateKey): string {
  switch (key.kind) {
    case 'realm':
      return `realm/${key.realm}`;
    case 'space':
      return `space/${key.realm}/${key.space}`;
    case 'stack':
      return `stack/${key.realm}/${key.space}/${key.stack}`;
    case 'cell':
      return `cell/${key.realm}/${key.space}/${key.stack}/${key.cell}`;
    case 'container':
      return `container/${key.realm}/${key.space}/${key.stack}/${key.cell}/${key.container}`;
    case 'daemon':
      return `daemon/${key.name}`;
    case 'secret':
      return `secret/${key.realm}/${key.space}/${key.secret}`;
  }
}

const ARITY: Record<AggregateKind, number> = { realm: 1, space: 2, stack: 3, cell: 4, container: 5, daemon: 1, secret: 3 };

/** Parses a stream name back into its key. Throws InvalidArgument for a malformed name. */
export function parseStream(stream: string): AggregateKey {
  const [kind, ...parts] = stream.split('/');
  if (!kind || !(kind in ARITY) || parts.length !== ARITY[kind as AggregateKind] || parts.some((p) => p === '')) {
    throw new KukeError(ErrorKind.InvalidArgument, `malformed stream name "${stream}"`);
  }
  const [a, b, c, d, e] = parts as [string, string, string, string, string];
  switch (kind as AggregateKind) {
    case 'realm':
      return { kind: 'realm', realm: a };
    case 'space':
      return { kind: 'space', realm: a, space: b };
    case 'stack':
      return { kind: 'stack', realm: a, space: b, stack: c };
    case 'cell':
      return { kind: 'cell', realm: a, space: b, stack: c, cell: d };
    case 'container':
      return { kind: 'container', realm: a, space: b, stack: c, cell: d, container: e };
    case 'daemon':
      return { kind: 'daemon', name: a };
    case 'secret':
      return { kind: 'secret', realm: a, space: b, secret: c };
  }
}

/** The kind of a stream, from its first segment. */
export function kindOfStream(stream: string): AggregateKind {
  return parseStream(stream).kind;
}

/** The stream of the parent scope (cell → stack → space → realm; container → cell), or undefined for a realm. */
export function parentStream(key: AggregateKey): string | undefined {
  switch (key.kind) {
    case 'space':
      return streamOf({ kind: 'realm', realm: key.realm });
    case 'stack':
      return streamOf({ kind: 'space', realm: key.realm, space: key.space });
    case 'cell':
      return streamOf({ kind: 'stack', realm: key.realm, space: key.space, stack: key.stack });
    case 'container':
      return streamOf({ kind: 'cell', realm: key.realm, space: key.space, stack: key.stack, cell: key.cell });
    case 'secret':
      return streamOf({ kind: 'space', realm: key.realm, space: key.space });
    default:
      return undefined;
  }
}

/** Prefix of the streams of the children of a scope (`space/r/` for the spaces of realm r). */
export function childPrefix(key: AggregateKey): string | undefined {
  switch (key.kind) {
    case 'realm':
      return `space/${key.realm}/`;
    case 'space':
      return `stack/${key.realm}/${key.space}/`;
    case 'stack':
      return `cell/${key.realm}/${key.space}/${key.stack}/`;
    case 'cell':
      return `container/${key.realm}/${key.space}/${key.stack}/${key.cell}/`;
    default:
      return undefined;
  }
}

/** The machine input (identity) of an aggregate, as its machine's `input` expects it. */
export function machineInput(key: AggregateKey): Record<string, string> {
  switch (key.kind) {
    case 'realm':
      return { realm: key.realm };
    case 'space':
      return { realm: key.realm, space: key.space };
    case 'stack':
      return { realm: key.realm, space: key.space, stack: key.stack };
    case 'cell':
      return { realm: key.realm, space: key.space, stack: key.stack, name: key.cell };
    case 'container':
      return { realm: key.realm, space: key.space, stack: key.stack, cell: key.cell, name: key.container };
    case 'daemon':
      return {};
    case 'secret':
      return { realm: key.realm, space: key.space, name: key.secret };
  }
}

/** A human label for messages: `cell "web" in realm "default", space "default", stack "default"`. */
export function describeKey(key: AggregateKey): string {
  switch (key.kind) {
    case 'realm':
      return `realm "${key.realm}"`;
    case 'space':
      return `space "${key.space}" in realm "${key.realm}"`;
    case 'stack':
      return `stack "${key.stack}" in realm "${key.realm}", space "${key.space}"`;
    case 'cell':
      return `cell "${key.cell}" in realm "${key.realm}", space "${key.space}", stack "${key.stack}"`;
    case 'container':
      return `container "${key.container}" of cell "${key.cell}"`;
    case 'daemon':
      return `daemon "${key.name}"`;
    case 'secret':
      return `secret "${key.secret}" in realm "${key.realm}", space "${key.space}"`;
  }
}
