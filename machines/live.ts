/**
 * Two ways out that every live state of every kind (realm, space, stack, cell, container) accepts, so that no
 * stored state can leave an aggregate stuck:
 *
 *   any live state ─ReconcileFailed→ Failed      reconcile found the aggregate broken (recorded with the error)
 *   any live state ─ForceDeleted→ Deleted        `kuke delete --force` removed it, whatever state it was in
 *
 * Absent and Deleted accept neither: there is nothing to fail or delete. In Failed, ReconcileFailed only records
 * the newer error. An effect still in flight when one of these lands reports into a state that no longer waits for
 * it, and its result is dropped like any stale fact.
 */

/** For every live state but Failed. Each machine provides `recordError` (it reads `event.error`). */
export const LIVE_EXITS = {
  ReconcileFailed: { target: 'Failed', actions: 'recordError' },
  ForceDeleted: { target: 'Deleted' },
} as const;

/** For Failed: already there, so a reconcile failure only updates the recorded error. */
export const FAILED_EXITS = {
  ReconcileFailed: { actions: 'recordError' },
  ForceDeleted: { target: 'Deleted' },
} as const;
