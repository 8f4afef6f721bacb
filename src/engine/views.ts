/**
 * The projection: resource views (src/model/resources.ts) computed from the engine's aggregates. Disposable —
 * always rebuildable from the log.
 */
import type { CellContext } from '../../machines/cell.js';
import type { ContainerContext } from '../../machines/container.js';
import type { ScopeContext } from '../../machines/scope.js';
import type { Network } from '../../events/specs.js';
import type { CellView, ContainerView, RealmView, SpaceView, StackView } from '../model/resources.js';
import { cgroupPath, rootContainerName } from '../model/names.js';
import { streamOf } from '../model/streams.js';
import type { Aggregate, Engine } from './engine.js';

function meta(agg: Aggregate) {
  const c = agg.snapshot.context as { error?: { kind: string; message: string } | null; labels?: Record<string, string> };
  return {
    state: String(agg.snapshot.value),
    labels: c.labels ?? {},
    createdAt: agg.createdAt,
    updatedAt: agg.updatedAt,
    version: agg.version,
    seq: agg.seq,
    error: c.error ?? null,
  };
}

export function realmView(agg: Aggregate): RealmView {
  const c = agg.snapshot.context as ScopeContext<{ realm: string }, { namespace: string }>;
  return {
    kind: 'Realm',
    name: c.identity.realm,
    namespace: c.attributes?.namespace ?? '',
    cgroupPath: c.cgroupPath,
    system: c.protected,
    ...meta(agg),
  };
}

export function spaceView(agg: Aggregate): SpaceView {
  const c = agg.snapshot.context as ScopeContext<{ realm: string; space: string }, { network: Network; allowFrom?: string[] }>;
  return {
    kind: 'Space',
    realm: c.identity.realm,
    name: c.identity.space,
    network: c.attributes?.network ?? { name: '', bridge: '', subnet: '0.0.0.0/0', ipMasq: false },
    cgroupPath: c.cgroupPath,
    allowFrom: c.attributes?.allowFrom ?? [],
    ...meta(agg),
  };
}

export function stackView(agg: Aggregate): StackView {
  const c = agg.snapshot.context as ScopeContext<{ realm: string; space: string; stack: string }, unknown>;
  return {
    kind: 'Stack',
    realm: c.identity.realm,
    space: c.identity.space,
    name: c.identity.stack,
    cgroupPath: c.cgroupPath,
    ...meta(agg),
  };
}

export function containerView(agg: Aggregate): ContainerView {
  const c = agg.snapshot.context as ContainerContext;
  const m = meta(agg);
  return {
    kind: 'Container',
    realm: c.realm,
    space: c.space,
    stack: c.stack,
    cell: c.cell,
    name: c.name,
    root: c.root,
    containerdId: c.containerdId,
    namespace: c.namespace,
    image: c.template?.image ?? '',
    template: c.template,
    pid: c.pid,
    exitCode: c.exitCode,
    exitSignal: c.exitSignal,
    oomKilled: c.oomKilled ?? false,
    restarts: c.restarts ?? 0,
    ...m,
    labels: {},
  };
}

/** A cell with its containers (the root first, then in template order). */
export function cellView(engine: Engine, agg: Aggregate): CellView {
  const c = agg.snapshot.context as CellContext;
  const names = c.template
    ? [rootContainerName(c.name), ...c.template.containers.filter((t) => t.name !== c.template!.root).map((t) => t.name)]
    : [];
  const containers: ContainerView[] = [];
  for (const name of names) {
    const child = engine.get(streamOf({ kind: 'container', realm: c.realm, space: c.space, stack: c.stack, cell: c.name, container: name }));
    if (child && String(child.snapshot.value) !== 'Deleted') containers.push(containerView(child));
  }
  return {
    kind: 'Cell',
    realm: c.realm,
    space: c.space,
    stack: c.stack,
    name: c.name,
    template: c.template,
    rootPid: c.rootPid,
    address: c.address,
    cgroupPath: cgroupPath({ realm: c.realm, space: c.space, stack: c.stack, cell: c.name }, engine.config.cgroupRoot),
    containers,
    ...meta(agg),
    labels: c.template?.labels ?? {},
  };
}
