/**
 * Event types shared by every aggregate kind.
 */
import { z } from 'zod';
import { RecordedErrorSchema } from './specs.js';

/**
 * EffectFailed v1: an effect requested by a transient state failed for good (after its retries). The aggregate
 * moves to Failed (or back to where it can be retried) and keeps the error for `kuke get` and `kuke history`.
 */
export const EffectFailedV1 = z.object({
  /** The effect's name, e.g. `startTask`. */
  effect: z.string(),
  error: RecordedErrorSchema,
});
export type EffectFailed = z.infer<typeof EffectFailedV1>;

/**
 * ReconcileFailed v1 (fact, actor reconcile): a reconcile step could not be carried out for this aggregate (its
 * containerd namespace is refused, a cgroup cannot be made, …). The aggregate goes Failed with the error, so one
 * broken aggregate is shown as such instead of stopping the daemon from starting. Accepted in every live state.
 */
export const ReconcileFailedV1 = z.object({
  /** The reconcile step, e.g. `collectGarbage`, `healCgroups`. */
  step: z.string(),
  error: RecordedErrorSchema,
});
export type ReconcileFailed = z.infer<typeof ReconcileFailedV1>;

/** Something a forced delete could not remove, and why. */
export const LeftoverSchema = z.object({
  /** What was left, e.g. `containerd namespace Bad NS!`, `cgroup /kukeon/r/s`. */
  resource: z.string(),
  error: RecordedErrorSchema,
});
export type Leftover = z.infer<typeof LeftoverSchema>;

/**
 * ForceDeleted v1 (fact): `kuke delete --force` removed the aggregate from the live state, whatever state it was
 * in, after attempting every cleanup step in the runtime. `leftovers` lists what could not be removed (empty when
 * everything went), so `kuke history` shows what may remain on the host. Accepted in every live state.
 */
export const ForceDeletedV1 = z.object({ leftovers: z.array(LeftoverSchema).default([]) });
export type ForceDeleted = z.infer<typeof ForceDeletedV1>;
