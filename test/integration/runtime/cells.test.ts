/**
 * Cells on the real runtime: the engine with the containerd, cgroups and CNI adapters, against a private
 * containerd, real runc and real CNI plugins, in a test-only cgroup root, namespace suffix and pod subnet.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerTemplate } from '../../../events/specs.js';
import { runLayout } from '../../../src/engine/config.js';
import { containerLogPath } from '../../../src/engine/container-spec.js';
import { isKukeError } from '../../../src/errors.js';
import { cgroupOf } from '../../support/cgroups.js';
import { cellOf, imageContainer } from '../../support/cell-templates.js';
import { startHost, type TestHost } from '../../support/host.js';

const run = promisify(execFile);
const actor = { actor: { type: 'user' as const, uid: 0 } };
let host: TestHost;

const container = (name: string, args: string[], extra: Partial<ContainerTemplate> = {}) => imageContainer(host.image, name, args, extra);
const template = cellOf;
const ops = () => host.opened.operations;
const realmNs = (realm: string) => `${realm}.${host.settings.engine.namespaceSuffix}`;

async function inNetns(pid: number, ...cmd: string[]): Promise<string> {
  return (await run('nsenter', [`--net=/proc/${pid}/ns/net`, ...cmd], { timeout: 10_000 })).stdout;
}

async function until<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  host = await startHost({ subnet: '10.251.0.0/16' });
  for (const [realm, spaces] of [['r1', ['s1', 's2']]] as const) {
    await ops().createRealm({ name: realm }, actor);
    await host.importImage(realm);
    for (const space of spaces) {
      await ops().createSpace({ realm, space }, actor);
      await ops().createStack({ realm, space, stack: 't' }, actor);
    }
  }
}, 120_000);

afterAll(async () => {
  await host?.cleanup();
}, 120_000);

describe('cells on the real runtime', () => {
  it('runs a cell: its output in the log file, its pid in the cell cgroup, an address from the space subnet on eth0', async () => {
    const ref = { realm: 'r1', space: 's1', stack: 't', cell: 'hello' };
    const { view } = await ops().createCell({ ...ref, template: template(container('main', ['sh', '-c', 'echo hello from kukeon; exec sleep 300'])), start: true }, actor);
    expect(view.state).toBe('Ready');
    const space = ops().query({ kind: 'space', realm: 'r1', name: 's1' })[0] as { network: { subnet: string; bridge: string } };
    expect(view.address).toMatch(new RegExp(`^${space.network.subnet.split('.').slice(0, 3).join('\\.')}\\.\\d+/24$`));
    const root = view.containers[0]!;
    expect(root).toMatchObject({ name: 'hello_root', state: 'Running', containerdId: 's1_t_hello_root' });
    const logPath = containerLogPath(host.opened.engine.config, { realm: 'r1', space: 's1', stack: 't', cell: 'hello', name: 'hello_root', root: true, namespace: realmNs('r1'), containerdId: root.containerdId });
    expect(await until(() => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''), (t) => t.includes('hello'))).toContain('hello from kukeon');
    expect(cgroupOf(root.pid!)).toBe(`${host.settings.engine.cgroupRoot}/r1/s1/t/hello/s1_t_hello_root`);
    expect(await inNetns(root.pid!, 'ip', '-4', 'addr', 'show', 'eth0')).toContain(view.address!);
    expect(readdirSync('/sys/class/net')).toContain(space.network.bridge);
  });

  it('shares the network namespace between the containers of a cell (127.0.0.1)', async () => {
    const ref = { realm: 'r1', space: 's1', stack: 't', cell: 'pair' };
    const server = container('server', ['sh', '-c', 'while true; do echo pong | nc -l -p 8080; done']);
    const client = container('client', ['sh', '-c', 'sleep 0.5; nc 127.0.0.1 8080 </dev/null > /tmp/answer; cat /tmp/answer; exec sleep 300']);
    const { view } = await ops().createCell({ ...ref, template: template(server, client), start: true }, actor);
    expect(view.containers.map((c) => c.state)).toEqual(['Running', 'Running']);
    const [rootC, clientC] = view.containers;
    const netns = (pid: number) => run('readlink', [`/proc/${pid}/ns/net`]).then((r) => r.stdout.trim());
    expect(await netns(clientC!.pid!)).toBe(await netns(rootC!.pid!));
    const logPath = containerLogPath(host.opened.engine.config, { realm: 'r1', space: 's1', stack: 't', cell: 'pair', name: 'client', root: false, namespace: realmNs('r1'), containerdId: clientC!.containerdId });
    expect(await until(() => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''), (t) => t.includes('pong'))).toContain('pong');
  });

  it('lets two cells of one space reach each other by address, and gives another space its own subnet and bridge', async () => {
    const a = await ops().createCell({ realm: 'r1', space: 's1', stack: 't', cell: 'web', template: template(container('main', ['sh', '-c', 'while true; do echo from-web | nc -l -p 80; done'])), start: true }, actor);
    const b = await ops().createCell({ realm: 'r1', space: 's1', stack: 't', cell: 'probe', template: template(container('main', ['sleep', '300'])), start: true }, actor);
    const reply = await inNetns(b.view.rootPid!, 'busybox', 'nc', '-w', '3', a.view.address!.split('/')[0]!, '80');
    expect(reply.trim()).toBe('from-web');
    const other = await ops().createCell({ realm: 'r1', space: 's2', stack: 't', cell: 'away', template: template(container('main', ['sleep', '300'])), start: true }, actor);
    const s1 = ops().query({ kind: 'space', realm: 'r1', name: 's1' })[0] as { network: { subnet: string; bridge: string } };
    const s2 = ops().query({ kind: 'space', realm: 'r1', name: 's2' })[0] as { network: { subnet: string; bridge: string } };
    expect(s2.network.subnet).not.toBe(s1.network.subnet);
    expect(s2.network.bridge).not.toBe(s1.network.bridge);
    expect(other.view.address!.startsWith(s2.network.subnet.split('.').slice(0, 3).join('.'))).toBe(true);
  });

  it('observes a kill with its exit code, and an exit by itself with its real code', async () => {
    const killed = { realm: 'r1', space: 's1', stack: 't', cell: 'victim' };
    await ops().createCell({ ...killed, template: template(container('main', ['sleep', '300'])), start: true }, actor);
    const stopped = await ops().stopCell(killed, actor, { mode: 'kill' });
    expect(stopped.state).toBe('Stopped');
    expect(stopped.containers[0]).toMatchObject({ state: 'Stopped', exitCode: 137, exitSignal: 'SIGKILL' });

    const quitter = { realm: 'r1', space: 's1', stack: 't', cell: 'quitter' };
    await ops().createCell({ ...quitter, template: template(container('main', ['sh', '-c', 'sleep 0.5; exit 7'])), start: true }, actor);
    const view = await until(() => ops().getCell(quitter), (v) => v.state === 'Exited');
    expect(view.state).toBe('Exited');
    expect(view.containers[0]).toMatchObject({ state: 'Exited', exitCode: 7 });
    const history = await host.opened.engine.store.readStreams(['container/r1/s1/t/quitter/quitter_root']);
    expect(history.find((r) => r.type === 'TaskExited')?.actor.type).toBe('runtime');
  });

  it('records an OOM kill: the container hits its memory limit, the kernel kills it, the cell shows why', async () => {
    const ref = { realm: 'r1', space: 's1', stack: 't', cell: 'hungry' };
    const hungry = container('main', ['sh', '-c', 'exec dd if=/dev/zero of=/dev/null bs=256M count=1'], { resources: { memoryBytes: 32 << 20 } });
    await ops().createCell({ ...ref, template: template(hungry), start: true }, actor).catch(() => undefined);
    const view = await until(() => ops().getCell(ref), (v) => v.state === 'Exited' || v.state === 'Failed');
    expect(view.containers[0]).toMatchObject({ state: 'Exited', exitCode: 137, oomKilled: true });
    const history = await host.opened.engine.store.readStreams(['container/r1/s1/t/hungry/hungry_root']);
    expect(history.find((r) => r.type === 'TaskOomKilled')?.actor.type).toBe('runtime');
  });

  it('stops a container whose PID 1 ignores SIGTERM by killing it after the grace period', async () => {
    const ref = { realm: 'r1', space: 's1', stack: 't', cell: 'stubborn' };
    await ops().createCell({ ...ref, template: template(container('main', ['sleep', '300'])), start: true }, actor);
    const started = Date.now();
    const view = await ops().stopCell(ref, actor, { mode: 'stop', graceMs: 500 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(view.containers[0]).toMatchObject({ state: 'Stopped', exitCode: 137 });
  });

  it('survives a containerd restart: tasks keep their pids, exits during and after are recorded', async () => {
    const ref = { realm: 'r1', space: 's1', stack: 't', cell: 'survivor' };
    const { view } = await ops().createCell({ ...ref, template: template(container('main', ['sleep', '300'])), start: true }, actor);
    const pid = view.rootPid!;
    await host.ctrd.kill();
    process.kill(pid, 'SIGKILL'); // dies while containerd is down: no event will ever be pushed for it
    await host.ctrd.start();
    const after = await until(() => ops().getCell(ref), (v) => v.state === 'Exited', 15_000);
    expect(after.containers[0]).toMatchObject({ state: 'Exited', exitCode: 137 });
    const hello = ops().getCell({ realm: 'r1', space: 's1', stack: 't', cell: 'hello' });
    expect(hello.state).toBe('Ready');
    const task = await host.runtime.containers.getTask(realmNs('r1'), 's1_t_hello_root');
    expect(task).toMatchObject({ status: 'running', pid: hello.rootPid });
    // The event stream is back: a later exit is pushed again.
    const quick = { realm: 'r1', space: 's1', stack: 't', cell: 'after-restart' };
    await ops().createCell({ ...quick, template: template(container('main', ['sh', '-c', 'sleep 0.3; exit 3'])), start: true }, actor);
    expect((await until(() => ops().getCell(quick), (v) => v.state === 'Exited')).containers[0]?.exitCode).toBe(3);
  });

  it('reports typed errors: a missing image, a namespace that is not empty, a cgroup that is busy', async () => {
    const err = await ops().createCell({ realm: 'r1', space: 's1', stack: 't', cell: 'noimage', template: template({ ...container('main', ['true']), image: 'kukeon.local/nope:1' }), start: true }, actor).catch((e) => e);
    expect(isKukeError(err, 'NotFound')).toBe(true);
    expect(err.message).toMatch(/image kukeon\.local\/nope:1 not found/);
    const nsErr = await host.runtime.containers.deleteNamespace(realmNs('r1')).catch((e) => e);
    expect(isKukeError(nsErr, 'FailedPrecondition')).toBe(true);
    const cgErr = await host.runtime.cgroups.remove(`${host.settings.engine.cgroupRoot}/r1/s1/t/hello`).catch((e) => e);
    expect(isKukeError(cgErr, 'FailedPrecondition')).toBe(true);
    await ops().deleteCell({ realm: 'r1', space: 's1', stack: 't', cell: 'noimage' }, actor);
  });

  it('tears a realm down leaving nothing: no container, task or snapshot of ours, no address, no bridge, no cgroup', async () => {
    const spaces = ops().query({ kind: 'space', realm: 'r1' }) as { network: { bridge: string; name: string } }[];
    await ops().deleteRealm({ realm: 'r1', cascade: true }, actor);
    expect(ops().listRealms()).toEqual([]);
    expect((await host.runtime.containers.listNamespaces()).map((n) => n.name)).not.toContain(realmNs('r1'));
    const ipam = runLayout(host.settings.engine.runPath).cniIpam;
    expect(existsSync(ipam) ? readdirSync(ipam) : []).toEqual([]);
    for (const s of spaces) expect(readdirSync('/sys/class/net')).not.toContain(s.network.bridge);
    for (const h of ['memory', 'cpu', 'pids', 'systemd', 'unified']) {
      expect(existsSync(join('/sys/fs/cgroup', h, host.settings.engine.cgroupRoot, 'r1')), h).toBe(false);
    }
    const snapshots = await run('find', [join(host.ctrd.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots'), '-maxdepth', '1', '-mindepth', '1']).then((r) => r.stdout.trim());
    expect(snapshots).toBe('');
  });
});
