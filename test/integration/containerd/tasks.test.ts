/**
 * Containers and tasks through the containerd adapter, against a private containerd and the real runc: output in
 * the log file, cgroup placement (v1/hybrid here), network namespaces (new, joined by path), exit codes through the
 * watcher and getTask, stop with the SIGKILL fallback, idempotency, typed refusals, and a teardown that leaves nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { cgroupDirs, removeCgroupTree } from '../../support/cgroup-root.js';
import { testImage } from '../../support/image.js';
import { busybox, ExitLog, leftovers, logContains, netnsOf, useAdapterNamespace } from './helpers.js';

const fixture = useAdapterNamespace('tasks');
const { ns, ctrd, runtime, cgroupRoot, logDir, base } = fixture;
let exits: ExitLog;

beforeAll(() => {
  exits = fixture.exits;
});

/** Stops and deletes a container (the safe order: task first). */
async function teardown(id: string): Promise<void> {
  await runtime().stopTask(ns, id, { signal: 'SIGKILL' });
  await runtime().deleteTask(ns, id);
  await runtime().deleteContainer(ns, id);
}

describe('a container in a new network namespace', () => {
  let rootPid = 0;

  it('runs in its own cgroup and network namespace, with its output in the log file', async () => {
    const spec = busybox(base, 'web', ['sh', '-c', 'echo "hello from $(hostname)"; echo pong | nc -l -p 8080; exec sleep 300']);
    expect(await runtime().createContainer(spec)).toEqual({ created: true });
    const { pid } = await runtime().startTask(ns, 'web');
    rootPid = pid;
    expect(pid).toBeGreaterThan(0);
    await logContains(spec.logPath, 'hello from cell');
    // Every hierarchy (the v1 controllers, and cgroup2's mirror on hybrid hosts) places the task at its cgroupsPath.
    const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.split(':').slice(2).join(':')).toBe(spec.cgroupsPath);
    for (const dir of cgroupDirs(spec.cgroupsPath)) expect(readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(pid));
    expect(netnsOf(pid)).not.toBe(netnsOf('self'));
    expect(await runtime().getTask(ns, 'web')).toMatchObject({ id: 'web', pid, status: 'running' });
    // runc keeps its state under the private instance, not in the host's /run/containerd/runc.
    expect(existsSync(join(ctrd().runcRoot, ns, 'web', 'state.json'))).toBe(true);
    expect(existsSync(join('/run/containerd/runc', ns))).toBe(false);
  });

  it('lets a second container join its network namespace by path and reach it on 127.0.0.1', async () => {
    const member = busybox(base, 'client', ['sh', '-c', 'echo "member of $(hostname)"; for i in $(seq 1 100); do nc 127.0.0.1 8080 && exit 0; sleep 0.05; done; exit 1'], {
      network: { mode: 'join', path: `/proc/${rootPid}/ns/net` },
      hostname: 'ignored',
    });
    await runtime().createContainer(member);
    const { pid } = await runtime().startTask(ns, 'client');
    expect(netnsOf(pid)).toBe(netnsOf(rootPid));
    const exit = await exits.exitOf('client');
    expect(exit.exitCode).toBe(0);
    const log = readFileSync(member.logPath, 'utf8');
    expect(log).toContain('pong');
    // It joined the root's UTS namespace too: one hostname per cell.
    expect(log).toContain('member of cell');
    await teardown('client');
  });

  it('refuses to delete a container whose task runs, and a namespace that still holds it (FailedPrecondition)', async () => {
    const running = await runtime().deleteContainer(ns, 'web').catch((e: unknown) => e);
    expect(isKukeError(running, 'FailedPrecondition')).toBe(true);
    expect((await runtime().getTask(ns, 'web'))?.status).toBe('running');
    const notEmpty = await runtime().deleteNamespace(ns).catch((e: unknown) => e);
    expect(isKukeError(notEmpty, 'FailedPrecondition')).toBe(true);
    expect((notEmpty as Error).message).toContain('web');
    expect((await runtime().listNamespaces()).map((n) => n.name)).toContain(ns);
  });

  it('reports a SIGKILL as exit code 137, through the exit watcher and getTask', async () => {
    await runtime().killTask(ns, 'web', 'SIGKILL');
    expect((await exits.exitOf('web')).exitCode).toBe(137);
    expect(await runtime().getTask(ns, 'web')).toMatchObject({ status: 'stopped', exitCode: 137, pid: rootPid });
    expect((await runtime().deleteTask(ns, 'web'))?.exitCode).toBe(137);
    await runtime().deleteContainer(ns, 'web');
    // runc removes the task's leaf cgroup; the parents are the caller's to remove.
    expect(cgroupDirs(`${cgroupRoot}/cell/web`)).toEqual([]);
  });
});

