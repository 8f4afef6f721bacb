/**
 * A full disk under the run path (a small tmpfs): `kuke create cell` fails with one line that says so, nothing of
 * it reaches the event log, kukeond keeps serving (same pid), and the same command succeeds once space is freed,
 * without a restart. The whole run path is on the tmpfs, so the read model, the daemon's log file and the
 * containers' logs are full too: the daemon must survive all of it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, startE2eHost, type E2eHost } from '../support/e2e.js';

describe('a full disk under the run path', () => {
  let host: E2eHost;
  let filler: string;
  beforeAll(async () => {
    host = await startE2eHost({ subnet: '10.253.192.0/18', tag: 'df' });
    mkdirSync(host.runPath, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128m', 'tmpfs', host.runPath]);
    host.mounts.push(host.runPath);
    filler = join(host.runPath, 'filler');
    const init = await host.local(['init']);
    if (init.code !== 0) throw new Error(init.stderr);
    const load = await host.kuke(['image', 'load', host.testImage.path]);
    if (load.code !== 0) throw new Error(load.stderr);
    process.stderr.write(`[disk-full] run path after init: ${execFileSync('du', ['-sh', host.runPath], { encoding: 'utf8' }).trim()}\n`);
  }, 180_000);
  afterAll(async () => {
    rmSync(filler, { force: true });
    await host?.cleanup();
  }, 180_000);

  const head = async () => {
    const r = await host.kuke(['history', 'verify', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { ok: boolean; headSeq: number; headHash: string };
  };
  const create = () => host.kuke(['create', 'cell', 'full', '--image', host.testImage.ref, '--arg', 'sleep', '--arg', '3600']);

  it('refuses a create with one clear line, stores none of it, keeps serving, and takes the same create once space is freed', async () => {
    const pid = host.daemonPid();
    const before = await head();
    try {
      writeFileSync(filler, Buffer.alloc(256 * 1024 * 1024));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    }

    const refused = await create();
    expect(expectOneLineError(refused)).toBe(`Error: event log: no space left on ${join(host.runPath, 'events')}; free space and retry; nothing was changed`);
    expect(refused.stderr).not.toMatch(/bug in kukeon/);
    // What the CLI said matches the log: same head, no event of the cell.
    expect(await head()).toEqual(before);
    const history = await host.kuke(['history', 'cell', 'full', '-o', 'json']);
    expect(history.code, history.stderr).toBe(0);
    expect(JSON.parse(history.stdout)).toEqual([]);
    // The daemon is the same process and still answers.
    expect(host.daemonPid()).toBe(pid);
    const cells = await host.kuke(['get', 'cells']);
    expect(cells.code, cells.stderr).toBe(0);
    expect(cells.stdout).not.toMatch(/\nfull /);
    // Still full: refused again, the same way.
    expect(expectOneLineError(await create())).toMatch(/no space left/);

    rmSync(filler);
    const created = await create();
    expect(created.code, created.stderr).toBe(0);
    expect(host.daemonPid()).toBe(pid);
    const cell = await host.kuke(['get', 'cell', 'full', '-o', 'json']);
    expect(cell.code, cell.stderr).toBe(0);
    expect(JSON.parse(cell.stdout)).toMatchObject({ metadata: { name: 'full' } });
    const after = await head();
    expect(after.ok).toBe(true);
    expect(after.headSeq).toBeGreaterThan(before.headSeq);
  });
});
