/**
 * What clients see of each resource: plain JSON views of the engine's projection. The daemon sends them over the
 * API, writes them to the on-disk read model, and `kuke get --no-daemon` reads them back, so both paths print
 * the same thing by construction.
 */
import type { CellTemplate, ContainerTemplate, Network, RecordedError } from '../../events/specs.js';

/** Fields every view has. */
export interface ViewMeta {
  /** State as users see it (DESIGN §5). */
  state: string;
  labels: Record<string, string>;
  /** ISO times of the first and the latest event of the current life of the aggregate. */
  createdAt: string;
  updatedAt: string;
  /** Stream version and global seq of the latest event reflected here. */
  version: number;
  seq: number;
  /** The last error (an effect that failed), if the resource has one. */
  error: RecordedError | null;
}

export interface RealmView extends ViewMeta {
  kind: 'Realm';
  name: string;
  namespace: string;
  cgroupPath: string | null;
  /** The system realm (hosts kukeond). */
  system: boolean;
}

export interface SpaceView extends ViewMeta {
  kind: 'Space';
  realm: string;
  name: string;
  network: Network;
  cgroupPath: string | null;
  /** Spaces whose cells may open connections to this one's (`<space>` of the same realm, or `<realm>/<space>`). */
  allowFrom: string[];
}

export interface StackView extends ViewMeta {
  kind: 'Stack';
  realm: string;
  space: string;
  name: string;
  cgroupPath: string | null;
}

export interface ContainerView extends ViewMeta {
  kind: 'Container';
  realm: string;
  space: string;
  stack: string;
  cell: string;
  /** `<cell>_root` for the root container. */
  name: string;
  root: boolean;
  containerdId: string;
  namespace: string;
  image: string;
  template: ContainerTemplate | null;
  pid: number | null;
  exitCode: number | null;
  exitSignal: string | null;
  /** The OOM killer struck during the current (or last) run. */
  oomKilled: boolean;
  restarts: number;
}

export interface CellView extends ViewMeta {
  kind: 'Cell';
  realm: string;
  space: string;
  stack: string;
  name: string;
  template: CellTemplate | null;
  rootPid: number | null;
  address: string | null;
  cgroupPath: string;
  /** Containers, the root first. */
  containers: ContainerView[];
}

/** A secret (issue 11): its keys and digest, never a value. */
export interface SecretView extends ViewMeta {
  kind: 'Secret';
  realm: string;
  space: string;
  name: string;
  /** The data's keys, sorted. */
  keys: string[];
  /** The store's keyed digest of the data (events/secret.ts): changes whenever a value does. */
  digest: string;
}

export type ResourceView = RealmView | SpaceView | StackView | CellView | ContainerView;

/** Accounting figures read from a cgroup subtree (for `-o wide`). */
export interface UsageView {
  cpuNanos: number;
  memoryBytes: number;
}
