/**
 * Shared pieces of the containerd adapter's integration tests: container specs on the test image, an exit log fed by
 * the adapter's watcher, and a look at what is left in a namespace.
 */
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { ContainerdRuntime } from '../../../src/runtime/containerd/runtime.js';
import type { ContainerSpec, Subscription, TaskExit } from '../../../src/runtime/ports.js';
import { removeCgroupTree, testCgroupRoot } from '../../support/cgroup-root.js';
import { useContainerdRuntime } from '../../support/containerd.js';
import { testImage } from '../../support/image.js';
import { waitFor } from '../../support/wait.js';

/** A ContainerSpec on the test image, with a cgroup under `cgroupRoot` and a log under `logDir`. */
export function busybox(
  base: { namespace: string; image: string; cgroupRoot: string; logDir: string },
  id: string,
  args: string[],
  extra: Partial<ContainerSpec> = {},
): ContainerSpec {
  return {
    namespace: base.namespace,
    id,
    image: base.image,
    labels: { 'kukeon.io/test': 'containerd-adapter' },
    args,
    cgroupsPath: `${base.cgroupRoot}/cell/${id}`,
    network: { mode: 'new' },
    hostname: 'cell',
    logPath: join(base.logDir, `${id}.log`),
    ...extra,
  };
}

/** Exits and resyncs seen by the adapter's watcher. */
export class ExitLog {
  readonly exits: TaskExit[] = [];
  readonly ooms: { namespace: string; id: string }[] = [];
  resyncs = 0;
  private readonly subscription: Subscription;

  constructor(rt: ContainerdRuntime) {
    this.subscription = rt.watchExits({
      onExit: (e) => this.exits.push(e),
      onResync: () => this.resyncs++,
      onOom: (t) => this.ooms.push(t),
    });
  }

  /** Resolves when the watcher is live (its first resync). */
  live(timeoutMs = 5_000): Promise<number> {
    return waitFor(() => this.resyncs, (n) => n > 0, { timeoutMs, what: 'the exit watcher to go live' });
  }

  /** The exit of `id`, waiting for it. */
  exitOf(id: string, timeoutMs = 10_000): Promise<TaskExit> {
    return waitFor(() => this.exits.find((e) => e.id === id), (e) => e !== undefined, { timeoutMs, what: `the exit of ${id}` }) as Promise<TaskExit>;
  }

  close(): void {
    this.subscription.close();
  }
}

/** Waits until the log file contains `text`; returns the whole log. */
export function logContains(path: string, text: string, timeoutMs = 10_000): Promise<string> {
  return waitFor(() => readFileSync(path, 'utf8'), (log) => log.includes(text), { timeoutMs, what: `"${text}" in ${path}` });
}

/** The network namespace of a process (`net:[<inode>]`). */
export function netnsOf(pid: number | 'self'): string {
  return readlinkSync(`/proc/${pid}/ns/net`);
}

/** What a namespace still holds: container ids, task ids, snapshot keys, lease ids, blob digests. */
export async function leftovers(rt: ContainerdRuntime, namespace: string): Promise<{ containers: string[]; tasks: string[]; snapshots: string[]; leases: string[]; blobs: string[] }> {
  const { conn } = rt;
  const scope = { namespace };
  const snapshots = await conn.collect(conn.snapshots, 'list', { snapshotter: 'overlayfs', filters: [] }, 'listing snapshots', scope);
  const blobs = await conn.collect(conn.content, 'list', { filters: [] }, 'listing blobs', scope);
  return {
    containers: (await rt.listContainers(namespace)).map((c) => c.id),
    tasks: (await rt.listTasks(namespace)).map((t) => t.id),
    snapshots: snapshots.flatMap((b) => b.info.map((i) => i.name)),
    leases: (await conn.unary(conn.leases, 'list', { filters: [] }, 'listing leases', scope)).leases.map((l) => l.id),
    blobs: blobs.flatMap((b) => b.info.map((i) => i.digest)),
  };
}

/**
 * One namespace of a test file on a private containerd (`r1.<name>.test.kukeon.io`): the images imported and an exit
 * log live before the tests (`exits` is set then); afterwards every container left is stopped and deleted, and the
 * log directory and cgroups removed.
 */
export function useAdapterNamespace(name: string, images: () => { path: string }[] = () => [testImage()]) {
  const suffix = `${name}.test.kukeon.io`;
  const ns = `r1.${suffix}`;
  const { ctrd, runtime } = useContainerdRuntime({ namespaceSuffix: suffix });
  const cgroupRoot = testCgroupRoot();
  const logDir = mkdtempSync(join(tmpdir(), `kukeon-${name}-`));
  const fixture = { ns, ctrd, runtime, cgroupRoot, logDir, base: { namespace: ns, image: testImage().ref, cgroupRoot, logDir }, exits: undefined as unknown as ExitLog };
  beforeAll(async () => {
    for (const image of images()) await runtime().importImage(ns, image.path);
    fixture.exits = new ExitLog(runtime());
    await fixture.exits.live();
  });
  afterAll(async () => {
    fixture.exits?.close();
    try {
      // Whatever a failed test left: stop, delete, then the namespace.
      for (const c of await runtime().listContainers(ns)) {
        await runtime().stopTask(ns, c.id, { signal: 'SIGKILL' });
        await runtime().deleteContainer(ns, c.id);
      }
    } finally {
      rmSync(logDir, { recursive: true, force: true });
      removeCgroupTree(cgroupRoot);
    }
  });
  return fixture;
}
