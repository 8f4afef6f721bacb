/** What `fn` throws, or undefined when it returns: lets a test assert on the error's kind, not only that one was thrown. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
