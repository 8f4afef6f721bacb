/**
 * Names in a space on the real runtime (issue 10, item 5): a cell's hostname is its name; its /etc/hosts, hostname
 * and resolv.conf are kukeon's files, bind-mounted read-only; cells of one space reach each other by `<cell>` and
 * `<cell>.<space>` (busybox resolves through /etc/hosts: no DNS query leaves the cell), and the files follow the
 * cells that start and go. Private containerd, real runc and CNI.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerTemplate } from '../../../events/specs.js';
import { runLayout } from '../../../src/engine/config.js';
import { containerLogPath } from '../../../src/engine/container-spec.js';
import { drainCellNames } from '../../../src/engine/hosts.js';
import { cellEtcFile } from '../../../src/runtime/cellfiles/paths.js';
import { cellOf, imageContainer } from '../../support/cell-templates.js';
import { startHost, type TestHost } from '../../support/host.js';

const run = promisify(execFile);
const actor = { actor: { type: 'user' as const, uid: 0 } };
const realm = 'rn';
const space = 'names';
const stack = 't';
let host: TestHost;

const container = (name: string, args: string[], extra: Partial<ContainerTemplate> = {}) => imageContainer(host.image, name, args, extra);
const template = cellOf;
const ops = () => host.opened.operations;
const at = (cell: string) => ({ realm, space, stack, cell });
const HTTPD = ['sh', '-c', 'mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www'];

/** Runs `cmd` inside the container whose task is `pid`: its mount, UTS, IPC and network namespaces, its binaries. */
async function inContainer(pid: number, ...cmd: string[]): Promise<string> {
  return (await run('nsenter', ['-t', String(pid), '-m', '-u', '-i', '-n', '--', ...cmd], { timeout: 15_000 })).stdout;
}

