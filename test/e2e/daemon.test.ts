/**
 * The daemon's own lifecycle, end to end: adopting an older layout, swapping its image (the upgrade path) with user
 * cells untouched, and the daemon verbs.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDaemonImage } from '../../src/daemon/image.js';
import { startE2eHost, type E2eHost } from '../support/e2e.js';
import { statusOf, statusesOf } from '../support/documents.js';

const SYS = ['--realm', 'kukeon-system', '--space', 'kukeon', '--stack', 'kukeon'];

describe('a host bootstrapped by an older version', () => {
  let host: E2eHost;
  beforeAll(async () => {
    host = await startE2eHost({ subnet: '10.254.128.0/18', tag: 'o' });
  }, 120_000);
  afterAll(async () => {
    await host?.cleanup();
  }, 180_000);

  it('is adopted: the old system namespace becomes the system realm\'s, and both names address it', async () => {
    const legacy = `kuke-system.${host.suffix}`;
    execFileSync('ctr', ['-a', host.ctrd.address, 'namespaces', 'create', legacy]);
    const r = await host.local(['init']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`System realm: kukeon-system (namespace: ${legacy}) — adopted from an older layout`);
    const namespaces = execFileSync('ctr', ['-a', host.ctrd.address, 'namespaces', 'ls', '-q'], { encoding: 'utf8' }).trim().split('\n');
    expect(namespaces).not.toContain(`kukeon-system.${host.suffix}`);
    const realms = statusesOf<{ name: string; namespace: string; system: boolean }>((await host.kuke(['get', 'realms', '-o', 'json'])).stdout);
    expect(realms.filter((x) => x.system)).toEqual([expect.objectContaining({ name: 'kukeon-system', namespace: legacy })]);
    for (const name of ['kukeon-system', 'kuke-system']) {
      for (const run of [host.kuke, host.local]) {
        const cells = await run(['get', 'cells', '--realm', name, '--space', 'kukeon', '--stack', 'kukeon']);
        expect(cells.code, cells.stderr).toBe(0);
        expect(cells.stdout).toMatch(/\nkukeond +kukeon-system +kukeon +kukeon +Ready/);
      }
    }
    const again = await host.local(['init']);
    expect(again.stdout).toMatch(/^Kukeon runtime already initialized/);
  });
});

describe('the daemon verbs and the upgrade path', () => {
  let host: E2eHost;
  beforeAll(async () => {
    host = await startE2eHost({ subnet: '10.254.192.0/18', tag: 'd' });
    const init = await host.local(['init']);
    if (init.code !== 0) throw new Error(init.stderr);
    const load = await host.kuke(['image', 'load', host.testImage.path]);
    if (load.code !== 0) throw new Error(load.stderr);
    const cell = await host.kuke(['create', 'cell', 'user', '--image', host.testImage.ref, '--arg', 'sleep', '--arg', '3600', '--start']);
    if (cell.code !== 0) throw new Error(cell.stderr);
  }, 180_000);
  afterAll(async () => {
    await host?.cleanup();
  }, 180_000);

  const userCell = async () => statusOf<{ state: string; rootPid: number }>((await host.kuke(['get', 'cell', 'user', '-o', 'json'])).stdout);

  it('recreates kukeond from another image, leaving user cells running', async () => {
    const before = await userCell();
    expect(before.state).toBe('Ready');
    const tar = buildDaemonImage(join(host.dir, 'kukeond-next.tar'), undefined, 'kukeon.local/kukeond:e2e-next').path;
    const r = await host.local(['daemon', 'recreate', '--image', tar]);
    expect(r.code, r.stderr).toBe(0);
    const pid = host.daemonPid();
    expect(r.stdout).toContain('kukeond recreated (cell "kukeond" in realm "kukeon-system", image kukeon.local/kukeond:e2e-next)');
    const cell = statusOf<{ state: string; containers: { image: string }[] }>((await host.kuke(['get', 'cell', 'kukeond', ...SYS, '-o', 'json'])).stdout);
    expect(cell.state).toBe('Ready');
    expect(cell.containers[0]!.image).toBe('kukeon.local/kukeond:e2e-next');
    const after = await userCell();
    expect(after).toMatchObject({ state: 'Ready', rootPid: before.rootPid });
    // kuke init leaves a running daemon alone, and says how to go back to this package's build.
    const init = await host.local(['init']);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).toMatch(/^kukeond runs kukeon\.local\/kukeond:e2e-next; this package's daemon is kukeon\.local\/kukeond:0\.1\.0-[0-9a-f]{12}: switch with: sudo kuke daemon recreate\n$/);
    expect(host.daemonPid()).toBe(pid);
  });

  it('stops, says it is already stopped, starts again, and kills', async () => {
    const stop = await host.local(['daemon', 'stop', '--timeout', '5s']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toBe('kukeond stopped (cell "kukeond" in realm "kukeon-system")\n');
    expect((await host.kuke(['get', 'realms'])).code).toBe(1);
    // In-process reads still work while the daemon is down.
    expect((await host.local(['get', 'realms'])).stdout).toMatch(/\ndefault +Ready/);
    expect((await host.local(['daemon', 'stop'])).stdout).toBe('kukeond is already stopped (cell "kukeond" in realm "kukeon-system")\n');
    const start = await host.local(['daemon', 'start']);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/^kukeond started/);
    expect((await host.kuke(['get', 'realms'])).code).toBe(0);
    expect((await host.local(['daemon', 'start'])).stdout).toMatch(/^kukeond is already running/);
    expect((await userCell()).state).toBe('Ready');
    const kill = await host.local(['daemon', 'kill']);
    expect(kill.stdout).toBe('kukeond killed (cell "kukeond" in realm "kukeon-system")\n');
    expect((await host.local(['daemon', 'restart'])).code).toBe(0);
    expect((await host.kuke(['version'])).stdout).toMatch(/Daemon: v/);
  });

  it('shows its log', async () => {
    const r = await host.local(['daemon', 'logs']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { svc: string; msg: string });
    expect(lines.some((l) => l.svc === 'kukeond' && l.msg === 'kukeond ready')).toBe(true);
  });
});
