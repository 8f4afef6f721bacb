/**
 * The containerd adapter on its own, against a private containerd: importing through the API (twice), and typed
 * errors when containerd is gone.
 */
import { describe, expect, it } from 'vitest';
import { buildTestImage } from '../../../tools/build-test-image.js';
import { isKukeError } from '../../../src/errors.js';
import { ContainerdRuntime } from '../../../src/runtime/containerd/runtime.js';
import { useContainerd } from '../../support/containerd.js';

const ctrd = useContainerd();

describe('containerd adapter', () => {
  it('imports the test image through the API, again without change, and reports progress', async () => {
    const rt = new ContainerdRuntime({ address: ctrd().address });
    try {
      const ns = 'import.test.kukeon.io';
      const { path, ref } = buildTestImage();
      const progress: string[] = [];
      const [first] = await rt.importImage(ns, path, { onProgress: (p) => progress.push(p.item) });
      expect(first?.name).toBe(ref);
      expect(progress).toContain('unpack');
      const [second] = await rt.importImage(ns, path);
      expect(second).toEqual(first);
      expect((await rt.listImages(ns)).map((i) => i.name)).toEqual([ref]);
      expect((await rt.resolveImage(ns, ref)).config.cmd).toEqual(['/bin/sh']);
      await rt.deleteImage(ns, ref);
      await rt.deleteNamespace(ns);
      expect((await rt.listNamespaces()).map((n) => n.name)).not.toContain(ns);
    } finally {
      rt.close();
    }
  });

  it('says containerd is unavailable, with a hint, when it is not running', async () => {
    const rt = new ContainerdRuntime({ address: `${ctrd().dir}/nothing-here.sock` });
    try {
      const err = await rt.version().catch((e) => e);
      expect(isKukeError(err, 'Unavailable')).toBe(true);
      expect(err.hint).toMatch(/containerd/);
    } finally {
      rt.close();
    }
  });
});
