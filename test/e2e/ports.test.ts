/**
 * Published ports through kuke and kukeond (issue 10, item 4): a cell created with `-p 127.0.0.1:<port>:80` serves
 * busybox httpd through 127.0.0.1:<port> of the host; `get -o wide` shows the mapping; a second cell asking for the
 * same host port, or one a process of the host listens on, is refused in one line and creates nothing; deleting the
 * cell removes its forwarding rules and frees the port. Host ports are high, random and checked free first; traffic
 * stays on loopback and the test's own bridge.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { expectOneLineError, useInitializedHost } from '../support/e2e.js';
import { freeLoopbackPort as freePort, getThroughLoopback as get, listenOnLoopback as listen } from '../support/loopback-http.js';

const host = useInitializedHost({ subnet: '10.246.0.0/18', tag: 'pt', loadImage: true });
const HTTPD = 'mkdir -p /www && echo pong > /www/index.html && exec httpd -f -p 80 -h /www';

async function getWithin(port: number, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const body = await get(port);
    if (body || Date.now() > deadline) return body;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const natRules = () => execFileSync('iptables', ['-w', '-t', 'nat', '-S'], { encoding: 'utf8' });

describe('published ports through kuke', () => {
  it('serves a cell\'s port 80 through 127.0.0.1:<host port>, shown in get -o wide', async () => {
    const h = host();
    const port = await freePort();
    const created = await h.kuke(['create', 'cell', 'web', '--image', h.testImage.ref, '--arg', 'sh', '--arg', '-c', '--arg', HTTPD, '-p', `127.0.0.1:${port}:80`, '--start']);
    expect(created.code, created.stderr).toBe(0);
    expect(await getWithin(port, 10_000)).toBe('pong');
    const wide = await h.kuke(['get', 'cells', '-o', 'wide']);
    expect(wide.stdout).toMatch(new RegExp(`\\bweb\\b.* 127\\.0\\.0\\.1:${port}->80/tcp `));
    const json = JSON.parse((await h.kuke(['get', 'cell', 'web', '-o', 'json'])).stdout);
    expect(json.spec.containers[0].ports).toEqual([{ containerPort: 80, hostPort: port, hostIP: '127.0.0.1' }]);
    expect(natRules()).toMatch(new RegExp(`--dport ${port} -j DNAT --to-destination 10\\.246\\.\\d+\\.\\d+:80`));
  });

  it('refuses a second cell asking for the same host port, in one line, creating nothing', async () => {
    const h = host();
    const json = JSON.parse((await h.kuke(['get', 'cell', 'web', '-o', 'json'])).stdout);
    const port = json.spec.containers[0].ports[0].hostPort as number;
    const before = (await h.kuke(['history', 'verify', '-o', 'json'])).stdout;
    const second = await h.kuke(['create', 'cell', 'web2', '--image', h.testImage.ref, '-p', `${port}:8080`]);
    expect(expectOneLineError(second)).toMatch(new RegExp(`host port \\*:${port}/tcp is already published by cell "web"`));
    expect((await h.kuke(['get', 'cells', '-o', 'json'])).stdout).not.toContain('"web2"');
    expect(JSON.parse((await h.kuke(['history', 'verify', '-o', 'json'])).stdout).headSeq).toBe(JSON.parse(before).headSeq);
  });

  it('refuses a host port a process of the host listens on', async () => {
    const h = host();
    const server = await listen();
    const { port } = server.address() as { port: number };
    try {
      const r = await h.kuke(['create', 'cell', 'taken', '--image', h.testImage.ref, '-p', `127.0.0.1:${port}:80`]);
      expect(expectOneLineError(r)).toContain(`host port 127.0.0.1:${port}/tcp is taken: a process on the host listens on 127.0.0.1:${port}/tcp`);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect((await h.kuke(['get', 'cells', '-o', 'json'])).stdout).not.toContain('"taken"');
  });

  it('removes the forwarding when the cell is deleted, and the port can be published again', async () => {
    const h = host();
    const json = JSON.parse((await h.kuke(['get', 'cell', 'web', '-o', 'json'])).stdout);
    const port = json.spec.containers[0].ports[0].hostPort as number;
    const deleted = await h.kuke(['delete', 'cell', 'web']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(natRules()).not.toContain(`--dport ${port} -j DNAT`);
    expect(await get(port)).toBe('');
    const again = await h.kuke(['create', 'cell', 'web2', '--image', h.testImage.ref, '-p', `127.0.0.1:${port}:80`]);
    expect(again.code, again.stderr).toBe(0);
  });
});
