/**
 * Reads an OCI image layout tar (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) without unpacking it: the members
 * are located once, then blobs are read by range. Nested indexes (multi-platform images) are resolved to the
 * manifest of this host's platform. Docker's `docker save` format (manifest.json only) is refused with a hint.
 */
import { ErrorKind, KukeError } from '../../errors.js';
import { MEDIA } from './oci-layout.js';
import { listTar, readRange, type TarMember } from './tar.js';

/** An OCI descriptor as found in index.json and manifests. */
export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** An OCI image manifest. */
export interface OciManifest {
  config: OciDescriptor;
  layers: OciDescriptor[];
}

/** One image of the layout: its name (if the layout gives one), manifest descriptor and parsed manifest. */
export interface OciTarImage {
  /** From the `io.containerd.image.name` annotation, else `org.opencontainers.image.ref.name`. */
  name?: string;
  descriptor: OciDescriptor;
  manifest: OciManifest;
}

/** Media types of image indexes (multi-platform images). */
export const INDEX_TYPES: ReadonlySet<string> = new Set<string>([MEDIA.index, 'application/vnd.docker.distribution.manifest.list.v2+json']);
const NAME_ANNOTATIONS = ['io.containerd.image.name', 'org.opencontainers.image.ref.name'];

/** This host's OCI architecture name. */
export function hostArchitecture(): string {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return arch[process.arch] ?? process.arch;
}

/** The manifest of this host's platform among an index's entries (undefined if there is none). */
export function platformManifest(manifests: readonly OciDescriptor[] | undefined): OciDescriptor | undefined {
  const arch = hostArchitecture();
  return (manifests ?? []).find((m) => !INDEX_TYPES.has(m.mediaType) && (!m.platform || (m.platform.os === 'linux' && m.platform.architecture === arch)));
}

/** An opened OCI layout tar. */
export class OciLayoutTar {
  /** The images of index.json, in order. */
  readonly images: OciTarImage[];

  private constructor(
    readonly path: string,
    private readonly members: Map<string, TarMember>,
  ) {
    this.images = this.readImages();
  }

  /** Opens and checks the tar. InvalidArgument if it is not an OCI image layout. */
  static open(path: string): OciLayoutTar {
    let members: Map<string, TarMember>;
    try {
      members = listTar(path);
    } catch (err) {
      throw new KukeError(ErrorKind.InvalidArgument, `cannot read image tar ${path}: ${(err as Error).message}`, { hint: 'pass an OCI image layout tar', cause: err });
    }
    if (!members.has('index.json') || !members.has('oci-layout')) {
      const docker = members.has('manifest.json');
      throw new KukeError(ErrorKind.InvalidArgument, `${path} is not an OCI image layout (no ${members.has('index.json') ? 'oci-layout' : 'index.json'})`, {
        hint: docker ? 'this looks like a `docker save` archive; export an OCI layout instead (e.g. `docker buildx build --output type=oci,dest=image.tar` or `ctr image export`)' : 'pass an OCI image layout tar (oci-layout, index.json, blobs/)',
      });
    }
    return new OciLayoutTar(path, members);
  }

  /** Whether the tar holds the blob. */
  has(digest: string): boolean {
    return this.members.has(blobPath(digest));
  }

  /** Size of a blob in the tar. */
  size(digest: string): number {
    return this.member(blobPath(digest)).size;
  }

  /** Reads `size` bytes at `offset` of a blob. */
  read(digest: string, offset: number, size: number): Buffer {
    const m = this.member(blobPath(digest));
    if (offset + size > m.size) throw new KukeError(ErrorKind.InvalidArgument, `${this.path}: read past the end of blob ${digest}`);
    return readRange(this.path, m.offset + offset, size);
  }

  /** Reads a JSON file or blob of the layout. */
  json<T>(name: string): T {
    const m = this.member(name);
    try {
      return JSON.parse(readRange(this.path, m.offset, m.size).toString('utf8')) as T;
    } catch (err) {
      throw new KukeError(ErrorKind.InvalidArgument, `${this.path}: ${name} is not valid JSON`, { cause: err });
    }
  }

  private member(name: string): TarMember {
    const m = this.members.get(name);
    if (!m) throw new KukeError(ErrorKind.InvalidArgument, `${this.path} is incomplete: ${name} is missing`, { hint: 'the image tar is damaged; export it again' });
    return m;
  }

  private readImages(): OciTarImage[] {
    const index = this.json<{ manifests?: OciDescriptor[] }>('index.json');
    const out: OciTarImage[] = [];
    for (const entry of index.manifests ?? []) {
      const name = NAME_ANNOTATIONS.map((a) => entry.annotations?.[a]).find(Boolean);
      const descriptor = INDEX_TYPES.has(entry.mediaType) ? this.platformManifest(entry) : entry;
      const manifest = this.json<OciManifest>(blobPath(descriptor.digest));
      if (!manifest.config?.digest || !Array.isArray(manifest.layers)) {
        throw new KukeError(ErrorKind.InvalidArgument, `${this.path}: ${descriptor.digest} is not an image manifest`);
      }
      out.push({ ...(name ? { name } : {}), descriptor: { mediaType: descriptor.mediaType || MEDIA.manifest, digest: descriptor.digest, size: this.size(descriptor.digest) }, manifest });
    }
    if (out.length === 0) throw new KukeError(ErrorKind.InvalidArgument, `${this.path} holds no image (index.json lists no manifest)`);
    return out;
  }

  /** The manifest of this host's platform in a nested index. */
  private platformManifest(entry: OciDescriptor): OciDescriptor {
    const pick = platformManifest(this.json<{ manifests?: OciDescriptor[] }>(blobPath(entry.digest)).manifests);
    if (!pick) throw new KukeError(ErrorKind.NotFound, `${this.path}: image ${entry.digest} has no linux/${hostArchitecture()} manifest`);
    return pick;
  }
}

/** Where a blob lives in a layout: `blobs/sha256/<hex>`. */
export function blobPath(digest: string): string {
  const [alg, hex] = digest.split(':');
  if (!alg || !hex || !/^[a-z0-9]+$/.test(alg) || !/^[a-f0-9]+$/.test(hex)) throw new KukeError(ErrorKind.InvalidArgument, `not a digest: ${digest}`);
  return `blobs/${alg}/${hex}`;
}
