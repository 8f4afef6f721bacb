/**
 * Images through the containerd adapter only (no ctr, no registry), against a private containerd: import of the
 * busybox OCI tar with progress, unpack, a second import that writes nothing, survival through garbage collection,
 * typed errors, and deleting a namespace with what imports leave.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import type { ImportProgress } from '../../../src/runtime/ports.js';
import { useContainerdRuntime } from '../../support/containerd.js';
import { testImage } from '../../support/image.js';
import { writeOciLayout } from '../../../src/runtime/containerd/oci-layout.js';
import { OciLayoutTar } from '../../../src/runtime/containerd/oci-tar.js';
import { testImageEntries } from '../../../tools/build-test-image.js';
import { removeCgroupTree, testCgroupRoot } from '../../support/cgroup-root.js';
import { busybox, leftovers, logContains } from './helpers.js';

const suffix = 'img.test.kukeon.io';
const { runtime } = useContainerdRuntime({ namespaceSuffix: suffix });
const scratch = mkdtempSync(join(tmpdir(), 'kukeon-images-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Forces a garbage collection and waits for it (a synchronous lease delete). */
async function collectGarbage(namespace: string): Promise<void> {
  const { conn } = runtime();
  await conn.unary(conn.leases, 'create', { id: 'gc-now', labels: {} }, 'lease', { namespace });
  await conn.unary(conn.leases, 'delete', { id: 'gc-now', sync: true }, 'lease', { namespace });
}

