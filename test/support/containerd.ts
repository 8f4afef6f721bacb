/**
 * A private containerd for a test file: started in beforeAll, stopped (and cleaned) in afterAll.
 */
import { afterAll, beforeAll } from 'vitest';
import { startContainerd, type PrivateContainerd } from '../../tools/harness/containerd.js';

/** Returns a getter for the file's private containerd. */
export function useContainerd(): () => PrivateContainerd {
  let ctrd: PrivateContainerd | undefined;
  beforeAll(async () => {
    ctrd = await startContainerd();
  }, 60_000);
  afterAll(async () => {
    await ctrd?.stop();
  }, 60_000);
  return () => {
    if (!ctrd) throw new Error('containerd not started');
    return ctrd;
  };
}
