/**
 * The adapter across containerd outages, against a private containerd killed with SIGKILL and started again on the
 * same directories: a running task survives with its pid, calls made meanwhile fail with Unavailable, the client
 * reconnects by itself, the exit watcher resyncs and delivers later exits.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { processStartTime } from '../../../src/runtime/containerd/runc-state.js';
import { ContainerdRuntime } from '../../../src/runtime/containerd/runtime.js';
import { useContainerdRuntime } from '../../support/containerd.js';
import { removeCgroupTree, testCgroupRoot } from '../../support/cgroup-root.js';
import { testImage } from '../../support/image.js';
import { waitFor } from '../../support/wait.js';
import { busybox, ExitLog, logContains } from './helpers.js';

const suffix = 'restart.test.kukeon.io';
const ns = `r1.${suffix}`;
const { ctrd, runtime } = useContainerdRuntime({ namespaceSuffix: suffix });
const cgroupRoot = testCgroupRoot();
const logDir = mkdtempSync(join(tmpdir(), 'kukeon-restart-'));
const base = { namespace: ns, image: testImage().ref, cgroupRoot, logDir };

beforeAll(async () => {
  await runtime().importImage(ns, testImage().path);
});

afterAll(async () => {
  try {
    for (const c of await runtime().listContainers(ns)) {
      await runtime().stopTask(ns, c.id, { signal: 'SIGKILL' });
      await runtime().deleteContainer(ns, c.id);
    }
    await runtime().deleteNamespace(ns);
  } finally {
    rmSync(logDir, { recursive: true, force: true });
    removeCgroupTree(cgroupRoot);
  }
});

describe('a containerd restart', () => {
  it('keeps the running task and its pid; the client reconnects, resyncs the watcher and gets later exits', async () => {
    const spec = busybox(base, 'survivor', ['sh', '-c', 'echo up; exec sleep 300']);
    await runtime().createContainer(spec);
    const { pid } = await runtime().startTask(ns, 'survivor');
    await logContains(spec.logPath, 'up');
    const exits = new ExitLog(runtime());
    try {
      await exits.live();
      expect(exits.resyncs).toBe(1);

      await ctrd().kill();
      const down = await runtime().getTask(ns, 'survivor').catch((e: unknown) => e);
      expect(isKukeError(down, 'Unavailable')).toBe(true);
      expect(existsSync(`/proc/${pid}`)).toBe(true);

      await ctrd().start();
      // Same adapter, same channel: it finds containerd again by itself.
      const task = await waitFor(() => runtime().getTask(ns, 'survivor'), (t) => t !== null, { timeoutMs: 10_000, what: 'the adapter to reconnect' });
      expect(task).toMatchObject({ pid, status: 'running' });
      await waitFor(() => exits.resyncs, (n) => n >= 2, { timeoutMs: 10_000, what: 'the watcher to resync' });

      await runtime().killTask(ns, 'survivor', 'SIGKILL');
      expect(await exits.exitOf('survivor')).toMatchObject({ namespace: ns, pid, exitCode: 137 });
      expect(exits.exits).toHaveLength(1);
    } finally {
      exits.close();
    }
    await runtime().deleteContainer(ns, 'survivor');
    expect(await runtime().getContainer(ns, 'survivor')).toBeNull();
  });
});

describe('containerd losing its state while runc keeps its own (containerd and shims killed, no reboot)', () => {
  /** Starts a task, then kills containerd and every shim and empties containerd's state dir. */
  async function orphan(id: string): Promise<{ pid: number; state: string }> {
    await runtime().createContainer(busybox(base, id, ['sleep', '300']));
    const { pid } = await runtime().startTask(ns, id);
    await ctrd().kill();
    await ctrd().loseState();
    await ctrd().start();
    const state = join(ctrd().runcRoot, ns, id, 'state.json');
    expect(existsSync(state)).toBe(true);
    expect(await runtime().getTask(ns, id)).toBeNull();
    return { pid, state };
  }

  it('clears the stale state of a task whose process died with it, and starts the container again', async () => {
    const { pid } = await orphan('lost');
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => processStartTime(pid), (start) => start === undefined, { timeoutMs: 5_000, what: `pid ${pid} to die` });
    const again = await runtime().startTask(ns, 'lost');
    expect(await runtime().getTask(ns, 'lost')).toMatchObject({ pid: again.pid, status: 'running' });
    await runtime().stopTask(ns, 'lost', { signal: 'SIGKILL', graceMs: 0 });
    await runtime().deleteContainer(ns, 'lost');
  });

  it('kills an init that outlived its shim before starting the container again, so nothing runs twice', async () => {
    const { pid, state } = await orphan('outlived');
    const before = processStartTime(pid);
    expect(before).toBeDefined();
    const again = await runtime().startTask(ns, 'outlived');
    expect(again.pid).not.toBe(pid);
    expect(processStartTime(pid)).not.toBe(before);
    expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({ init_process_pid: again.pid });
    await runtime().stopTask(ns, 'outlived', { signal: 'SIGKILL', graceMs: 0 });
    await runtime().deleteContainer(ns, 'outlived');
  });
});

describe('a containerd that is not running', () => {
  it('answers Unavailable, naming the socket, with a hint', async () => {
    const rt = new ContainerdRuntime({ address: join(ctrd().dir, 'no-such.sock') });
    try {
      for (const call of [() => rt.version(), () => rt.listNamespaces(), () => rt.getTask(ns, 'x'), () => rt.importImage(ns, testImage().path)]) {
        const err = await call().catch((e: unknown) => e);
        expect(isKukeError(err, 'Unavailable')).toBe(true);
        expect((err as Error).message).toContain('no-such.sock');
        expect((err as { hint?: string }).hint).toMatch(/containerd/);
      }
    } finally {
      rt.close();
    }
  });
});
