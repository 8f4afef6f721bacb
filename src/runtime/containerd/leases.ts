/**
 * Leases: containerd's garbage collector runs within milliseconds of any deletion and takes everything no image,
 * container, lease or gc.root label reaches. Objects assembled over several calls (imported blobs before the image
 * record exists, extraction snapshots before they are committed) are therefore created under a lease, which expires
 * by itself if we crash before deleting it.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from './connection.js';

/** Prefix of the ids of kukeon's leases (deleteNamespace removes any that are left). */
export const LEASE_PREFIX = 'kukeon-';

/**
 * Runs `fn` with a fresh lease in `namespace`, then deletes the lease. The lease expires after `expireMs` if the
 * process dies in between.
 */
export async function withLease<T>(conn: Connection, namespace: string, purpose: string, fn: (lease: string) => Promise<T>, options: { expireMs?: number } = {}): Promise<T> {
  const id = `${LEASE_PREFIX}${purpose}-${randomBytes(6).toString('hex')}`;
  const expire = new Date(Date.now() + (options.expireMs ?? 60 * 60_000)).toISOString();
  await conn.unary(conn.leases, 'create', { id, labels: { 'containerd.io/gc.expire': expire } }, `creating lease ${id} in ${namespace}`, { namespace });
  try {
    return await fn(id);
  } finally {
    // Not synchronous: what the lease protected is referenced by now (image, committed snapshot, label). A failure
    // here must not hide fn's outcome; the lease then expires by itself.
    await conn.unary(conn.leases, 'delete', { id, sync: false }, `deleting lease ${id} in ${namespace}`, { namespace }).catch(() => undefined);
  }
}
