/**
 * Who is calling, as the kernel says: a real unix socket, a client process running as another user, and the
 * registry the daemon uses. Needs root (to start the client as `nobody`) and `ss` from iproute2.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PeerRegistry } from '../../../src/daemon/peer.js';

const dir = mkdtempSync(join(tmpdir(), 'kukeon-peer-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NOBODY = 65534;

describe('the caller of an API connection', () => {
  it('is the client process, with its uid and gid as the kernel has them', async () => {
    const path = join(dir, 'api.sock');
    const peers = new PeerRegistry();
    let listening!: () => void;
    const ready = new Promise<void>((r) => (listening = r));
    const accepted = new Promise<Socket>((resolve) => {
      const server = createServer((socket) => {
        peers.register(socket);
        server.close();
        resolve(socket);
      });
      server.listen(path, () => {
        chmodSync(path, 0o777);
        listening();
      });
    });
    await ready;
    // The client keeps the connection open until its stdin closes.
    const client = spawn(process.execPath, ['-e', `const s = require('net').connect(${JSON.stringify(path)}); process.stdin.on('end', () => s.end()).resume();`], {
      uid: NOBODY,
      gid: NOBODY,
      stdio: ['pipe', 'inherit', 'inherit'],
    });
    try {
      const socket = await accepted;
      expect(socket.remoteAddress).toMatch(/^kukeon-peer:\d+$/);
      expect(await peers.credentialsOf(socket.remoteAddress!)).toEqual({ pid: client.pid, uid: NOBODY, gid: NOBODY });
      expect(await peers.credentialsOf('kukeon-peer:0')).toBeUndefined();
    } finally {
      client.stdin!.end();
      await new Promise((r) => client.once('exit', r));
    }
  });
});
