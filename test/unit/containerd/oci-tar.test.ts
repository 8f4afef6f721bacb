import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { writeOciLayout } from '../../../src/runtime/containerd/oci-layout.js';
import { blobPath, hostArchitecture, OciLayoutTar } from '../../../src/runtime/containerd/oci-tar.js';
import { thrown } from '../../support/thrown.js';

const dir = mkdtempSync(join(tmpdir(), 'kukeon-oci-tar-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('reading an OCI image layout tar', () => {
  it('finds the named image, its manifest and blobs, as written by the layout writer', () => {
    const tar = join(dir, 'one.tar');
    const written = writeOciLayout(tar, [{ type: 'file', path: 'hello', data: Buffer.from('hi') }], { ref: 'kukeon.local/one:1', cmd: ['/hello'] });
    const layout = OciLayoutTar.open(tar);
    expect(layout.images).toHaveLength(1);
    const [image] = layout.images;
    expect(image?.name).toBe('kukeon.local/one:1');
    expect(image?.descriptor.digest).toBe(written.manifestDigest);
    expect(image?.manifest.layers.map((l) => l.digest)).toEqual([written.layerDigest]);
    const size = layout.size(written.layerDigest);
    expect(sha(layout.read(written.layerDigest, 0, size))).toBe(written.layerDigest);
    expect(layout.read(written.layerDigest, 0, 10)).toHaveLength(10);
    expect(isKukeError(thrown(() => layout.read(written.layerDigest, size - 1, 2)), 'InvalidArgument')).toBe(true);
  });

  it("resolves a nested index to this host's platform", () => {
    const root = join(dir, 'nested');
    mkdirSync(join(root, 'blobs', 'sha256'), { recursive: true });
    const put = (value: unknown) => {
      const b = Buffer.from(JSON.stringify(value));
      writeFileSync(join(root, blobPath(sha(b))), b);
      return { digest: sha(b), size: b.length };
    };
    const config = put({ rootfs: { diff_ids: [] } });
    const manifest = put({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [] });
    const other = put({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'x', digest: config.digest, size: 1 }] });
    const index = put({
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...other, platform: { os: 'linux', architecture: 'not-this-one' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { os: 'linux', architecture: hostArchitecture() } },
      ],
    });
    writeFileSync(join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(root, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'io.containerd.image.name': 'kukeon.local/multi:1', 'org.opencontainers.image.ref.name': '1' } }] }));
    const tar = join(dir, 'nested.tar');
    execFileSync('tar', ['-cf', tar, '-C', root, '.']);
    const [image] = OciLayoutTar.open(tar).images;
    expect(image?.name).toBe('kukeon.local/multi:1');
    expect(image?.descriptor.digest).toBe(manifest.digest);
    expect(image?.manifest.layers).toEqual([]);
  });

  it('refuses a docker save archive with a hint, and a missing blob as damaged', () => {
    const root = join(dir, 'docker');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'manifest.json'), '[]');
    const tar = join(dir, 'docker.tar');
    execFileSync('tar', ['-cf', tar, '-C', root, 'manifest.json']);
    const docker = thrown(() => OciLayoutTar.open(tar));
    expect(isKukeError(docker, 'InvalidArgument')).toBe(true);
    expect((docker as { hint?: string }).hint).toMatch(/docker save/);

    const broken = join(dir, 'broken');
    mkdirSync(broken, { recursive: true });
    writeFileSync(join(broken, 'oci-layout'), '{}');
    writeFileSync(join(broken, 'index.json'), JSON.stringify({ manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 1 }] }));
    const brokenTar = join(dir, 'broken.tar');
    execFileSync('tar', ['-cf', brokenTar, '-C', broken, 'oci-layout', 'index.json']);
    expect(isKukeError(thrown(() => OciLayoutTar.open(brokenTar)), 'InvalidArgument')).toBe(true);
  });

  it('refuses strings that are not digests as blob names', () => {
    expect(blobPath(`sha256:${'a'.repeat(64)}`)).toBe(`blobs/sha256/${'a'.repeat(64)}`);
    for (const bad of ['sha256', 'sha256:../../etc', ':abc', 'sha256:ABC']) expect(isKukeError(thrown(() => blobPath(bad)), 'InvalidArgument')).toBe(true);
  });
});
