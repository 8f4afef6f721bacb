/**
 * Names through the daemon, end to end (issue 10, item 5): kukeond, in its own container, writes the cells' /etc files
 * under the run path it shares with the host, and runc on the host mounts them. A cell's hostname is its name, its
 * peers resolve by name through /etc/hosts (busybox: no DNS query), its resolv.conf is derived from the host's (read
 * through the host's root, not the daemon image's), and a deleted cell leaves its peers' files and the run path.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { cellResolvConf } from '../../src/engine/resolv-conf.js';
import { useInitializedHost } from '../support/e2e.js';
import { statusOf } from '../support/documents.js';

const run = promisify(execFile);
const hostOf = useInitializedHost({ subnet: '10.247.0.0/18', tag: 'nm' });
beforeAll(async () => {
  const host = hostOf();
  const load = await host.kuke(['image', 'load', host.testImage.path]);
  if (load.code !== 0) throw new Error(load.stderr);
}, 60_000);
const HTTPD = 'mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www';

/** Runs `cmd` inside the container whose task is `pid` (its mount, UTS and network namespaces, its binaries). */
async function inContainer(pid: number, ...cmd: string[]): Promise<string> {
  return (await run('nsenter', ['-t', String(pid), '-m', '-u', '-n', '--', ...cmd], { timeout: 15_000 })).stdout;
}

async function startCell(name: string, script: string): Promise<{ rootPid: number; address: string }> {
  const host = hostOf();
  const r = await host.kuke(['create', 'cell', name, '--image', host.testImage.ref, '--arg', 'sh', '--arg', '-c', '--arg', script, '--start']);
  expect(r.code, r.stderr).toBe(0);
  const got = await host.kuke(['get', 'cell', name, '-o', 'json']);
  expect(got.code, got.stderr).toBe(0);
  const view = statusOf<{ rootPid: number; address: string }>(got.stdout);
  return { rootPid: view.rootPid, address: view.address.split('/')[0]! };
}

const hostFile = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);

describe('names through the daemon', () => {
  it('names a cell, lets its peers reach it by <cell> and <cell>.<space>, and forgets it once deleted', async () => {
    const host = hostOf();
    const web = await startCell('web', HTTPD);
    const probe = await startCell('probe', 'exec sleep 3600');
    expect((await inContainer(probe.rootPid, 'hostname')).trim()).toBe('probe');
    expect((await inContainer(web.rootPid, 'hostname')).trim()).toBe('web');
    const hosts = await inContainer(probe.rootPid, 'cat', '/etc/hosts');
    expect(hosts).toContain(`${web.address}\tweb web.default`);
    expect(hosts).toContain(`${probe.address}\tprobe probe.default`);
    const get = (name: string) => inContainer(probe.rootPid, '/bin/sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${name} 80`);
    expect(await get('web')).toContain('hello-from-web');
    expect(await get('web.default')).toContain('hello-from-web');
    // The earlier cell learned of the later one.
    expect(await inContainer(web.rootPid, 'cat', '/etc/hosts')).toContain(`${probe.address}\tprobe probe.default`);

    const expected = cellResolvConf({
      ...(hostFile('/etc/resolv.conf') !== undefined ? { resolvConf: hostFile('/etc/resolv.conf')! } : {}),
      ...(hostFile('/run/systemd/resolve/resolv.conf') !== undefined ? { systemdResolvConf: hostFile('/run/systemd/resolve/resolv.conf')! } : {}),
    });
    expect(await inContainer(probe.rootPid, 'cat', '/etc/resolv.conf')).toBe(expected.content);

    const deleted = await host.kuke(['delete', 'cell', 'web']);
    expect(deleted.code, deleted.stderr).toBe(0);
    // The follow-up rewrites after the delete is recorded; give it a moment.
    const deadline = Date.now() + 10_000;
    let after = '';
    while (Date.now() < deadline) {
      after = await inContainer(probe.rootPid, 'cat', '/etc/hosts');
      if (!after.includes('web')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(after).not.toContain('web');
    expect(existsSync(join(host.runPath, 'etc', 'default', 'default', 'default', 'web'))).toBe(false);
    expect(existsSync(join(host.runPath, 'etc', 'default', 'default', 'default', 'probe', 'hosts'))).toBe(true);
  }, 120_000);
});
