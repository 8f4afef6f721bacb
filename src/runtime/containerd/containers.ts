/**
 * containerd container records and their rootfs snapshots. A record holds the id, labels, image, runtime, the OCI
 * spec (as JSON in an Any) and the snapshot key, which is the container id. The record is created before its
 * snapshot: a prepared snapshot nothing references can be garbage-collected before the record points at it. It is
 * removed after its snapshot: the other order races the collector.
 *
 * Tasks are not this file's business: callers make sure no task runs before removing a record (containerd does not
 * check, and a record deleted under a running task orphans it).
 */
import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { ErrorKind, KukeError } from '../../errors.js';
import type { ContainerRecord, ContainerSpec, ImageInfo, Labels } from '../ports.js';
import { tolerate, type Connection } from './connection.js';
import { Options as RuncOptions } from './gen/containerd/runc/v1/options.js';
import type { Container } from './gen/containerd/services/containers/v1/containers.js';
import { buildOciSpec, type SpecOptions } from './oci-spec.js';

/** Type URL of the spec Any: containerd does not check it, but `ctr c info` and Go clients need it. */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
/** Label holding the file that receives a container's stdout and stderr (startTask reads it back). */
export const LOG_PATH_LABEL = 'kukeon.io/log-path';

/** Type URL of the runc shim's options Any (exactly this; containerd rejects a type.googleapis.com/ prefix). */
export const RUNC_OPTIONS_TYPE_URL = 'containerd.runc.v1.Options';

/** Options of {@link ContainerStore}. */
export interface ContainerStoreOptions {
  snapshotter: string;
  runtimeName: string;
  /** runc's state root for the containers created here; default runc's (/run/containerd/runc/<namespace>). */
  runcRoot?: string;
  /** Capabilities the host can grant privileged containers (undefined: all). */
  capabilities: () => readonly string[] | undefined;
}

/** Container records over one connection. */
export class ContainerStore {
  constructor(
    private readonly conn: Connection,
    private readonly options: ContainerStoreOptions,
  ) {}

  /** The raw record, or null. */
  async record(namespace: string, id: string): Promise<Container | null> {
    const res = await tolerate(this.conn.unary(this.conn.containers, 'get', { id }, `container ${id} in ${namespace}`, { namespace }), ErrorKind.NotFound);
    return res?.container ?? null;
  }

  /** The record as the port shows it, or null. */
  async get(namespace: string, id: string): Promise<ContainerRecord | null> {
    const c = await this.record(namespace, id);
    return c ? toRecord(namespace, c) : null;
  }

  /** Containers of the namespace carrying all of `labels`. A namespace that does not exist has none. */
  async list(namespace: string, labels: Labels = {}): Promise<ContainerRecord[]> {
    const clauses = Object.entries(labels).map(([k, v]) => `labels.${quote(k)}==${quote(v)}`);
    const filters = clauses.length ? [clauses.join(',')] : [];
    const res = await tolerate(this.conn.unary(this.conn.containers, 'list', { filters }, `listing containers in ${namespace}`, { namespace }), ErrorKind.NotFound);
    return (res?.containers ?? []).map((c) => toRecord(namespace, c));
  }

