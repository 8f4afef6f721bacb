import { isKukeError } from '../../src/errors.js';

/** What `fn` throws, or undefined when it returns: lets a test assert on the error's kind, not only that one was thrown. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** The kind of the KukeError `promise` rejects with, else a description of what happened instead. */
export async function kindOf(promise: Promise<unknown>): Promise<string | undefined> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return isKukeError(err) ? err.kind : `not a KukeError: ${String(err)}`;
}
