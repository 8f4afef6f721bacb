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
