/**
 * Images through containerd's API only: importing an OCI layout tar (content writes under a lease, gc.ref labels
 * so the garbage collector keeps every blob, then the image record), resolving an image to its config and rootfs
 * chain id, and unpacking it (snapshot prepare → diff apply → commit) when its snapshot is missing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ErrorKind, KukeError, isKukeError } from '../../errors.js';
import type { ImageConfig, ImageInfo, ImportProgress } from '../ports.js';
import type { Connection } from './connection.js';
import { WriteAction, type WriteContentRequest, type WriteContentResponse } from './gen/containerd/services/content/v1/content.js';
import type { Descriptor } from './gen/containerd/types/mount.js';
import { MEDIA } from './oci-layout.js';
import { listTar, readRange, type TarMember } from './tar.js';

const CHUNK = 1 << 20;
const INDEX_TYPES = new Set([MEDIA.index, 'application/vnd.docker.distribution.manifest.list.v2+json']);

interface Manifest {
  config: Descriptor;
  layers: Descriptor[];
}

/** chain ids of a list of diff ids: chain[0] = diff[0], chain[i] = sha256(chain[i-1] + ' ' + diff[i]). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const [i, diff] of diffIds.entries()) {
    out.push(i === 0 ? diff : `sha256:${createHash('sha256').update(`${out[i - 1]} ${diff}`).digest('hex')}`);
  }
  return out;
}

/** Image handling over one connection. */
export class ImageService {
  /** Resolved images by namespace and ref; dropped when an image is imported or deleted. */
  private readonly resolved = new Map<string, ImageInfo>();

  constructor(
    private readonly conn: Connection,
    private readonly snapshotter: string,
  ) {}

