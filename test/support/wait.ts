/**
 * Polling for tests that observe the real system (a log line, a task state, a reconnection).
 */

/**
 * Calls `probe` until `ok` accepts its value (default: truthy), every `intervalMs`, for at most `timeoutMs`; returns
 * the accepted value, or throws with the last value (or error) seen.
 *
 * @example
 * await waitFor(() => readFileSync(log, 'utf8'), (text) => text.includes('hello'));
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  ok: (value: T) => boolean = Boolean,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last: { value?: T; error?: unknown } = {};
  for (;;) {
    try {
      const value = await probe();
      if (ok(value)) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) {
      const seen = 'error' in last ? `last error: ${(last.error as Error)?.message ?? String(last.error)}` : `last value: ${JSON.stringify(last.value)}`;
      throw new Error(`timed out after ${options.timeoutMs ?? 10_000} ms waiting for ${options.what ?? 'a condition'} (${seen})`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 25));
  }
}