describe('image import through the containerd API', () => {
  const ns = `import.${suffix}`;

  it('imports an image whose layer is gzip-compressed (as registries and buildx export them) and runs it', async () => {
    const tar = join(scratch, 'gzip.tar');
    const written = writeOciLayout(tar, testImageEntries(), { ref: 'kukeon.local/busybox:gzip', cmd: ['/bin/sh'], env: ['PATH=/bin'], gzip: true });
    const gzNs = `gzip.${suffix}`;
    const cgroupRoot = testCgroupRoot();
    try {
      const [image] = await runtime().importImage(gzNs, tar);
      expect(image?.name).toBe('kukeon.local/busybox:gzip');
      expect(OciLayoutTar.open(tar).images[0]?.manifest.layers[0]?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
      expect(written.layerDigest).not.toBe(image!.chainId); // the blob is compressed; the rootfs is named by the diff id
      const spec = busybox({ namespace: gzNs, image: image!.name, cgroupRoot, logDir: scratch }, 'gz', ['sh', '-c', 'echo unpacked from gzip']);
      await runtime().createContainer(spec);
      await runtime().startTask(gzNs, 'gz');
      await logContains(spec.logPath, 'unpacked from gzip');
      await runtime().stopTask(gzNs, 'gz', { signal: 'SIGKILL', graceMs: 0 });
      await runtime().deleteContainer(gzNs, 'gz');
      await runtime().deleteNamespace(gzNs);
    } finally {
      removeCgroupTree(cgroupRoot);
    }
  });

  it('imports the test image with progress for every blob and unpacks its rootfs', async () => {
    const { path, ref } = testImage();
    const progress: ImportProgress[] = [];
    const [image] = await runtime().importImage(ns, path, { onProgress: (p) => progress.push(p) });
    expect(image?.name).toBe(ref);
    expect(image?.config.cmd).toEqual(['/bin/sh']);
    expect(image?.config.env).toContain('PATH=/bin');
    // config, layer and manifest each end complete; the unpack is reported around it.
    const finished = progress.filter((p) => p.item.startsWith('sha256:') && p.done === p.total).map((p) => p.item);
    expect(new Set(finished).size).toBe(3);
    expect(finished).toContain(image!.digest);
    expect(progress.at(-1)).toEqual({ item: 'unpack', done: 1, total: 1 });
    const { conn } = runtime();
    const stat = await conn.unary(conn.snapshots, 'stat', { snapshotter: 'overlayfs', key: image!.chainId }, 'stat', { namespace: ns });
    expect(stat.info?.kind).toBe(3); // COMMITTED
    expect((await runtime().listImages(ns)).map((i) => i.name)).toEqual([ref]);
  });

  it('writes nothing when the same image is imported again', async () => {
    const { path, ref } = testImage();
    const { conn } = runtime();
    const before = await conn.unary(conn.images, 'get', { name: ref }, 'get', { namespace: ns });
    const progress: ImportProgress[] = [];
    const [again] = await runtime().importImage(ns, path, { onProgress: (p) => progress.push(p) });
    expect(progress.filter((p) => p.item !== 'unpack')).toEqual([]);
    expect(again?.name).toBe(ref);
    const after = await conn.unary(conn.images, 'get', { name: ref }, 'get', { namespace: ns });
    expect(after.image?.updatedAt).toEqual(before.image?.updatedAt);
    expect((await leftovers(runtime(), ns)).leases).toEqual([]);
  });

  it('keeps the blobs and the unpacked rootfs through garbage collection', async () => {
    const { ref } = testImage();
    await collectGarbage(ns);
    const state = await leftovers(runtime(), ns);
    expect(state.blobs).toHaveLength(3);
    const image = await runtime().resolveImage(ns, ref);
    expect(state.snapshots).toEqual([image.chainId]);
  });

  it('unpacks again when the rootfs snapshot was removed behind its back', async () => {
    const { ref } = testImage();
    const { conn } = runtime();
    const image = await runtime().resolveImage(ns, ref);
    await conn.unary(conn.snapshots, 'remove', { snapshotter: 'overlayfs', key: image.chainId }, 'remove', { namespace: ns });
    const again = await runtime().resolveImage(ns, ref);
    expect(again.chainId).toBe(image.chainId);
    const stat = await conn.unary(conn.snapshots, 'stat', { snapshotter: 'overlayfs', key: image.chainId }, 'stat', { namespace: ns });
    expect(stat.info?.name).toBe(image.chainId);
  });

  it('imports under another name when asked', async () => {
    const { path } = testImage();
    const [renamed] = await runtime().importImage(ns, path, { name: 'kukeon.local/renamed:1' });
    expect(renamed?.name).toBe('kukeon.local/renamed:1');
    expect((await runtime().listImages(ns)).map((i) => i.name).sort()).toEqual(['kukeon.local/busybox:test', 'kukeon.local/renamed:1']);
    await runtime().deleteImage(ns, 'kukeon.local/renamed:1');
    await runtime().deleteImage(ns, 'kukeon.local/renamed:1');
    expect((await runtime().listImages(ns)).map((i) => i.name)).toEqual(['kukeon.local/busybox:test']);
  });

  it('deletes the namespace with the images, leases, blobs and ingests an import leaves', async () => {
    const { conn } = runtime();
    // What an interrupted import leaves: a lease, and a half-written ingest.
    await conn.unary(conn.leases, 'create', { id: 'kukeon-import-interrupted', labels: {} }, 'lease', { namespace: ns });
    const stream = conn.content.write(conn.metadata({ namespace: ns }));
    await new Promise<void>((resolve, reject) => {
      stream.once('data', () => resolve());
      stream.once('error', reject);
      stream.write({ action: 1, ref: 'half-written', total: 10, expected: '', offset: 0, data: Buffer.from('12345'), labels: {} });
    });
    stream.cancel();
    // A container rootfs without its container is a workload's leftover: refused, and named.
    const chainId = (await runtime().resolveImage(ns, testImage().ref)).chainId;
    await conn.unary(conn.snapshots, 'prepare', { snapshotter: 'overlayfs', key: 'orphan-rootfs', parent: chainId, labels: {} }, 'prepare', { namespace: ns, lease: 'kukeon-import-interrupted' });
    const refused = await runtime().deleteNamespace(ns).catch((e: unknown) => e);
    expect(isKukeError(refused, 'FailedPrecondition')).toBe(true);
    expect((refused as Error).message).toContain('orphan-rootfs');
    await conn.unary(conn.snapshots, 'remove', { snapshotter: 'overlayfs', key: 'orphan-rootfs' }, 'remove', { namespace: ns });
    await runtime().deleteNamespace(ns);
    expect((await runtime().listNamespaces()).map((n) => n.name)).not.toContain(ns);
    // Deleting a namespace that is gone is fine.
    await runtime().deleteNamespace(ns);
  });
});

describe('image errors', () => {
  const ns = `errors.${suffix}`;

  it('says an image is missing with NotFound and the import command as hint', async () => {
    await runtime().ensureNamespace(ns);
    const err = await runtime().resolveImage(ns, 'kukeon.local/nothing:here').catch((e: unknown) => e);
    expect(isKukeError(err, 'NotFound')).toBe(true);
    expect((err as { hint?: string }).hint).toMatch(/kuke image load .*--realm errors/);
  });

  it('refuses a tar that is not an OCI image layout with InvalidArgument', async () => {
    const dir = join(scratch, 'docker-save');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'manifest.json'), '[]');
    const tar = join(scratch, 'docker-save.tar');
    execFileSync('tar', ['-cf', tar, '-C', dir, 'manifest.json']);
    const err = await runtime().importImage(ns, tar).catch((e: unknown) => e);
    expect(isKukeError(err, 'InvalidArgument')).toBe(true);
    expect((err as { hint?: string }).hint).toMatch(/docker save/);
    const missing = await runtime().importImage(ns, join(scratch, 'no-such.tar')).catch((e: unknown) => e);
    expect(isKukeError(missing, 'InvalidArgument')).toBe(true);
  });

  it('creates a namespace once and reports whether it did', async () => {
    const other = `labels.${suffix}`;
    expect(await runtime().ensureNamespace(other, { 'kukeon.io/realm': 'labels' })).toEqual({ created: true });
    expect(await runtime().ensureNamespace(other, { 'kukeon.io/realm': 'labels' })).toEqual({ created: false });
    expect((await runtime().listNamespaces()).find((n) => n.name === other)?.labels).toEqual({ 'kukeon.io/realm': 'labels' });
    await runtime().deleteNamespace(other);
    await runtime().deleteNamespace(ns);
    expect((await runtime().listNamespaces()).map((n) => n.name)).toEqual([]);
  });
});