describe('exits and stops', () => {
  it('reports the real exit code of a container that exits by itself', async () => {
    await runtime().createContainer(busybox(base, 'seven', ['sh', '-c', 'exit 7']));
    await runtime().startTask(ns, 'seven');
    expect((await exits.exitOf('seven')).exitCode).toBe(7);
    expect(await runtime().getTask(ns, 'seven')).toMatchObject({ status: 'stopped', exitCode: 7 });
    expect((await runtime().stopTask(ns, 'seven'))?.exitCode).toBe(7);
    await teardown('seven');
  });

  it('falls back to SIGKILL within the grace period when PID 1 ignores SIGTERM', async () => {
    await runtime().createContainer(busybox(base, 'sleeper', ['sleep', '300']));
    await runtime().startTask(ns, 'sleeper');
    const started = Date.now();
    const exit = await runtime().stopTask(ns, 'sleeper', { graceMs: 400 });
    const took = Date.now() - started;
    expect(exit?.exitCode).toBe(137);
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(3_000);
    await teardown('sleeper');
  });

  it('stops a task that handles SIGTERM without waiting for the grace period', async () => {
    await runtime().createContainer(busybox(base, 'polite', ['sh', '-c', 'trap "exit 42" TERM; echo ready; while true; do sleep 0.05; done']));
    await runtime().startTask(ns, 'polite');
    await logContains(join(logDir, 'polite.log'), 'ready');
    const started = Date.now();
    const exit = await runtime().stopTask(ns, 'polite', { graceMs: 10_000 });
    expect(exit?.exitCode).toBe(42);
    expect(Date.now() - started).toBeLessThan(5_000);
    await teardown('polite');
  });

  it('fails to start a command that does not exist with a typed error, and leaves no task behind', async () => {
    await runtime().createContainer(busybox(base, 'missing', ['/bin/no-such-command']));
    for (let attempt = 0; attempt < 2; attempt++) {
      const err = await runtime().startTask(ns, 'missing').catch((e: unknown) => e);
      expect(isKukeError(err, 'FailedPrecondition')).toBe(true);
      expect(await runtime().getTask(ns, 'missing')).toBeNull();
    }
    await teardown('missing');
  });
});

describe('the exit watcher', () => {
  it('ignores exits in namespaces without the kukeon suffix', async () => {
    const foreign = 'someone-else';
    await runtime().importImage(foreign, testImage().path);
    try {
      await runtime().createContainer({ ...busybox(base, 'outsider', ['true']), namespace: foreign });
      await runtime().startTask(foreign, 'outsider');
      expect((await runtime().waitTask(foreign, 'outsider')).exitCode).toBe(0);
      // A marker exit in our namespace, after the foreign one: once it is seen, the foreign one would have been too.
      await runtime().createContainer(busybox(base, 'marker', ['true']));
      await runtime().startTask(ns, 'marker');
      await exits.exitOf('marker');
      expect(exits.exits.map((e) => e.id)).not.toContain('outsider');
      await teardown('marker');
    } finally {
      await runtime().stopTask(foreign, 'outsider', { signal: 'SIGKILL' });
      await runtime().deleteContainer(foreign, 'outsider');
      await runtime().deleteNamespace(foreign);
    }
  });
});

