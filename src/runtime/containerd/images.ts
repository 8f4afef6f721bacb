/**
 * Images in a namespace: resolving a reference to its config and rootfs chain id (reading the manifest and config
 * from the content store, unpacking when the snapshot is missing), listing, deleting, importing. Resolutions are
 * cached per namespace and reference, because every container start resolves its image and the answer only changes
 * on import or delete; a cached answer is still checked against the snapshotter (one Stat).
 */
import { ErrorKind, KukeError } from '../../errors.js';
import type { ImageConfig, ImageInfo, ImportProgress } from '../ports.js';
import { tolerate, type Connection } from './connection.js';
import { readJson } from './content.js';
import { importOciTar } from './image-import.js';
import { readUserFiles, type LayerRef, type UserFiles } from './image-user.js';
import { hostArchitecture, INDEX_TYPES, platformManifest, type OciDescriptor, type OciManifest } from './oci-tar.js';
import { snapshotExists, unpackImage } from './unpack.js';

/** The parts of an OCI image config we read. */
interface OciImageConfig {
  config?: { Env?: string[] | null; Entrypoint?: string[] | null; Cmd?: string[] | null; WorkingDir?: string; User?: string };
  rootfs?: { diff_ids?: string[] };
}

/** The hint of every "image missing" error: no registry is reachable, images are imported. */
export function importHint(namespace: string, suffix?: string): string {
  const realm = suffix && namespace.endsWith(`.${suffix}`) ? namespace.slice(0, -suffix.length - 1) : undefined;
  return `no registry is reachable: import the image tar with \`kuke image load <tar>${realm ? ` --realm ${realm}` : ''}\` (the daemon's image: \`kuke init --kukeond-image <tar>\`)`;
}

/** Image handling over one connection. */
export class ImageStore {
  private readonly resolved = new Map<string, ImageInfo>();
  /** The layers of each resolved image, by namespace and reference (for {@link userFiles}). */
  private readonly layers = new Map<string, readonly LayerRef[]>();
  /** The user files of images, by namespace and manifest digest: what a digest names never changes. */
  private readonly users = new Map<string, UserFiles>();

  constructor(
    private readonly conn: Connection,
    private readonly snapshotter: string,
    private readonly namespaceSuffix?: string,
  ) {}

  /** Imports an OCI layout tar; returns the images, resolved. */
  async import(namespace: string, tarPath: string, options: { name?: string; onProgress?: (p: ImportProgress) => void } = {}): Promise<ImageInfo[]> {
    const imported = await importOciTar(this.conn, namespace, tarPath, { snapshotter: this.snapshotter, ...options });
    const out: ImageInfo[] = [];
    for (const image of imported) {
      this.resolved.delete(key(namespace, image.name));
      out.push(await this.resolve(namespace, image.name));
    }
    return out;
  }

  /** Resolves (and unpacks if needed) an image. NotFound, with the import command as hint, when it is missing. */
  async resolve(namespace: string, ref: string): Promise<ImageInfo> {
    const cached = this.resolved.get(key(namespace, ref));
    if (cached && (await snapshotExists(this.conn, namespace, this.snapshotter, cached.chainId))) return cached;
    const info = await this.resolveUncached(namespace, ref);
    this.resolved.set(key(namespace, ref), info);
    return info;
  }

  private async resolveUncached(namespace: string, ref: string): Promise<ImageInfo> {
    const found = await tolerate(this.conn.unary(this.conn.images, 'get', { name: ref }, `image ${ref} in ${namespace}`, { namespace }), ErrorKind.NotFound);
    const target = found?.image?.target;
    if (!target) {
      throw new KukeError(ErrorKind.NotFound, `image ${ref} not found in namespace ${namespace}`, { hint: importHint(namespace, this.namespaceSuffix), resource: { kind: 'image', name: ref } });
    }
    let manifestDesc: { digest: string; mediaType: string } = target;
    if (INDEX_TYPES.has(target.mediaType)) {
      const pick = platformManifest((await readJson<{ manifests?: OciDescriptor[] }>(this.conn, namespace, target.digest)).manifests);
      if (!pick) throw new KukeError(ErrorKind.NotFound, `image ${ref} in ${namespace} has no linux/${hostArchitecture()} manifest`);
      manifestDesc = pick;
    }
    const manifest = await readJson<OciManifest>(this.conn, namespace, manifestDesc.digest);
    const config = await readJson<OciImageConfig>(this.conn, namespace, manifest.config.digest);
    const { chainId } = await unpackImage(this.conn, {
      namespace,
      snapshotter: this.snapshotter,
      layers: manifest.layers,
      diffIds: config.rootfs?.diff_ids ?? [],
      configDigest: manifest.config.digest,
    });
    this.layers.set(key(namespace, ref), manifest.layers);
    const c = config.config ?? {};
    const imageConfig: ImageConfig = { env: c.Env ?? [], entrypoint: c.Entrypoint ?? [], cmd: c.Cmd ?? [], workingDir: c.WorkingDir ?? '', user: c.User ?? '' };
    return { name: ref, digest: target.digest, chainId, size: manifest.layers.reduce((n, l) => n + Number(l.size), 0), config: imageConfig };
  }

  /**
   * The image's /etc/passwd and /etc/group (./image-user.ts), read from its layers once per namespace and digest.
   * The image must have been resolved.
   */
  async userFiles(namespace: string, image: ImageInfo): Promise<UserFiles> {
    const cacheKey = key(namespace, image.digest);
    const cached = this.users.get(cacheKey);
    if (cached) return cached;
    const layers = this.layers.get(key(namespace, image.name));
    if (!layers) throw new KukeError(ErrorKind.Internal, `image ${image.name} in ${namespace} was not resolved before its user files were read`);
    const files = await readUserFiles(this.conn, namespace, layers);
    this.users.set(cacheKey, files);
    return files;
  }

  /** Every image of the namespace, resolved. */
  async list(namespace: string): Promise<ImageInfo[]> {
    const { images } = await this.conn.unary(this.conn.images, 'list', { filters: [] }, `listing images in ${namespace}`, { namespace });
    const out: ImageInfo[] = [];
    for (const image of images) out.push(await this.resolve(namespace, image.name));
    return out;
  }

  /** Names of the namespace's images (no resolution). */
  async names(namespace: string): Promise<string[]> {
    const { images } = await this.conn.unary(this.conn.images, 'list', { filters: [] }, `listing images in ${namespace}`, { namespace });
    return images.map((i) => i.name);
  }

  /**
   * Deletes an image; with `sync`, containerd collects its content and unpacked snapshots before answering.
   * Missing → ok.
   */
  async delete(namespace: string, ref: string, options: { sync?: boolean } = {}): Promise<void> {
    this.resolved.delete(key(namespace, ref));
    await tolerate(this.conn.unary(this.conn.images, 'delete', { name: ref, sync: options.sync ?? true }, `deleting image ${ref} in ${namespace}`, { namespace }), ErrorKind.NotFound);
  }

  /** Forgets every cached resolution of a namespace. */
  forget(namespace: string): void {
    for (const map of [this.resolved, this.layers, this.users]) for (const k of [...map.keys()]) if (k.startsWith(`${namespace}\0`)) map.delete(k);
  }
}

function key(namespace: string, ref: string): string {
  return `${namespace}\0${ref}`;
}
