/**
 * Unpacking an image into the snapshotter over the API: for each layer whose chain is missing, Snapshots.Prepare
 * an extraction snapshot on the parent chain, Diff.Apply the layer blob onto its mounts, Snapshots.Commit it under
 * the chain id. Then the image config gets a `containerd.io/gc.ref.snapshot.<snapshotter>` label, so the garbage
 * collector keeps the unpacked chain as long as the image exists. Everything runs under a lease: an extraction
 * snapshot is not referenced by anything until it is committed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ErrorKind, KukeError } from '../../errors.js';
import { tolerate, type Connection } from './connection.js';
import { blobInfo, labelBlob } from './content.js';
import { withLease } from './leases.js';

/** Prefix of extraction snapshot keys (deleteNamespace removes any that are left). */
export const EXTRACT_PREFIX = 'extract-';

/**
 * Chain ids of a list of diff ids, as the OCI image spec defines them: chain[0] = diff[0],
 * chain[i] = sha256(chain[i-1] + " " + diff[i]). The last one names the image's rootfs snapshot.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const [i, diff] of diffIds.entries()) {
    out.push(i === 0 ? diff : `sha256:${createHash('sha256').update(`${out[i - 1]} ${diff}`).digest('hex')}`);
  }
  return out;
}

/** What to unpack. */
export interface UnpackRequest {
  namespace: string;
  snapshotter: string;
  /** Layer descriptors, bottom first. */
  layers: readonly { mediaType: string; digest: string; size: number }[];
  /** Uncompressed digests of the layers (image config `rootfs.diff_ids`). */
  diffIds: readonly string[];
  /** Digest of the image config blob, which gets the gc.ref.snapshot label. */
  configDigest: string;
  /** A lease to work under (the import's); a fresh one is taken when absent. */
  lease?: string;
}

/** Whether a snapshot exists. */
export async function snapshotExists(conn: Connection, namespace: string, snapshotter: string, key: string): Promise<boolean> {
  const res = await tolerate(conn.unary(conn.snapshots, 'stat', { snapshotter, key }, `snapshot ${key} in ${namespace}`, { namespace }), ErrorKind.NotFound);
  return res !== undefined;
}

/**
 * Makes sure the image's chain is unpacked and protected. Idempotent: an unpacked chain costs a Stat and an Info.
 * Returns the chain id of the rootfs and whether layers were applied.
 */
export async function unpackImage(conn: Connection, req: UnpackRequest): Promise<{ chainId: string; unpacked: boolean }> {
  if (req.layers.length !== req.diffIds.length) {
    throw new KukeError(ErrorKind.InvalidArgument, `image config ${req.configDigest} lists ${req.diffIds.length} diff ids for ${req.layers.length} layers`);
  }
  if (req.layers.length === 0) throw new KukeError(ErrorKind.InvalidArgument, `image config ${req.configDigest} has no layers`);
  const chain = chainIds(req.diffIds);
  const top = chain.at(-1)!;
  let unpacked = false;
  if (!(await snapshotExists(conn, req.namespace, req.snapshotter, top))) {
    const run = (lease: string) => applyMissing(conn, req, chain, lease);
    unpacked = req.lease ? await run(req.lease) : await withLease(conn, req.namespace, 'unpack', run);
  }
  const label = `containerd.io/gc.ref.snapshot.${req.snapshotter}`;
  const config = await blobInfo(conn, req.namespace, req.configDigest);
  if (!config) throw new KukeError(ErrorKind.NotFound, `image config ${req.configDigest} is missing from ${req.namespace}`, { hint: 'import the image again' });
  if (config.labels[label] !== top) await labelBlob(conn, req.namespace, req.configDigest, label, top);
  return { chainId: top, unpacked };
}

/** Applies the layers whose chain snapshot is missing, bottom-up (a few Stats: images have few layers). */
async function applyMissing(conn: Connection, req: UnpackRequest, chain: string[], lease: string): Promise<boolean> {
  for (const [i, name] of chain.entries()) {
    if (await snapshotExists(conn, req.namespace, req.snapshotter, name)) continue;
    await applyLayer(conn, req, i, name, i === 0 ? '' : chain[i - 1]!, lease);
  }
  return true;
}

async function applyLayer(conn: Connection, req: UnpackRequest, i: number, name: string, parent: string, lease: string): Promise<void> {
  const { namespace, snapshotter } = req;
  const key = `${EXTRACT_PREFIX}${randomBytes(6).toString('hex')} ${name}`;
  const scope = { namespace, lease };
  const { mounts } = await conn.unary(conn.snapshots, 'prepare', { snapshotter, key, parent, labels: {} }, `preparing ${key} in ${namespace}`, scope);
  try {
    const layer = req.layers[i]!;
    const { applied } = await conn.unary(
      conn.diff,
      'apply',
      { diff: { mediaType: layer.mediaType, digest: layer.digest, size: Number(layer.size), annotations: {} }, mounts, payloads: {} },
      `applying layer ${layer.digest} in ${namespace}`,
      // A large layer takes a while to extract.
      { ...scope, timeoutMs: 10 * 60_000 },
    );
    if (applied?.digest !== req.diffIds[i]) {
      throw new KukeError(ErrorKind.DataLoss, `layer ${layer.digest} unpacked to ${applied?.digest ?? 'nothing'}, but the image config says ${req.diffIds[i]}`, { hint: 'the image is damaged; import it again' });
    }
    // AlreadyExists: another unpacker committed the same chain first, which is as good.
    await tolerate(conn.unary(conn.snapshots, 'commit', { snapshotter, name, key, labels: {} }, `committing ${name} in ${namespace}`, scope), ErrorKind.AlreadyExists);
  } finally {
    // Gone after a successful commit; left behind after a failure or a lost race.
    await tolerate(conn.unary(conn.snapshots, 'remove', { snapshotter, key }, `removing ${key} in ${namespace}`, { namespace }), ErrorKind.NotFound).catch(() => undefined);
  }
}