/** An HTTP GET of `/` on `name`:80 from inside the container `pid`, with busybox nc (its wget crashes). */
function httpGet(pid: number, name: string): Promise<string> {
  return inContainer(pid, '/bin/sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${name} 80`);
}

/** Calls `fn` until `ok` holds or 15 s pass; returns the last answer (a failure counts as an empty one). */
async function retried(fn: () => Promise<string>, ok: (out: string) => boolean): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const out = await fn().catch(() => '');
    if (ok(out) || Date.now() > deadline) return out;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function settled(): Promise<void> {
  await host.opened.engine.settle();
  await drainCellNames(host.opened.engine);
}

beforeAll(async () => {
  host = await startHost({ subnet: '10.248.0.0/16' });
  await ops().createRealm({ name: realm }, actor);
  await host.importImage(realm);
  await ops().createSpace({ realm, space }, actor);
  await ops().createStack({ realm, space, stack }, actor);
}, 120_000);

afterAll(async () => {
  await host?.cleanup();
}, 120_000);

describe('names in a space on the real runtime', () => {
  it("names the cell's host after the cell, in every container of the cell", async () => {
    const { view } = await ops().createCell({ ...at('named'), template: template(container('main', ['sleep', '300']), container('side', ['sleep', '300'])), start: true }, actor);
    for (const c of view.containers) {
      expect((await inContainer(c.pid!, 'hostname')).trim()).toBe('named');
      expect((await inContainer(c.pid!, 'cat', '/etc/hostname')).trim()).toBe('named');
    }
    await ops().deleteCell(at('named'), actor);
  });

  it("lets a root find its own name from its first instruction (the address stamped at create is in its hosts file)", async () => {
    const { view } = await ops().createCell({ ...at('early'), template: template(container('main', ['sh', '-c', 'cat /etc/hosts; exec sleep 300'])), start: true }, actor);
    const root = view.containers[0]!;
    const logPath = containerLogPath(host.opened.engine.config, { ...at('early'), name: 'early_root', root: true, namespace: `${realm}.${host.settings.engine.namespaceSuffix}`, containerdId: root.containerdId });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(existsSync(logPath) && readFileSync(logPath, 'utf8').includes('localhost'))) await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(logPath, 'utf8')).toContain(`${view.address!.split('/')[0]}\tearly early.${space}`);
    await ops().deleteCell(at('early'), actor);
  });

  it('mounts the cell files read-only: a container cannot write its /etc/hosts', async () => {
    const { view } = await ops().createCell({ ...at('ro'), template: template(container('main', ['sleep', '300'])), start: true }, actor);
    const err = await inContainer(view.rootPid!, '/bin/sh', '-c', 'echo 1.2.3.4 evil >> /etc/hosts').catch((e: { stderr?: string }) => e);
    expect(String((err as { stderr?: string }).stderr)).toMatch(/Read-only file system/);
    expect(readFileSync(cellEtcFile(runLayout(host.settings.engine.runPath).cellEtc, { realm, space, stack, cell: 'ro' }, 'hosts'), 'utf8')).not.toContain('evil');
    const resolv = await inContainer(view.rootPid!, 'cat', '/etc/resolv.conf');
    expect(resolv).toMatch(/^# Generated by kukeon/);
    expect(resolv).toMatch(/^nameserver \d+\.\d+\.\d+\.\d+$/m);
    expect(resolv).not.toMatch(/^nameserver 127\./m);
    await ops().deleteCell(at('ro'), actor);
  });

  it("gives a cell on the host's network the host's hostname, and the host's hosts and resolv.conf as they are", async () => {
    const { view } = await ops().createCell({ ...at('hostnet'), template: template(container('main', ['sleep', '300'], { hostNetwork: true })), start: true }, actor);
    expect((await inContainer(view.rootPid!, 'hostname')).trim()).toBe(hostname());
    expect(await inContainer(view.rootPid!, 'cat', '/etc/hosts')).toBe(readFileSync('/etc/hosts', 'utf8'));
    expect(await inContainer(view.rootPid!, 'cat', '/etc/resolv.conf')).toBe(readFileSync('/etc/resolv.conf', 'utf8'));
    await ops().deleteCell(at('hostnet'), actor);
  });

  it('lets a cell reach another of its space by <cell> and <cell>.<space>, follows a cell started later, and forgets a deleted one', async () => {
    const web = await ops().createCell({ ...at('web'), template: template(container('main', HTTPD)), start: true }, actor);
    const probe = await ops().createCell({ ...at('probe'), template: template(container('main', ['sleep', '300'])), start: true }, actor);
    await settled();
    const webAddress = web.view.address!.split('/')[0]!;
    const probeHosts = await inContainer(probe.view.rootPid!, 'cat', '/etc/hosts');
    expect(probeHosts).toContain(`${webAddress}\tweb web.${space}`);
    expect(probeHosts).toContain(`${probe.view.address!.split('/')[0]}\tprobe probe.${space}`);
    expect(await httpGet(probe.view.rootPid!, 'web')).toContain('hello-from-web');
    expect(await httpGet(probe.view.rootPid!, `web.${space}`)).toContain('hello-from-web');
    // The earlier cell learns of the later one through the same file it has had mounted since it started.
    expect(await inContainer(web.view.rootPid!, 'cat', '/etc/hosts')).toContain(`\tprobe probe.${space}`);
    const webHostsFile = cellEtcFile(runLayout(host.settings.engine.runPath).cellEtc, at('web'), 'hosts');
    const probeHostsFile = cellEtcFile(runLayout(host.settings.engine.runPath).cellEtc, at('probe'), 'hosts');
    const probeInode = statSync(probeHostsFile).ino;

    const later = await ops().createCell({ ...at('later'), template: template(container('main', HTTPD)), start: true }, actor);
    await settled();
    expect(await inContainer(probe.view.rootPid!, 'cat', '/etc/hosts')).toContain(`${later.view.address!.split('/')[0]}\tlater later.${space}`);
    expect(await inContainer(web.view.rootPid!, 'cat', '/etc/hosts')).toContain(`\tlater later.${space}`);
    // httpd may still be starting: retry.
    expect(await retried(() => httpGet(probe.view.rootPid!, 'later'), (out) => out.includes('hello-from-web'))).toContain('hello-from-web');

    await ops().deleteCell(at('web'), actor);
    await settled();
    expect(await inContainer(probe.view.rootPid!, 'cat', '/etc/hosts')).not.toContain('web');
    expect(await inContainer(later.view.rootPid!, 'cat', '/etc/hosts')).not.toContain('web');
    expect(() => statSync(webHostsFile)).toThrow();
    // Rewritten in place: the inode runc bind-mounted is the one that changed.
    expect(statSync(probeHostsFile).ino).toBe(probeInode);
    await ops().deleteCell(at('later'), actor);
    await ops().deleteCell(at('probe'), actor);
  });
});
