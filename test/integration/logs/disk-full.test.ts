/**
 * Log rotation on a full disk (a small tmpfs): the copy fails, its partial file is removed at once so its space comes
 * back, the live file is left whole, and a later pass rotates it once there is room.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileLogs } from '../../../src/runtime/logs/files.js';

let mount: string;

beforeAll(() => {
  mount = mkdtempSync(join(tmpdir(), 'kukeon-logs-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mount]);
});
afterAll(() => {
  if (mount) {
    execFileSync('umount', [mount]);
    rmSync(mount, { recursive: true, force: true });
  }
});

describe('log rotation on a full disk', () => {
  it('removes the partial copy at once and keeps the live file whole, then rotates once space is back', async () => {
    const root = join(mount, 'logs');
    const dir = join(root, 'r', 's', 't', 'big');
    const live = join(dir, 'big_root.log');
    mkdirSync(dir, { recursive: true });
    writeFileSync(live, 'x'.repeat(120 * 1024));
    // Fill all but about 40 KiB: the copy (the whole 120 KiB, under twice the limit) cannot fit.
    const free = () => Number(execFileSync('df', ['--output=avail', '-B1', mount], { encoding: 'utf8' }).split('\n')[1]);
    writeFileSync(join(mount, 'filler'), Buffer.alloc(Math.max(0, free() - 40 * 1024)));
    const before = free();
    const logs = new FileLogs(root);
    const policy = { maxBytes: 64 * 1024, maxFiles: 2 };

    expect(await logs.rotate(policy)).toEqual({ rotated: [], removed: [] });
    expect(readdirSync(dir)).toEqual(['big_root.log']);
    expect(statSync(live).size).toBe(120 * 1024);
    expect(free()).toBe(before);

    rmSync(join(mount, 'filler'));
    expect(await logs.rotate(policy)).toEqual({ rotated: [live], removed: [] });
    expect(statSync(`${live}.1`).size).toBe(120 * 1024);
    expect(statSync(live).size).toBe(0);
  });
});