describe('idempotency', () => {
  it('creates a task whose process waits, its network namespace already there, until the start (idempotently)', async () => {
    const spec = busybox(base, 'waits', ['sh', '-c', 'echo started; exec sleep 300']);
    await runtime().createContainer(spec);
    const created = await runtime().createTask(ns, 'waits');
    expect(created).toMatchObject({ status: 'created' });
    expect(await runtime().createTask(ns, 'waits')).toEqual(created);
    expect(await runtime().getTask(ns, 'waits')).toMatchObject({ status: 'created', pid: created.pid });
    // The process exists with its own netns (what CNI attaches) and has not run the command yet.
    expect(netnsOf(created.pid)).not.toBe(netnsOf('self'));
    expect(existsSync(spec.logPath) ? readFileSync(spec.logPath, 'utf8') : '').not.toContain('started');
    expect(await runtime().startTask(ns, 'waits')).toEqual({ pid: created.pid });
    expect(await runtime().createTask(ns, 'waits')).toEqual({ pid: created.pid, status: 'running' });
    await logContains(spec.logPath, 'started');
    await teardown('waits');
  });

  it('removes a created task that will not start: stop kills its waiting process, delete removes it', async () => {
    await runtime().createContainer(busybox(base, 'never', ['sleep', '300']));
    const { pid } = await runtime().createTask(ns, 'never');
    expect(await runtime().stopTask(ns, 'never')).toMatchObject({ exitCode: 137 });
    await runtime().deleteTask(ns, 'never');
    expect(await runtime().getTask(ns, 'never')).toBeNull();
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    await runtime().deleteContainer(ns, 'never');
  });

  it('keeps a container on a second create, returns the same pid on a second start, and accepts repeated stops and deletes', async () => {
    const spec = busybox(base, 'twice', ['sleep', '300']);
    expect(await runtime().createContainer(spec)).toEqual({ created: true });
    expect(await runtime().createContainer(spec)).toEqual({ created: false });
    const first = await runtime().startTask(ns, 'twice');
    expect(await runtime().startTask(ns, 'twice')).toEqual(first);
    // A changed spec (env) refreshes the record without touching the running task.
    expect(await runtime().createContainer({ ...spec, env: ['CHANGED=1'] })).toEqual({ created: false });
    expect((await runtime().getTask(ns, 'twice'))?.pid).toBe(first.pid);
    const exit = await runtime().stopTask(ns, 'twice', { signal: 'SIGKILL' });
    expect(exit?.exitCode).toBe(137);
    expect(await runtime().stopTask(ns, 'twice')).toMatchObject({ exitCode: 137 });
    // Starting a stopped task replaces it with a new one.
    const second = await runtime().startTask(ns, 'twice');
    expect(second.pid).not.toBe(first.pid);
    await runtime().stopTask(ns, 'twice', { signal: 'SIGKILL' });
    expect(await runtime().deleteTask(ns, 'twice')).toMatchObject({ exitCode: 137 });
    expect(await runtime().deleteTask(ns, 'twice')).toBeNull();
    await runtime().killTask(ns, 'twice', 'SIGKILL');
    expect(await runtime().stopTask(ns, 'twice')).toBeNull();
    await runtime().deleteContainer(ns, 'twice');
    await runtime().deleteContainer(ns, 'twice');
    expect(await runtime().getContainer(ns, 'twice')).toBeNull();
  });

  it('finds containers by label', async () => {
    await runtime().createContainer(busybox(base, 'labelled', ['true'], { labels: { 'kukeon.io/cell': 'one' } }));
    expect((await runtime().listContainers(ns, { 'kukeon.io/cell': 'one' })).map((c) => c.id)).toEqual(['labelled']);
    expect(await runtime().listContainers(ns, { 'kukeon.io/cell': 'two' })).toEqual([]);
    await runtime().deleteContainer(ns, 'labelled');
  });
});

describe('teardown', () => {
  it('leaves nothing of ours: no container, task, snapshot, lease or cgroup, and the namespace goes', async () => {
    const state = await leftovers(runtime(), ns);
    expect(state.containers).toEqual([]);
    expect(state.tasks).toEqual([]);
    expect(state.leases).toEqual([]);
    // Only the image's unpacked chain remains, and it goes with the namespace.
    const image = await runtime().resolveImage(ns, base.image);
    expect(state.snapshots).toEqual([image.chainId]);
    await runtime().deleteNamespace(ns);
    expect((await runtime().listNamespaces()).map((n) => n.name)).not.toContain(ns);
    // runc removed every task's leaf; the cell parent is ours, and nothing runs in it.
    removeCgroupTree(cgroupRoot);
    expect(cgroupDirs(cgroupRoot)).toEqual([]);
    expect(existsSync(join(logDir, 'web.log'))).toBe(true);
  });
});
