/**
 * A private containerd per test file: started in beforeAll, stopped (tasks, shims, mounts, temp dir removed) in
 * afterAll. Also a ContainerdRuntime over it, closed before containerd stops.
 *
 * @example
 * const ctrd = useContainerd();
 * it('…', async () => { const rt = new ContainerdRuntime({ address: ctrd().address }); … });
 */
import { afterAll, beforeAll } from 'vitest';
import { ContainerdRuntime, type ContainerdOptions } from '../../src/runtime/containerd/runtime.js';
import { startContainerd, type PrivateContainerd, type StartOptions } from '../../tools/harness/containerd.js';

/** Starts a private containerd for the file; returns a getter (it exists once beforeAll ran). */
export function useContainerd(options: StartOptions = {}): () => PrivateContainerd {
  let ctrd: PrivateContainerd | undefined;
  beforeAll(async () => {
    ctrd = await startContainerd(options);
  }, 60_000);
  afterAll(async () => {
    await ctrd?.stop();
  }, 60_000);
  return () => {
    if (!ctrd) throw new Error('the private containerd is not started (useContainerd() must be called at the top of the file)');
    return ctrd;
  };
}

/** A private containerd and an adapter over it (runc state under the instance's dir), for the file. */
export function useContainerdRuntime(options: Omit<ContainerdOptions, 'address'> = {}): { ctrd: () => PrivateContainerd; runtime: () => ContainerdRuntime } {
  let rt: ContainerdRuntime | undefined;
  const ctrd = useContainerd();
  beforeAll(() => {
    rt = new ContainerdRuntime({ runcRoot: ctrd().runcRoot, ...options, address: ctrd().address });
  });
  // Registered after useContainerd's afterAll, so it runs first (vitest runs afterAll hooks in reverse order).
  afterAll(() => {
    rt?.close();
  });
  return {
    ctrd,
    runtime: () => {
      if (!rt) throw new Error('the runtime is not created yet (use it inside tests or hooks)');
      return rt;
    },
  };
}
