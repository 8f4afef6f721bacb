/**
 * The rotation decision, pure: from a live log's size and the rotated copies present, the steps that bring it back
 * under the policy. The file adapter (files.ts) carries them out; this module touches nothing.
 *
 * Semantics follow Docker's json-file driver: `max-size` is the size at which the live file is rotated and
 * `max-file` counts every file of a container, the live one included (`max-file 3`: `web.log`, `web.log.1`,
 * `web.log.2`). With `max-file 1` nothing is kept: the live file is only truncated.
 */
import type { LogRotationPolicy } from '../ports.js';

/** One step of a rotation, in the order given. `index` 1 is the newest rotated copy. */
export type RotationStep =
  /** Delete the rotated copy `index` (missing → ok). */
  | { op: 'remove'; index: number }
  /** Rename rotated copy `from` to `to` (`to` is free by then). */
  | { op: 'rename'; from: number; to: number }
  /**
   * Copy the live file, from byte `skip` to its end, to rotated copy 1, and truncate the live file right after
   * the last byte read.
   */
  | { op: 'copyTruncate'; skip: number }
  /** Truncate the live file without keeping a copy (`max-file 1`). */
  | { op: 'truncate' };

/** Whether a policy can be used (both numbers safe integers ≥ 1). */
export function rotationPolicyProblem(policy: LogRotationPolicy): string | undefined {
  if (!Number.isSafeInteger(policy.maxBytes) || policy.maxBytes < 1) return `max-size must be a whole number of bytes ≥ 1 (got ${policy.maxBytes})`;
  if (!Number.isSafeInteger(policy.maxFiles) || policy.maxFiles < 1) return `max-file must be a whole number ≥ 1 (got ${policy.maxFiles})`;
  return undefined;
}

/**
 * The steps that rotate one container's log. `size` is the live file's size; `existing` the indices of the rotated
 * copies present (in any order, stale ones beyond the policy included). Copies beyond the policy (after `max-file`
 * was lowered) are removed even when the live file is under the limit. A live file grown far past the limit (more
 * than twice `max-size`, e.g. written before rotation existed) keeps only its last `max-size` bytes in the copy, so
 * one rotation never needs more than that much free space.
 *
 * @example
 * planRotation(12, [1], { maxBytes: 10, maxFiles: 3 })
 * // [{ op: 'rename', from: 1, to: 2 }, { op: 'copyTruncate', skip: 0 }]
 */
export function planRotation(size: number, existing: readonly number[], policy: LogRotationPolicy): RotationStep[] {
  const keep = policy.maxFiles - 1;
  const present = [...new Set(existing)].filter((i) => Number.isSafeInteger(i) && i >= 1).sort((a, b) => b - a);
  if (size < policy.maxBytes) return present.filter((i) => i > keep).map((index) => ({ op: 'remove', index }));
  // Every copy moves up by one; those that would land beyond `keep` go first.
  const steps: RotationStep[] = present.filter((i) => i >= keep).map((index) => ({ op: 'remove', index }));
  for (const index of present) if (index < keep) steps.push({ op: 'rename', from: index, to: index + 1 });
  if (keep === 0) return [...steps, { op: 'truncate' }];
  const skip = size > 2 * policy.maxBytes ? size - policy.maxBytes : 0;
  return [...steps, { op: 'copyTruncate', skip }];
}
