/**
 * Crash-safe restarts of the real daemon (in its cell), ported from containerd's TestContainerdRestart: cells in
 * every state, the daemon restarted by SIGTERM and by SIGKILL; afterwards the same views, the same task pids and
 * addresses, the network namespaces kept, the history complete. And an exit that happens while the daemon is down
 * shows up with its real exit code.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupDir } from '../support/cgroups.js';
import { cellManifest, ipamDir, startE2eHost, until, type E2eHost } from '../support/e2e.js';
import { killAll } from '../../tools/harness/containerd.js';
import { statusesOf } from '../support/documents.js';

let host: E2eHost;
const SYS = ['--realm', 'kukeon-system', '--space', 'kukeon', '--stack', 'kukeon'];

interface CellJson {
  name: string;
  state: string;
  rootPid: number | null;
  address: string | null;
  containers: { name: string; state: string; pid: number | null; exitCode: number | null }[];
}

async function cells(): Promise<CellJson[]> {
  const r = await host.kuke(['get', 'cells', '-o', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return statusesOf<CellJson>(r.stdout);
}

async function history(cell: string): Promise<{ seq: number; hash: string }[]> {
  return JSON.parse((await host.kuke(['history', 'cell', cell, '-o', 'json'])).stdout) as { seq: number; hash: string }[];
}


const manifest = (name: string, root: string, side?: string) =>
  cellManifest(name, [{ id: 'main', args: ['sh', '-c', root] }, ...(side ? [{ id: 'side', args: ['sh', '-c', side] }] : [])]);

/** Kills the daemon with a signal and starts it again (as an operator would after a crash). */
async function restartDaemon(signal: NodeJS.Signals): Promise<void> {
  process.kill(host.daemonPid(), signal);
  await until(async () => (await host.kuke(['version'])).stdout, (out) => !out.includes('Daemon:'));
  const start = await host.local(['daemon', 'start']);
  if (start.code !== 0) throw new Error(start.stderr);
}

beforeAll(async () => {
  host = await startE2eHost({ subnet: '10.255.0.0/18', tag: 'r' });
  const init = await host.local(['init']);
  if (init.code !== 0) throw new Error(init.stderr);
  await host.kuke(['image', 'load', host.testImage.path]);
  // Ready with a running root and a sidecar that has exited; Stopped; Exited by itself; Pending (never started).
  for (const [name, root, side] of [
    ['ready', 'exec sleep 3600', 'exit 4'],
    ['stopped', 'exec sleep 3600', 'exec sleep 3600'],
    ['exited', 'sleep 0.2; exit 3', undefined],
  ] as const) {
    const r = await host.kuke(['apply', '-f', '-'], { input: manifest(name, root, side) });
    if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  }
  await host.kuke(['stop', 'cell', 'stopped', '--timeout', '1s']);
  await host.kuke(['create', 'cell', 'pending', '--image', 'kukeon.local/busybox:test']);
  await until(cells, (cs) => cs.find((c) => c.name === 'exited')?.state === 'Exited' && cs.find((c) => c.name === 'ready')?.containers[1]?.state === 'Exited');
}, 180_000);
afterAll(async () => {
  await host?.cleanup();
}, 180_000);