  /**
   * Creates the record and its rootfs snapshot (parent: the image's chain), or refreshes the spec and labels of an
   * existing record of the same image. `created` is false when the record existed. `specOptions` carry what the
   * runtime resolved for the spec builder (the user's ids, host paths to mask).
   */
  async create(spec: ContainerSpec, image: ImageInfo, specOptions: Omit<SpecOptions, 'available'> = {}): Promise<{ created: boolean }> {
    const { namespace, id } = spec;
    if (!isAbsolute(spec.logPath)) throw new KukeError(ErrorKind.InvalidArgument, `container ${id}: log path ${spec.logPath} is not absolute`);
    const oci = buildOciSpec(spec, image.config, { ...specOptions, available: this.options.capabilities() });
    const container: Container = {
      id,
      labels: { ...spec.labels, [LOG_PATH_LABEL]: spec.logPath },
      image: spec.image,
      runtime: {
        name: this.options.runtimeName,
        ...(this.options.runcRoot ? { options: { typeUrl: RUNC_OPTIONS_TYPE_URL, value: Buffer.from(RuncOptions.encode({ root: this.options.runcRoot }).finish()) } } : {}),
      },
      spec: { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(oci)) },
      snapshotter: this.options.snapshotter,
      snapshotKey: id,
      extensions: {},
    };
    // The shim creates the log file but not reliably its directory when the run path is fresh.
    mkdirSync(dirname(spec.logPath), { recursive: true });
    const existing = await this.record(namespace, id);
    if (existing && existing.image !== spec.image) {
      throw new KukeError(ErrorKind.FailedPrecondition, `container ${id} in ${namespace} runs image ${existing.image}, not ${spec.image}`, { hint: 'delete the container first' });
    }
    let created = false;
    if (!existing) {
      const res = await tolerate(this.conn.unary(this.conn.containers, 'create', { container }, `creating container ${id} in ${namespace}`, { namespace }), ErrorKind.AlreadyExists);
      created = res !== undefined;
    } else if (!sameSpec(existing, container)) {
      // Same id and image: keep the record and its rootfs, refresh what may change between starts (the network
      // namespace to join, the template's env and command) and the labels.
      await this.conn.unary(this.conn.containers, 'update', { container, updateMask: ['spec', 'labels'] }, `updating container ${id} in ${namespace}`, { namespace });
    }
    await this.ensureSnapshot(namespace, existing?.snapshotKey || id, image.chainId);
    return { created };
  }

  /** Prepares the rootfs snapshot on the image's chain. Idempotent. */
  private async ensureSnapshot(namespace: string, key: string, parent: string): Promise<void> {
    await tolerate(
      this.conn.unary(this.conn.snapshots, 'prepare', { snapshotter: this.options.snapshotter, key, parent, labels: {} }, `preparing the rootfs of ${key} in ${namespace}`, { namespace }),
      ErrorKind.AlreadyExists,
    );
  }

  /** The mounts of a container's rootfs, for Tasks.Create. */
  async rootfs(namespace: string, container: Container) {
    const key = container.snapshotKey || container.id;
    try {
      const { mounts } = await this.conn.unary(this.conn.snapshots, 'mounts', { snapshotter: container.snapshotter || this.options.snapshotter, key }, `rootfs of ${container.id} in ${namespace}`, { namespace });
      return mounts;
    } catch (err) {
      if (err instanceof KukeError && err.kind === ErrorKind.NotFound) {
        throw new KukeError(ErrorKind.NotFound, `the rootfs snapshot of container ${container.id} in ${namespace} is missing`, { hint: 'create the container again (it prepares the snapshot)', cause: err });
      }
      throw err;
    }
  }

  /** Removes the snapshot, then the record. Missing → ok. The caller has removed the task. */
  async remove(namespace: string, id: string): Promise<void> {
    const existing = await this.record(namespace, id);
    const key = existing?.snapshotKey || id;
    const snapshotter = existing?.snapshotter || this.options.snapshotter;
    await tolerate(this.conn.unary(this.conn.snapshots, 'remove', { snapshotter, key }, `removing the rootfs of ${id} in ${namespace}`, { namespace }), ErrorKind.NotFound);
    await tolerate(this.conn.unary(this.conn.containers, 'delete', { id }, `deleting container ${id} in ${namespace}`, { namespace }), ErrorKind.NotFound);
  }
}

/** The log path a record was created with. */
export function logPathOf(container: Container): string {
  const path = container.labels[LOG_PATH_LABEL];
  if (!path) throw new KukeError(ErrorKind.FailedPrecondition, `container ${container.id} was not created by kukeon (no ${LOG_PATH_LABEL} label)`);
  return path;
}

function toRecord(namespace: string, c: Container): ContainerRecord {
  return { namespace, id: c.id, image: c.image, labels: c.labels };
}

function sameSpec(a: Container, b: Container): boolean {
  const bytes = (c: Container) => Buffer.from(c.spec?.value ?? new Uint8Array());
  const labels = (c: Container) => JSON.stringify(Object.entries(c.labels).sort(([x], [y]) => x.localeCompare(y)));
  return bytes(a).equals(bytes(b)) && labels(a) === labels(b);
}

/** A filter value in double quotes (containerd's filter syntax; labels may hold `/` and `.`). */
function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
