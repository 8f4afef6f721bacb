/**
 * The lifecycle shared by realms, spaces and stacks (the scopes that hold cells). They differ only in their
 * event names and in what their effects provision (realm: containerd namespace + cgroup; space: CNI network +
 * cgroup; stack: cgroup), so one statechart serves the three, instantiated in realm.ts, space.ts and stack.ts.
 *
 *   Absent ─Create→ Creating ─Provisioned→ Ready ─Update→ Ready
 *   Ready ─Update [changes attributes]→ Updating ─Provisioned→ Ready     (provision again: idempotent, with the new ones)
 *   Ready|Failed ─Delete [no children, not protected]→ Deleting ─Deprovisioned→ Deleted ─Create→ Creating (new life)
 *   Creating|Updating|Deleting ─EffectFailed→ Failed ─Create→ Creating (retry)
 *   any live state ─ReconcileFailed→ Failed          any live state ─ForceDeleted→ Deleted (machines/live.ts)
 */
import { assign, setup } from 'xstate';
import type { EffectFailed, ReconcileFailed } from '../events/common.js';
import type { RecordedError } from '../events/specs.js';
import { FAILED_EXITS, LIVE_EXITS } from './live.js';

/** The states of every scope; a scope whose updates change its attributes (a space) reaches `Updating` too. */
export const SCOPE_STATES = ['Absent', 'Creating', 'Ready', 'Failed', 'Deleting', 'Deleted'] as const;
export type ScopeState = (typeof SCOPE_STATES)[number] | 'Updating';

/** Event names of one scope kind, e.g. `{ create: 'CreateRealm', provisioned: 'RealmProvisioned', … }`. */
export interface ScopeEventNames<
  C extends string = string,
  P extends string = string,
  U extends string = string,
  D extends string = string,
  X extends string = string,
> {
  create: C;
  provisioned: P;
  update: U;
  delete: D;
  deprovisioned: X;
}

/** Context of a scope. `attributes` holds the kind's creation payload (namespace, network, …). */
export interface ScopeContext<I, A> {
  identity: I;
  attributes: A | null;
  labels: Record<string, string>;
  /** The cgroup path reported by provisioning. */
  cgroupPath: string | null;
  /** Protected scopes (the system realm) refuse Delete unless forced. */
  protected: boolean;
  error: RecordedError | null;
}

/** Effects of a scope: provision on Creating, deprovision on Deleting. */
export interface ScopeEffectNames<Pv extends string = string, Dv extends string = string> {
  provision: Pv;
  deprovision: Dv;
}

type AnyEvent = { type: string } & Record<string, unknown>;

/**
 * Builds a scope machine.
 *
 * @example
 * const realmMachine = scopeMachine<{ realm: string }, { namespace: string }>('realm',
 *   { create: 'CreateRealm', provisioned: 'RealmProvisioned', update: 'UpdateRealm', delete: 'DeleteRealm', deprovisioned: 'RealmDeprovisioned' },
 *   { provision: 'provisionRealm', deprovision: 'deprovisionRealm' },
 *   (event) => ({ namespace: event.namespace as string }));
 */
export function scopeMachine<I extends Record<string, string>, A>(
  kind: string,
  names: ScopeEventNames,
  effects: ScopeEffectNames,
  attributesOf: (createEvent: AnyEvent) => A,
  /** The attributes an update event sets, when it changes them (only spaces have such: `allowFrom`); else undefined. */
  updatedAttributes: (attributes: A | null, updateEvent: AnyEvent) => A | undefined = () => undefined,
) {
  type Ctx = ScopeContext<I, A>;
  const params = ({ context }: { context: Ctx }) => ({
    ...context.identity,
    attributes: context.attributes as A,
    labels: context.labels,
  });
  /** Creating and Updating: the provision effect runs, and reports. */
  const provisioning = {
    entry: { type: effects.provision, params },
    on: {
      [names.provisioned]: { target: 'Ready', actions: 'recordProvisioned' },
      EffectFailed: { target: 'Failed', actions: 'recordError' },
      ...LIVE_EXITS,
    },
  } as const;
  return setup({
    types: {
      context: {} as Ctx,
      events: {} as AnyEvent,
      input: {} as I,
    },
    actions: {
      [effects.provision]: () => undefined,
      [effects.deprovision]: () => undefined,
      resetLife: assign(({ context }) => ({ cgroupPath: null, labels: {}, attributes: null, identity: context.identity })),
      recordCreate: assign(({ event }) => ({
        attributes: attributesOf(event),
        labels: (event.labels as Record<string, string> | undefined) ?? {},
        protected: event.system === true,
        error: null,
      })),
      recordProvisioned: assign(({ event }) => ({ cgroupPath: (event.cgroupPath as string | undefined) ?? null })),
      recordLabels: assign(({ event }) => ({ labels: (event.labels as Record<string, string> | undefined) ?? {} })),
      recordUpdate: assign(({ context, event }) => ({ attributes: updatedAttributes(context.attributes, event) ?? context.attributes })),
      recordError: assign(({ event }) => ({ error: (event as unknown as EffectFailed | ReconcileFailed).error })),
    },
    guards: {
      deletable: ({ context, event }) => event.children === 0 && (!context.protected || event.force === true),
      changesAttributes: ({ context, event }) => updatedAttributes(context.attributes, event) !== undefined,
    },
  }).createMachine({
    id: kind,
    initial: 'Absent',
    context: ({ input }) => ({
      identity: input,
      attributes: null,
      labels: {},
      cgroupPath: null,
      protected: false,
      error: null,
    }),
    states: {
      Absent: { on: { [names.create]: { target: 'Creating', actions: 'recordCreate' } } },
      Creating: provisioning,
      Ready: {
        on: {
          [names.update]: [{ guard: 'changesAttributes', target: 'Updating', actions: ['recordLabels', 'recordUpdate'] }, { actions: 'recordLabels' }],
          [names.delete]: { guard: 'deletable', target: 'Deleting' },
          ...LIVE_EXITS,
        },
      },
      // Provisioning again (idempotent) writes what the update changed.
      Updating: provisioning,
      Failed: {
        on: {
          [names.create]: { target: 'Creating', actions: 'recordCreate' },
          [names.delete]: { guard: 'deletable', target: 'Deleting' },
          ...FAILED_EXITS,
        },
      },
      Deleting: {
        entry: { type: effects.deprovision, params },
        on: {
          [names.deprovisioned]: 'Deleted',
          EffectFailed: { target: 'Failed', actions: 'recordError' },
          ...LIVE_EXITS,
        },
      },
      // Not final: a scope of the same name can be created again later (a new life of the same stream).
      Deleted: { on: { [names.create]: { target: 'Creating', actions: ['resetLife', 'recordCreate'] } } },
    },
  });
}