describe('daemon restarts', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`keeps every cell as it was across a ${signal} restart: views, pids, addresses, netns, history`, async () => {
      const before = await cells();
      expect(before.map((c) => [c.name, c.state])).toEqual([['exited', 'Exited'], ['pending', 'Pending'], ['ready', 'Ready'], ['stopped', 'Stopped']]);
      const ready = before.find((c) => c.name === 'ready')!;
      const netns = readlinkSync(`/proc/${ready.rootPid}/ns/net`);
      const histories = await Promise.all(before.map((c) => history(c.name)));
      const daemonPid = host.daemonPid();
      await restartDaemon(signal);
      expect(host.daemonPid()).not.toBe(daemonPid);
      const after = await cells();
      expect(after).toEqual(before);
      expect(readlinkSync(`/proc/${ready.rootPid}/ns/net`)).toBe(netns);
      for (const [i, c] of before.entries()) {
        const now = await history(c.name);
        expect(now.slice(0, histories[i]!.length)).toEqual(histories[i]);
      }
      const daemonHistory = JSON.parse((await host.kuke(['history', 'cell', 'kukeond', ...SYS, '-o', 'json'])).stdout) as { type: string; data: { uncleanShutdown?: boolean } }[];
      const starts = daemonHistory.filter((e) => e.type === 'DaemonStarted');
      expect(starts.at(-1)!.data.uncleanShutdown).toBe(signal === 'SIGKILL');
      if (signal === 'SIGTERM') expect(daemonHistory.some((e) => e.type === 'DaemonStopped')).toBe(true);
    });
  }

  it('records an exit that happened while the daemon was down, with its real code', async () => {
    const r = await host.kuke(['apply', '-f', '-'], { input: manifest('outage', 'trap "exit 7" TERM; sleep 3600 & wait') });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const pid = (await cells()).find((c) => c.name === 'outage')!.rootPid!;
    const stop = await host.local(['daemon', 'stop', '--timeout', '5s']);
    expect(stop.code, stop.stderr).toBe(0);
    process.kill(pid, 'SIGTERM'); // the container exits with 7 while nobody listens
    await until(async () => existsSync(`/proc/${pid}`), (alive) => !alive, 5_000);
    const start = await host.local(['daemon', 'start']);
    expect(start.code, start.stderr).toBe(0);
    const cell = await until(async () => (await cells()).find((c) => c.name === 'outage')!, (c) => c.state === 'Exited');
    expect(cell.containers[0]).toMatchObject({ state: 'Exited', exitCode: 7 });
    const events = JSON.parse((await host.kuke(['history', 'cell', 'outage', '-o', 'json'])).stdout) as { type: string; data: { code?: number }; actor: { type: string } }[];
    const exit = events.find((e) => e.type === 'TaskExited')!;
    expect(exit).toMatchObject({ data: { code: 7 }, actor: { type: 'reconcile' } });
  });

  it('recovers from a reboot-like wipe of tasks, shims and cgroups: cells Exited, cgroups healed, addresses released', async () => {
    // A "reboot": containerd and every process of this host die, tmpfs state (sockets, containerd's state dir,
    // cgroups) is gone; the run path (event log, IPAM reservations) persists.
    await host.ctrd.kill();
    await host.ctrd.loseState();
    const pids = execFileSync('sh', ['-c', `cat $(find ${cgroupDir(host.cgroupRoot)} -name cgroup.procs) 2>/dev/null || true`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
    killAll(pids);
    await until(async () => pids.filter((p) => existsSync(`/proc/${p}`)).length, (n) => n === 0, 10_000);
    // runc keeps its state apart from containerd's (here the private runc root; on a host /run/containerd/runc). A
    // reboot would empty it too; keeping it is the harder case: runc refuses the ids until the daemon clears it.
    expect(readdirSync(join(host.ctrd.runcRoot, `default.${host.suffix}`)).length).toBeGreaterThan(0);
    execFileSync('sh', ['-c', `for h in /sys/fs/cgroup/*/; do [ -d "$h${host.cgroupRoot}" ] && find "$h${host.cgroupRoot}" -depth -type d -exec rmdir {} \\; ; done; true`]);
    rmSync(join(host.dir, 'run'), { recursive: true, force: true });
    await host.ctrd.start();

    const start = await host.local(['daemon', 'start']);
    expect(start.code, start.stderr).toBe(0);
    const after = await until(cells, (cs) => cs.every((c) => !['Creating', 'Stopping', 'Deleting'].includes(c.state)));
    const ready = after.find((c) => c.name === 'ready')!;
    expect(ready.state).toBe('Exited');
    expect(ready.containers.every((k) => k.state === 'Exited' || k.state === 'Stopped')).toBe(true);
    expect(existsSync(cgroupDir(join(host.cgroupRoot, 'default/default/default')))).toBe(true);
    const ipam = ipamDir(host);
    expect(existsSync(ipam) ? readdirSync(ipam).filter((f) => /^\d/.test(f)) : []).toEqual([]);
    const restarted = await host.kuke(['start', 'cell', 'ready']);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect((await cells()).find((c) => c.name === 'ready')!.state).toBe('Ready');
    const task = JSON.parse(readFileSync(join(host.ctrd.runcRoot, `default.${host.suffix}`, 'default_default_ready_root', 'state.json'), 'utf8')) as { init_process_pid: number };
    expect(task.init_process_pid).toBe((await cells()).find((c) => c.name === 'ready')!.rootPid);
  });
});
