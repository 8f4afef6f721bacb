/**
 * The secret lifecycle. A secret is data, not a thing in the runtime: its values are written to the root-only store
 * before its command is appended (the store keeps each version under its digest, so a crash between the two leaves
 * only an unreferenced file, which reconcile removes), so no state waits for an effect.
 *
 *   Absent|Deleted ─CreateSecret→ Ready ─UpdateSecret→ Ready
 *   Ready|Failed ─DeleteSecret [no cell uses it, or forced]→ Deleted
 *   Ready ─ReconcileFailed→ Failed ─UpdateSecret→ Ready          (the store lost or changed the data: apply it again)
 *   any live state ─ForceDeleted→ Deleted (machines/live.ts)
 *
 * Scoped like a Kubernetes secret in its namespace: a secret belongs to one space of one realm, and only the cells of
 * that space can consume it. A space is kukeon's unit of isolation (its own network, its own chains), so a secret
 * does not reach workloads the space's owner did not place there.
 */
import { assign, setup } from 'xstate';
import type { ReconcileFailed } from '../events/common.js';
import type { RecordedError } from '../events/specs.js';
import { FAILED_EXITS, LIVE_EXITS } from './live.js';

/** Bumped whenever a transition or an assignment changes: invalidates stored snapshots. */
export const MACHINE_VERSION = 1;

/** The states of a secret, in display order. */
export const SECRET_STATES = ['Absent', 'Ready', 'Failed', 'Deleted'] as const;

export interface SecretIdentity extends Record<string, string> {
  realm: string;
  space: string;
  name: string;
}

/** Context of a secret: never a value. */
export interface SecretContext {
  identity: SecretIdentity;
  /** The data's keys, sorted. */
  keys: string[];
  /** The store's digest of the data (events/secret.ts). */
  digest: string | null;
  labels: Record<string, string>;
  error: RecordedError | null;
}

type SecretData = { keys: string[]; digest: string; labels: Record<string, string> };
type SecretEvent =
  | ({ type: 'CreateSecret' } & SecretData)
  | ({ type: 'UpdateSecret' } & SecretData)
  | { type: 'DeleteSecret'; users: string[]; force: boolean }
  | ({ type: 'ReconcileFailed' } & ReconcileFailed)
  | { type: 'ForceDeleted' };

export const secretMachine = setup({
  types: {
    context: {} as SecretContext,
    events: {} as SecretEvent,
    input: {} as SecretIdentity,
  },
  actions: {
    recordData: assign(({ event }) => {
      const e = event as Extract<SecretEvent, { type: 'CreateSecret' }>;
      return { keys: e.keys, digest: e.digest, labels: e.labels, error: null };
    }),
    recordError: assign(({ event }) => ({ error: (event as Extract<SecretEvent, { type: 'ReconcileFailed' }>).error })),
  },
  guards: {
    deletable: ({ event }) => {
      const e = event as Extract<SecretEvent, { type: 'DeleteSecret' }>;
      return e.users.length === 0 || e.force;
    },
  },
}).createMachine({
  id: 'secret',
  initial: 'Absent',
  context: ({ input }) => ({ identity: input, keys: [], digest: null, labels: {}, error: null }),
  states: {
    Absent: { on: { CreateSecret: { target: 'Ready', actions: 'recordData' } } },
    Ready: {
      on: {
        UpdateSecret: { target: 'Ready', actions: 'recordData' },
        DeleteSecret: { guard: 'deletable', target: 'Deleted' },
        ...LIVE_EXITS,
      },
    },
    Failed: {
      on: {
        UpdateSecret: { target: 'Ready', actions: 'recordData' },
        DeleteSecret: { guard: 'deletable', target: 'Deleted' },
        ...FAILED_EXITS,
      },
    },
    // Not final: a secret of the same name can be created again (a new life of the same stream).
    Deleted: { on: { CreateSecret: { target: 'Ready', actions: 'recordData' } } },
  },
});
