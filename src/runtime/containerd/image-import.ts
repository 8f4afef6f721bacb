/**
 * Importing an OCI image layout tar purely over containerd's API (no registry is reachable on our hosts): under a
 * lease, Content.Write each blob children first (config and layers, then the manifest carrying
 * `containerd.io/gc.ref.content.*` labels so the garbage collector keeps them once the lease is gone), then
 * Images.Create (or Update when the name pointed elsewhere), then unpack. An image that is already present with the
 * same manifest and all its blobs is left untouched: a second import writes nothing.
 */
import { ErrorKind, KukeError } from '../../errors.js';
import type { ImportProgress } from '../ports.js';
import { tolerate, type Connection } from './connection.js';
import { blobInfo, writeBlob } from './content.js';
import type { Image } from './gen/containerd/services/images/v1/images.js';
import { withLease } from './leases.js';
import { blobPath, OciLayoutTar, type OciDescriptor, type OciTarImage } from './oci-tar.js';
import { unpackImage } from './unpack.js';

/** Options of {@link importOciTar}. */
export interface ImportOptions {
  /** Snapshotter to unpack into. */
  snapshotter: string;
  /** Name for the image, overriding the layout's annotation (only for single-image tars). */
  name?: string;
  /** Called as blobs are written (`item` = digest) and around the unpack (`item` = 'unpack'). */
  onProgress?: (progress: ImportProgress) => void;
}

/** One imported image. */
export interface ImportedImage {
  name: string;
  /** Manifest digest. */
  digest: string;
  /** False when the image was already present as is (nothing written). */
  changed: boolean;
}

/** Imports every image of the tar into the namespace and unpacks it. Idempotent. */
export async function importOciTar(conn: Connection, namespace: string, tarPath: string, options: ImportOptions): Promise<ImportedImage[]> {
  const layout = OciLayoutTar.open(tarPath);
  if (options.name && layout.images.length > 1) {
    throw new KukeError(ErrorKind.InvalidArgument, `${tarPath} holds ${layout.images.length} images; a name can only be given to a single image`);
  }
  const named = layout.images.map((image) => {
    const name = options.name ?? image.name;
    if (!name) throw new KukeError(ErrorKind.InvalidArgument, `${tarPath}: manifest ${image.descriptor.digest} has no name (no org.opencontainers.image.ref.name annotation)`, { hint: 'give the image a name' });
    return { name, image };
  });
  const out: ImportedImage[] = [];
  for (const { name, image } of named) {
    const diffIds = layout.json<{ rootfs?: { diff_ids?: string[] } }>(blobPath(image.manifest.config.digest)).rootfs?.diff_ids ?? [];
    const present = await isPresent(conn, namespace, name, image);
    const unpack = (lease?: string) => {
      options.onProgress?.({ item: 'unpack', done: 0, total: 1 });
      return unpackImage(conn, {
        namespace,
        snapshotter: options.snapshotter,
        layers: image.manifest.layers,
        diffIds,
        configDigest: image.manifest.config.digest,
        ...(lease ? { lease } : {}),
      }).then((r) => {
        options.onProgress?.({ item: 'unpack', done: 1, total: 1 });
        return r;
      });
    };
    if (present) {
      // Still make sure the chain is unpacked (a Stat when it is).
      await unpack();
      out.push({ name, digest: image.descriptor.digest, changed: false });
      continue;
    }
    await withLease(conn, namespace, 'import', async (lease) => {
      for (const desc of [image.manifest.config, ...image.manifest.layers]) await writeFromTar(conn, namespace, lease, layout, desc, {}, options.onProgress);
      const refs: Record<string, string> = { 'containerd.io/gc.ref.content.config': image.manifest.config.digest };
      image.manifest.layers.forEach((layer, i) => (refs[`containerd.io/gc.ref.content.l.${i}`] = layer.digest));
      await writeFromTar(conn, namespace, lease, layout, image.descriptor, refs, options.onProgress);
      await putImage(conn, namespace, name, image.descriptor);
      await unpack(lease);
    });
    out.push({ name, digest: image.descriptor.digest, changed: true });
  }
  return out;
}

/** Whether the namespace already has the image under this name, with every blob. */
async function isPresent(conn: Connection, namespace: string, name: string, image: OciTarImage): Promise<boolean> {
  const existing = await tolerate(conn.unary(conn.images, 'get', { name }, `image ${name} in ${namespace}`, { namespace }), ErrorKind.NotFound);
  if (existing?.image?.target?.digest !== image.descriptor.digest) return false;
  for (const desc of [image.descriptor, image.manifest.config, ...image.manifest.layers]) {
    if (!(await blobInfo(conn, namespace, desc.digest))) return false;
  }
  return true;
}

function writeFromTar(
  conn: Connection,
  namespace: string,
  lease: string,
  layout: OciLayoutTar,
  desc: OciDescriptor,
  labels: Record<string, string>,
  onProgress?: (p: ImportProgress) => void,
): Promise<{ written: boolean }> {
  const size = layout.size(desc.digest);
  if (Number(desc.size) !== size) {
    throw new KukeError(ErrorKind.InvalidArgument, `${layout.path}: blob ${desc.digest} has ${size} bytes, its descriptor says ${desc.size}`, { hint: 'the image tar is damaged; export it again' });
  }
  return writeBlob(conn, namespace, lease, { digest: desc.digest, size, read: (offset, n) => layout.read(desc.digest, offset, n) }, labels, (done, total) => onProgress?.({ item: desc.digest, done, total }));
}

/** Images.Create, or Update of the target when the name exists (pointing at another manifest). */
async function putImage(conn: Connection, namespace: string, name: string, desc: OciDescriptor): Promise<void> {
  const image: Image = { name, labels: {}, target: { mediaType: desc.mediaType, digest: desc.digest, size: Number(desc.size), annotations: {} } };
  try {
    await conn.unary(conn.images, 'create', { image }, `creating image ${name} in ${namespace}`, { namespace });
  } catch (err) {
    if (!(err instanceof KukeError && err.kind === ErrorKind.AlreadyExists)) throw err;
    await conn.unary(conn.images, 'update', { image, updateMask: ['target'] }, `updating image ${name} in ${namespace}`, { namespace });
  }
}
