/**
 * containerd namespaces, one per realm. Existence is checked with List (Get never answers NOT_FOUND). Deleting one
 * first removes what kukeon itself leaves there (images, leases, blobs, aborted ingests, unpacked and extraction
 * snapshots), and refuses while workloads remain (containers, or container rootfs snapshots): containerd would refuse
 * too, with a less helpful text.
 */
import { ErrorKind, KukeError } from '../../errors.js';
import type { Labels } from '../ports.js';
import { tolerate, type Connection } from './connection.js';
import { Kind, type Info as SnapshotInfo } from './gen/containerd/services/snapshots/v1/snapshots.js';
import type { ImageStore } from './images.js';
import { EXTRACT_PREFIX } from './unpack.js';

/** Namespaces over one connection. */
export class NamespaceStore {
  constructor(
    private readonly conn: Connection,
    private readonly images: ImageStore,
    private readonly snapshotter: string,
  ) {}

  /** Every namespace with its labels. */
  async list(): Promise<{ name: string; labels: Labels }[]> {
    const { namespaces } = await this.conn.unary(this.conn.namespaces, 'list', { filter: '' }, 'listing namespaces');
    return namespaces.map((n) => ({ name: n.name, labels: n.labels }));
  }

  /** Whether the namespace exists (from List: Get answers for any name). */
  async exists(namespace: string): Promise<boolean> {
    return (await this.list()).some((n) => n.name === namespace);
  }

  /** Creates the namespace with these labels if missing. Idempotent. */
  async ensure(namespace: string, labels: Labels = {}): Promise<{ created: boolean }> {
    if (await this.exists(namespace)) return { created: false };
    // Create publishes an event, which needs the namespace header even here.
    const res = await tolerate(this.conn.unary(this.conn.namespaces, 'create', { namespace: { name: namespace, labels } }, `creating namespace ${namespace}`, { namespace }), ErrorKind.AlreadyExists);
    return { created: res !== undefined };
  }

  /**
   * Deletes the namespace after removing kukeon's leftovers. FailedPrecondition if containers or container snapshots
   * remain. Missing → ok.
   */
  async delete(namespace: string): Promise<void> {
    if (!(await this.exists(namespace))) return;
    const scope = { namespace };
    const { containers } = await this.conn.unary(this.conn.containers, 'list', { filters: [] }, `listing containers in ${namespace}`, scope);
    if (containers.length > 0) {
      throw new KukeError(ErrorKind.FailedPrecondition, `namespace ${namespace} is not empty: ${count(containers.length, 'container')} remain (${sample(containers.map((c) => c.id))})`, {
        hint: 'delete the realm\'s cells first (or purge the realm with --cascade)',
      });
    }
    const workloads = (await this.snapshots(namespace)).filter((s) => s.kind !== Kind.COMMITTED && !s.name.startsWith(EXTRACT_PREFIX));
    if (workloads.length > 0) {
      throw new KukeError(ErrorKind.FailedPrecondition, `namespace ${namespace} is not empty: ${count(workloads.length, 'container snapshot')} remain (${sample(workloads.map((s) => s.name))})`, {
        hint: 'a container was deleted without its rootfs; remove the snapshots (ctr -n <namespace> snapshots rm <key>) and retry',
      });
    }
    // Images go with a synchronous garbage collection, which takes their blobs and unpacked snapshots along.
    this.images.forget(namespace);
    for (const name of await this.images.names(namespace)) await this.images.delete(namespace, name, { sync: true });
    const { leases } = await this.conn.unary(this.conn.leases, 'list', { filters: [] }, `listing leases in ${namespace}`, scope);
    for (const lease of leases) await tolerate(this.conn.unary(this.conn.leases, 'delete', { id: lease.id, sync: true }, `deleting lease ${lease.id} in ${namespace}`, scope), ErrorKind.NotFound);
    const { statuses } = await this.conn.unary(this.conn.content, 'listStatuses', { filters: [] }, `listing ingests in ${namespace}`, scope);
    for (const ingest of statuses) await tolerate(this.conn.unary(this.conn.content, 'abort', { ref: ingest.ref }, `aborting ingest ${ingest.ref} in ${namespace}`, scope), ErrorKind.NotFound);
    // What no image referenced (a blob written by an interrupted import, a chain whose image is gone).
    for (const batch of await this.conn.collect(this.conn.content, 'list', { filters: [] }, `listing blobs in ${namespace}`, scope)) {
      for (const blob of batch.info) await tolerate(this.conn.unary(this.conn.content, 'delete', { digest: blob.digest }, `deleting blob ${blob.digest} in ${namespace}`, scope), ErrorKind.NotFound);
    }
    await this.removeSnapshots(namespace);
    try {
      await this.conn.unary(this.conn.namespaces, 'delete', { name: namespace }, `deleting namespace ${namespace}`, scope);
    } catch (err) {
      if (err instanceof KukeError && err.kind === ErrorKind.NotFound) return;
      if (err instanceof KukeError && err.kind === ErrorKind.FailedPrecondition) {
        throw new KukeError(ErrorKind.FailedPrecondition, `namespace ${namespace} is not empty: ${err.message}`, {
          hint: 'something outside kukeon left objects there; list them with ctr -n <namespace> and remove them',
          cause: err,
        });
      }
      throw err;
    }
  }

  private async snapshots(namespace: string): Promise<SnapshotInfo[]> {
    const batches = await this.conn.collect(this.conn.snapshots, 'list', { snapshotter: this.snapshotter, filters: [] }, `listing snapshots in ${namespace}`, { namespace });
    return batches.flatMap((b) => b.info);
  }

  /** Removes the remaining snapshots (unpacked chains, extractions), children before parents. */
  private async removeSnapshots(namespace: string): Promise<void> {
    for (let left = await this.snapshots(namespace), rounds = 0; left.length > 0; left = await this.snapshots(namespace), rounds++) {
      const parents = new Set(left.map((s) => s.parent).filter(Boolean));
      const leaves = left.filter((s) => !parents.has(s.name));
      // A chain is at most a few hundred layers deep; more rounds mean something re-creates snapshots.
      if (leaves.length === 0 || rounds > 1_000) throw new KukeError(ErrorKind.Internal, `snapshots of ${namespace} cannot be removed: ${sample(left.map((s) => s.name))}`);
      for (const s of leaves) {
        await tolerate(this.conn.unary(this.conn.snapshots, 'remove', { snapshotter: this.snapshotter, key: s.name }, `removing snapshot ${s.name} in ${namespace}`, { namespace }), ErrorKind.NotFound);
      }
    }
  }
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function sample(names: string[]): string {
  return names.length > 3 ? `${names.slice(0, 3).join(', ')}, …` : names.join(', ');
}