  private async readBlob(namespace: string, digest: string): Promise<Buffer> {
    const md = this.conn.meta(namespace);
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const stream = this.conn.content.read({ digest, offset: 0, size: 0 }, md, { deadline: Date.now() + 60_000 });
      stream.on('data', (m: { data: Uint8Array }) => chunks.push(Buffer.from(m.data)));
      stream.on('error', (err) => reject(this.error(err, `reading blob ${digest}`)));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
    });
  }

  private error(err: unknown, context: string): KukeError {
    return isKukeError(err) ? err : new KukeError(ErrorKind.Internal, `${context}: ${(err as Error).message}`, { cause: err });
  }

  /** Writes one blob through Content.Write (idempotent: an existing digest is success). */
  private writeBlob(namespace: string, lease: string, desc: { digest: string; size: number }, read: (offset: number, size: number) => Buffer, labels: Record<string, string>, onProgress?: (p: ImportProgress) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const stream = this.conn.content.write(this.conn.meta(namespace, lease));
      const ref = `kukeon-import-${desc.digest}`;
      let offset = 0;
      let done = false;
      const finish = (err?: unknown) => {
        if (done) return;
        done = true;
        stream.removeAllListeners();
        stream.on('error', () => undefined);
        if (err) reject(err);
        else resolve();
      };
      stream.on('error', (err: { code?: number; details?: string }) => {
        if (err.code === 6) finish(); // ALREADY_EXISTS: this namespace has it
        else finish(new KukeError(ErrorKind.Internal, `writing blob ${desc.digest}: ${err.details ?? String(err)}`, { cause: err }));
      });
      stream.on('data', (res: WriteContentResponse) => {
        if (res.action === WriteAction.COMMIT) {
          stream.end();
          finish();
        }
      });
      const send = (req: Partial<WriteContentRequest>) => stream.write({ action: WriteAction.STAT, ref, total: 0, expected: '', offset: 0, data: new Uint8Array(), labels: {}, ...req } as WriteContentRequest);
      while (offset < desc.size) {
        const size = Math.min(CHUNK, desc.size - offset);
        send({ action: WriteAction.WRITE, offset, data: read(offset, size), total: desc.size, expected: desc.digest });
        offset += size;
        onProgress?.({ item: desc.digest, done: offset, total: desc.size });
      }
      send({ action: WriteAction.COMMIT, offset: desc.size, total: desc.size, expected: desc.digest, labels });
    });
  }

  /** Imports an OCI layout tar; returns the images created or updated. */
  async importTar(namespace: string, tarPath: string, options: { name?: string; onProgress?: (p: ImportProgress) => void } = {}): Promise<ImageInfo[]> {
    for (const key of [...this.resolved.keys()]) if (key.startsWith(`${namespace}\0`)) this.resolved.delete(key);
    let members: Map<string, TarMember>;
    try {
      members = listTar(tarPath);
    } catch (err) {
      throw new KukeError(ErrorKind.InvalidArgument, `cannot read image tar ${tarPath}: ${(err as Error).message}`, { hint: 'pass an OCI image layout tar' });
    }
    const member = (name: string) => {
      const m = members.get(name);
      if (!m) throw new KukeError(ErrorKind.InvalidArgument, `${tarPath} is not an OCI image layout: ${name} is missing`, { hint: 'pass an OCI image layout tar (oci-layout, index.json, blobs/)' });
      return m;
    };
    const blobMember = (digest: string) => member(`blobs/${digest.replace(':', '/')}`);
    const json = (m: TarMember) => JSON.parse(readRange(tarPath, m.offset, m.size).toString('utf8')) as Record<string, unknown>;
    const index = json(member('index.json')) as { manifests: (Descriptor & { annotations?: Record<string, string> })[] };
    const leaseId = `kukeon-import-${randomBytes(6).toString('hex')}`;
    const expire = new Date(Date.now() + 10 * 60_000).toISOString();
    await this.conn.call(this.conn.leases, this.conn.leases.create, { id: leaseId, labels: { 'containerd.io/gc.expire': expire } }, this.conn.meta(namespace), `creating lease in ${namespace}`);
    const out: ImageInfo[] = [];
    try {
      for (const entry of index.manifests) {
        const name = options.name ?? entry.annotations?.['org.opencontainers.image.ref.name'];
        if (!name) throw new KukeError(ErrorKind.InvalidArgument, `${tarPath}: manifest ${entry.digest} has no ref name`, { hint: 'give the image a name' });
        const manifestMember = blobMember(entry.digest);
        const manifest = json(manifestMember) as unknown as Manifest;
        const write = (desc: Descriptor, labels: Record<string, string> = {}) => {
          const m = blobMember(desc.digest);
          return this.writeBlob(namespace, leaseId, { digest: desc.digest, size: Number(desc.size) }, (o, s) => readRange(tarPath, m.offset + o, s), labels, options.onProgress);
        };
        await write(manifest.config);
        for (const layer of manifest.layers) await write(layer);
        const refs: Record<string, string> = { 'containerd.io/gc.ref.content.config': manifest.config.digest };
        manifest.layers.forEach((l, i) => (refs[`containerd.io/gc.ref.content.l.${i}`] = l.digest));
        await write({ mediaType: entry.mediaType || MEDIA.manifest, digest: entry.digest, size: manifestMember.size, annotations: {} }, refs);
        const target: Descriptor = { mediaType: entry.mediaType || MEDIA.manifest, digest: entry.digest, size: manifestMember.size, annotations: {} };
        const image = { name, labels: {}, target, createdAt: undefined, updatedAt: undefined };
        try {
          await this.conn.call(this.conn.images, this.conn.images.create, { image }, this.conn.meta(namespace), `creating image ${name}`);
        } catch (err) {
          if (!isKukeError(err, ErrorKind.AlreadyExists)) throw err;
          await this.conn.call(this.conn.images, this.conn.images.update, { image, updateMask: ['target'] }, this.conn.meta(namespace), `updating image ${name}`);
        }
        options.onProgress?.({ item: 'unpack', done: 0, total: 1 });
        out.push(await this.resolve(namespace, name, leaseId));
        options.onProgress?.({ item: 'unpack', done: 1, total: 1 });
      }
    } finally {
      await this.conn.call(this.conn.leases, this.conn.leases.delete, { id: leaseId, sync: false }, this.conn.meta(namespace), 'deleting import lease').catch(() => undefined);
    }
    return out;
  }

  /**
   * Resolves an image (manifest, config, chain id), unpacking its layers if its snapshot is missing. Cached per
   * namespace: every container start resolves its image, and the answer only changes on import or delete.
   */
  async resolve(namespace: string, ref: string, lease?: string): Promise<ImageInfo> {
    const key = `${namespace}\0${ref}`;
    const cached = this.resolved.get(key);
    if (cached) {
      try {
        await this.conn.call(this.conn.snapshots, this.conn.snapshots.stat, { snapshotter: this.snapshotter, key: cached.chainId }, this.conn.meta(namespace), `snapshot ${cached.chainId}`);
        return cached;
      } catch (err) {
        if (!isKukeError(err, ErrorKind.NotFound)) throw err;
        this.resolved.delete(key);
      }
    }
    const info = await this.resolveUncached(namespace, ref, lease);
    this.resolved.set(key, info);
    return info;
  }

  private async resolveUncached(namespace: string, ref: string, lease?: string): Promise<ImageInfo> {
    let target: Descriptor | undefined;
    try {
      const res = await this.conn.call(this.conn.images, this.conn.images.get, { name: ref }, this.conn.meta(namespace), `image ${ref}`);
      target = res.image?.target;
    } catch (err) {
      if (isKukeError(err, ErrorKind.NotFound)) {
        throw new KukeError(ErrorKind.NotFound, `image ${ref} not found in namespace ${namespace}`, {
          hint: 'no registry is reachable: import it first (kuke init --kukeond-image <tar>, or the image tar of your workload)',
        });
      }
      throw err;
    }
    if (!target) throw new KukeError(ErrorKind.Internal, `image ${ref} has no target`);
    let manifestDesc = target;
    if (INDEX_TYPES.has(target.mediaType)) {
      const index = JSON.parse((await this.readBlob(namespace, target.digest)).toString()) as { manifests: (Descriptor & { platform?: { os?: string; architecture?: string } })[] };
      const pick = index.manifests.find((m) => !m.platform || (m.platform.os === 'linux' && m.platform.architecture === 'amd64'));
      if (!pick) throw new KukeError(ErrorKind.NotFound, `image ${ref} has no linux/amd64 manifest`);
      manifestDesc = pick;
    }
    const manifest = JSON.parse((await this.readBlob(namespace, manifestDesc.digest)).toString()) as Manifest;
    const config = JSON.parse((await this.readBlob(namespace, manifest.config.digest)).toString()) as {
      config?: { Env?: string[]; Entrypoint?: string[] | null; Cmd?: string[] | null; WorkingDir?: string; User?: string };
      rootfs: { diff_ids: string[] };
    };
    const chain = chainIds(config.rootfs.diff_ids);
    await this.unpack(namespace, manifest, config.rootfs.diff_ids, chain, lease);
    const imageConfig: ImageConfig = {
      env: config.config?.Env ?? [],
      entrypoint: config.config?.Entrypoint ?? [],
      cmd: config.config?.Cmd ?? [],
      workingDir: config.config?.WorkingDir ?? '',
      user: config.config?.User ?? '',
    };
    return { name: ref, digest: manifestDesc.digest, chainId: chain.at(-1)!, size: manifest.layers.reduce((n, l) => n + Number(l.size), 0), config: imageConfig };
  }

  private async unpack(namespace: string, manifest: Manifest, diffIds: string[], chain: string[], lease?: string): Promise<void> {
    const md = this.conn.meta(namespace, lease);
    let unpacked = false;
    for (let i = 0; i < chain.length; i++) {
      try {
        await this.conn.call(this.conn.snapshots, this.conn.snapshots.stat, { snapshotter: this.snapshotter, key: chain[i]! }, this.conn.meta(namespace), `snapshot ${chain[i]}`);
        continue;
      } catch (err) {
        if (!isKukeError(err, ErrorKind.NotFound)) throw err;
      }
      unpacked = true;
      const key = `extract-${randomBytes(6).toString('hex')} ${chain[i]}`;
      const { mounts } = await this.conn.call(this.conn.snapshots, this.conn.snapshots.prepare, { snapshotter: this.snapshotter, key, parent: i ? chain[i - 1]! : '', labels: {} }, md, `preparing ${key}`);
      try {
        const raw = manifest.layers[i]!;
        // Descriptors parsed from JSON may lack annotations; the encoder needs every map present.
        const layer: Descriptor = { mediaType: raw.mediaType, digest: raw.digest, size: Number(raw.size), annotations: raw.annotations ?? {} };
        const { applied } = await this.conn.call(this.conn.diff, this.conn.diff.apply, { diff: layer, mounts, payloads: {} }, md, `applying layer ${layer.digest}`, { timeoutMs: 10 * 60_000 });
        if (applied?.digest !== diffIds[i]) throw new KukeError(ErrorKind.DataLoss, `layer ${layer.digest} unpacked to ${applied?.digest}, expected ${diffIds[i]}`);
        await this.conn.call(this.conn.snapshots, this.conn.snapshots.commit, { snapshotter: this.snapshotter, name: chain[i]!, key, labels: {} }, md, `committing ${chain[i]}`).catch((err) => {
          if (!isKukeError(err, ErrorKind.AlreadyExists)) throw err;
        });
      } finally {
        await this.conn.call(this.conn.snapshots, this.conn.snapshots.remove, { snapshotter: this.snapshotter, key }, this.conn.meta(namespace), `removing ${key}`).catch(() => undefined);
      }
    }
    if (!unpacked) return;
    // The config keeps the unpacked chain alive through garbage collection.
    const label = `containerd.io/gc.ref.snapshot.${this.snapshotter}`;
    await this.conn.call(this.conn.content, this.conn.content.update, { info: { digest: manifest.config.digest, size: 0, labels: { [label]: chain.at(-1)! }, createdAt: undefined, updatedAt: undefined }, updateMask: [`labels.${label}`] }, this.conn.meta(namespace), 'labelling image config');
  }

  async list(namespace: string): Promise<ImageInfo[]> {
    const { images } = await this.conn.call(this.conn.images, this.conn.images.list, { filters: [] }, this.conn.meta(namespace), `listing images in ${namespace}`);
    const out: ImageInfo[] = [];
    for (const img of images) out.push(await this.resolve(namespace, img.name));
    return out;
  }

  async delete(namespace: string, ref: string): Promise<void> {
    this.resolved.delete(`${namespace}\0${ref}`);
    await this.conn.call(this.conn.images, this.conn.images.delete, { name: ref, sync: true }, this.conn.meta(namespace), `deleting image ${ref}`).catch((err) => {
      if (!isKukeError(err, ErrorKind.NotFound)) throw err;
    });
  }
}
