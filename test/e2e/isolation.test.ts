/**
 * Isolation between spaces through kuke and kukeond (issue 10, item 2): kukeond, in its own container, writes the
 * install's iptables chains on the host. Cells of two spaces run busybox httpd; requests are sent with nc from inside
 * the cells (nsenter into the root task's namespaces) and from the host. Traffic stays between this test's cells and
 * the host.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { applyIsolation, isolationChains } from '../../src/runtime/cni/isolation.js';
import { INSTANCE_FILE } from '../../src/runtime/cni/ownership.js';
import { useInitializedHost } from '../support/e2e.js';
import { statusOf } from '../support/documents.js';

const run = promisify(execFile);
const hostOf = useInitializedHost({ subnet: '10.245.0.0/18', tag: 'iso', loadImage: true });
const HTTPD = 'mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www';

const space = (name: string, allowFrom?: string) => `kind: Space\nmetadata: {name: ${name}}\nspec: {realmId: default${allowFrom === undefined ? '' : `, network: {allowFrom: [${allowFrom}]}`}}\n`;
const stack = (spaceName: string) => `kind: Stack\nmetadata: {name: app}\nspec: {realmId: default, spaceId: ${spaceName}}\n`;
const cell = (name: string, spaceName: string, script: string) =>
  `kind: Cell\nmetadata: {name: ${name}}\nspec:\n  realmId: default\n  spaceId: ${spaceName}\n  stackId: app\n  containers:\n    - id: main\n      image: ${hostOf().testImage.ref}\n      command: [sh, -c, '${script}']\n`;

async function apply(...docs: string[]): Promise<string> {
  const r = await hostOf().kuke(['apply', '-f', '-'], { input: docs.join('---\n') });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

async function cellOf(name: string, spaceName: string): Promise<{ rootPid: number; address: string }> {
  const got = await hostOf().kuke(['get', 'cell', name, '--space', spaceName, '--stack', 'app', '-o', 'json']);
  expect(got.code, got.stderr).toBe(0);
  const view = statusOf<{ rootPid: number; address: string }>(got.stdout);
  return { rootPid: view.rootPid, address: view.address.split('/')[0]! };
}

/** What `from` (a cell's root pid, or the host) gets from http://<address>/ within 2 s ('' when nothing answers). */
async function get(from: number | 'host', address: string): Promise<string> {
  const script = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${address} 80`;
  const cmd = from === 'host' ? ['busybox', 'sh', '-c', script.replace('| nc', '| busybox nc')] : ['nsenter', '-t', String(from), '-m', '-u', '-n', '--', '/bin/sh', '-c', script];
  return (await run(cmd[0]!, cmd.slice(1), { timeout: 15_000 }).catch(() => ({ stdout: '' }))).stdout;
}

/** Waits until the host gets the page of a cell that just started its httpd. */
async function serving(address: string, page: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await get('host', address)).includes(page)) {
    if (Date.now() > deadline) throw new Error(`httpd on ${address} never answered the host`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const chains = () => isolationChains(readFileSync(join(hostOf().runPath, 'cni', 'net.d', INSTANCE_FILE), 'utf8').trim());
const listing = async () => (await run('iptables', ['-w', '-S'])).stdout;

describe('isolation between spaces through kuke and kukeond', () => {
  let web: { rootPid: number; address: string };
  let peer: { rootPid: number; address: string };
  let api: { rootPid: number; address: string };

  it('lets cells of one space and the host reach a cell, and not a cell of another space, either way', async () => {
    await apply(space('front'), space('back'), stack('front'), stack('back'), cell('web', 'front', HTTPD), cell('peer', 'front', 'exec sleep 3600'), cell('api', 'back', HTTPD));
    web = await cellOf('web', 'front');
    peer = await cellOf('peer', 'front');
    api = await cellOf('api', 'back');
    await serving(web.address, 'hello-from-web');
    await serving(api.address, 'hello-from-api');
    expect(await get(peer.rootPid, web.address)).toContain('hello-from-web');
    expect(await get(api.rootPid, web.address)).toBe('');
    expect(await get(web.rootPid, api.address)).toBe('');
    expect(await get(peer.rootPid, api.address)).toBe('');
    const { forward } = chains();
    expect((await listing()).split('\n').filter((l) => l.startsWith('-A FORWARD ') && l.includes(`-j ${forward}`))).toHaveLength(1);
  }, 180_000);

  it('lets the spaces a Space names in allowFrom in once it is applied again, one way only, and closes again', async () => {
    expect(await apply(space('front', 'back'))).toContain('updated');
    expect(await get(api.rootPid, web.address)).toContain('hello-from-web');
    expect(await get(web.rootPid, api.address)).toBe('');
    const state = await hostOf().kuke(['get', 'space', 'front', '-o', 'json']);
    expect(JSON.parse(state.stdout)).toMatchObject({ spec: { network: { allowFrom: ['back'] } }, status: { state: 'Ready' } });
    expect(await apply(space('front'))).toContain('updated');
    expect(await get(api.rootPid, web.address)).toBe('');
    expect(await get(peer.rootPid, web.address)).toContain('hello-from-web');
  }, 120_000);

  it('refuses an allowFrom naming a space that does not exist, in one line, changing nothing', async () => {
    const before = await listing();
    const r = await hostOf().kuke(['apply', '-f', '-'], { input: space('front', 'nowhere') });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/allowFrom of space "front" in realm "default" names space default\/nowhere, which does not exist/);
    expect(r.stderr).not.toMatch(/bug/);
    expect(await listing()).toBe(before);
  }, 60_000);

  it('writes the chains again when kukeond restarts after they were lost (a reboot empties iptables)', async () => {
    const host = hostOf();
    const instance = readFileSync(join(host.runPath, 'cni', 'net.d', INSTANCE_FILE), 'utf8').trim();
    await applyIsolation(instance, []);
    expect(await listing()).not.toContain(chains().forward);
    const restart = await host.local(['daemon', 'restart']);
    expect(restart.code, restart.stderr).toBe(0);
    expect(await listing()).toContain(`-N ${chains().isolation}`);
    expect(await get(api.rootPid, web.address)).toBe('');
    expect(await get(peer.rootPid, web.address)).toContain('hello-from-web');
  }, 180_000);

  it('removes the chains with the install\'s last space (the system realm\'s included)', async () => {
    const host = hostOf();
    const { forward, isolation } = chains();
    expect(await listing()).toContain(`-N ${isolation}`);
    const reset = await host.local(['daemon', 'reset', '--purge-system']);
    expect(reset.code, reset.stderr).toBe(0);
    const deleted = await host.local(['delete', 'realm', 'default', '--cascade']);
    expect(deleted.code, deleted.stderr).toBe(0);
    const after = await listing();
    expect(after).not.toContain(forward);
    expect(after).not.toContain(isolation);
  }, 180_000);
});
