/**
 * Builds an OCI image layout tar (oci-layout, index.json, blobs/sha256/…) with one layer, uncompressed or gzip. No
 * registry is reachable on our hosts: the test image (busybox-static) and the daemon image (node + the kukeond bundle)
 * are made this way and imported through containerd's API.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { TarWriter, type TarEntry } from './tar.js';

/** OCI media types of the layout's index, manifest, config and (uncompressed) layer. */
export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** What the image runs by default (OCI image config). */
export interface ImageSettings {
  /** Reference, e.g. `kukeon.local/busybox:test`. */
  ref: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  labels?: Record<string, string>;
  /** The image config's `User` (`uid[:gid]` or a name of the image's /etc/passwd). */
  user?: string;
  /** Store the layer gzip-compressed, as registries and `docker buildx --output type=oci` do (default: uncompressed). */
  gzip?: boolean;
}

/** Writes an OCI layout tar at `out` with one layer made of `entries`. Returns the manifest digest. */
export function writeOciLayout(out: string, entries: TarEntry[], settings: ImageSettings): { manifestDigest: string; layerDigest: string; size: number } {
  const work = mkdtempSync(join(tmpdir(), 'kukeon-oci-'));
  try {
    const layerPath = join(work, 'layer.tar');
    const lfd = openSync(layerPath, 'w');
    let layer: { digest: string; size: number };
    try {
      const w = new TarWriter(lfd);
      for (const e of entries) w.add(e);
      layer = w.finish();
    } finally {
      closeSync(lfd);
    }
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {
          Env: settings.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
          ...(settings.entrypoint ? { Entrypoint: settings.entrypoint } : {}),
          ...(settings.cmd ? { Cmd: settings.cmd } : {}),
          WorkingDir: settings.workingDir ?? '/',
          ...(settings.labels ? { Labels: settings.labels } : {}),
          ...(settings.user ? { User: settings.user } : {}),
        },
        // diff_ids name the uncompressed layer, whatever its blob's compression.
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
        history: [{ created_by: 'kukeon oci-layout writer' }],
      }),
    );
    const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const configDigest = digestOf(config);
    let blobLayer = { mediaType: MEDIA.layer as string, digest: layer.digest, size: layer.size, path: layerPath };
    if (settings.gzip) {
      const gz = gzipSync(readFileSync(layerPath));
      const gzPath = join(work, 'layer.tar.gz');
      writeFileSync(gzPath, gz);
      blobLayer = { mediaType: MEDIA.layerGzip, digest: digestOf(gz), size: gz.length, path: gzPath };
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.manifest,
        config: { mediaType: MEDIA.config, digest: configDigest, size: config.length },
        layers: [{ mediaType: blobLayer.mediaType, digest: blobLayer.digest, size: blobLayer.size }],
      }),
    );
    const manifestDigest = digestOf(manifest);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.index,
        manifests: [{ mediaType: MEDIA.manifest, digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': settings.ref }, platform: { architecture: 'amd64', os: 'linux' } }],
      }),
    );
    const fd = openSync(out, 'w');
    try {
      const w = new TarWriter(fd);
      const blob = (d: string) => `blobs/sha256/${d.slice('sha256:'.length)}`;
      w.add({ type: 'file', path: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') });
      w.add({ type: 'file', path: 'index.json', data: index });
      w.add({ type: 'dir', path: 'blobs' });
      w.add({ type: 'dir', path: 'blobs/sha256' });
      w.add({ type: 'file', path: blob(configDigest), data: config });
      w.add({ type: 'file', path: blob(manifestDigest), data: manifest });
      w.add({ type: 'file', path: blob(blobLayer.digest), fromFile: blobLayer.path });
      w.finish();
    } finally {
      closeSync(fd);
    }
    return { manifestDigest, layerDigest: blobLayer.digest, size: statSync(out).size };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
