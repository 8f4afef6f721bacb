/**
 * The aggregate kinds and their machines, in one table the engine folds and acts through. Pure: nothing here
 * touches the world.
 */
import type { AnyStateMachine, SnapshotFrom } from 'xstate';
import * as cell from './cell.js';
import * as container from './container.js';
import * as daemon from './daemon.js';
import * as realm from './realm.js';
import * as secret from './secret.js';
import { SCOPE_STATES } from './scope.js';
import * as space from './space.js';
import * as stack from './stack.js';

export type AggregateKind = 'realm' | 'space' | 'stack' | 'cell' | 'container' | 'daemon' | 'secret';

/** An effect request as a machine emits it. */
export interface EffectRequest {
  type: string;
  params: Record<string, unknown>;
}

/** What the engine needs to know about one kind. */
export interface AggregateDefinition {
  kind: AggregateKind;
  machine: AnyStateMachine;
  /** Changes whenever the machine's behaviour does (snapshots of another version are refolded). */
  version: number;
  /** State names, in display order. */
  states: readonly string[];
  /** The effect each transient state requests. */
  transient: Readonly<Record<string, string>>;
  /** The transient effect of a snapshot, computed from its context alone (for reconcile after a restart). */
  transientEffect(snapshot: AnySnapshot): EffectRequest | undefined;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySnapshot = SnapshotFrom<AnyStateMachine> & { value: any; context: any };

function scopeTransient(effects: { provision: string; deprovision: string }) {
  const transient = { Creating: effects.provision, Updating: effects.provision, Deleting: effects.deprovision };
  return {
    transient,
    transientEffect(snapshot: AnySnapshot): EffectRequest | undefined {
      const type = transient[snapshot.value as keyof typeof transient];
      if (!type) return undefined;
      const c = snapshot.context as { identity: Record<string, string>; attributes: unknown; labels: unknown };
      return { type, params: { ...c.identity, attributes: c.attributes, labels: c.labels } };
    },
  };
}

function fromParams<C, T extends Record<string, string>>(
  transient: T,
  params: Record<string, (c: C) => unknown>,
): Pick<AggregateDefinition, 'transient' | 'transientEffect'> {
  return {
    transient,
    transientEffect(snapshot) {
      const type = transient[snapshot.value as keyof T];
      if (!type) return undefined;
      return { type, params: params[type]!(snapshot.context as C) as Record<string, unknown> };
    },
  };
}

/** Every aggregate kind. */
export const AGGREGATES: Record<AggregateKind, AggregateDefinition> = {
  realm: {
    kind: 'realm',
    machine: realm.realmMachine,
    version: realm.MACHINE_VERSION,
    states: SCOPE_STATES,
    ...scopeTransient(realm.EFFECTS),
  },
  space: {
    kind: 'space',
    machine: space.spaceMachine,
    version: space.MACHINE_VERSION,
    states: space.SPACE_STATES,
    ...scopeTransient(space.EFFECTS),
  },
  stack: {
    kind: 'stack',
    machine: stack.stackMachine,
    version: stack.MACHINE_VERSION,
    states: SCOPE_STATES,
    ...scopeTransient(stack.EFFECTS),
  },
  cell: {
    kind: 'cell',
    machine: cell.cellMachine,
    version: cell.MACHINE_VERSION,
    states: cell.CELL_STATES,
    ...fromParams<cell.CellContext, typeof cell.TRANSIENT_EFFECTS>(cell.TRANSIENT_EFFECTS, cell.effectParams),
  },
  container: {
    kind: 'container',
    machine: container.containerMachine,
    version: container.MACHINE_VERSION,
    states: container.CONTAINER_STATES,
    ...fromParams<container.ContainerContext, typeof container.TRANSIENT_EFFECTS>(
      container.TRANSIENT_EFFECTS,
      container.effectParams,
    ),
  },
  daemon: {
    kind: 'daemon',
    machine: daemon.daemonMachine,
    version: daemon.MACHINE_VERSION,
    states: daemon.DAEMON_STATES,
    transient: {},
    transientEffect: () => undefined,
  },
  // No transient state: the values are stored before the command is appended (machines/secret.ts).
  secret: {
    kind: 'secret',
    machine: secret.secretMachine,
    version: secret.MACHINE_VERSION,
    states: secret.SECRET_STATES,
    transient: {},
    transientEffect: () => undefined,
  },
};

/** Whether a state of a kind is transient (an effect is in flight). */
export function isTransient(kind: AggregateKind, state: string): boolean {
  return state in AGGREGATES[kind].transient;
}

/** States in which an aggregate does not exist for users. */
export function isGone(state: string): boolean {
  return state === 'Absent' || state === 'Deleted';
}

export { describeRejection } from './rejections.js';
