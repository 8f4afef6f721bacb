/**
 * Container logs through the daemon, end to end (issue 9, item 10): the limits given to `kuke init` reach kukeond in
 * its cell, which rotates a chatty cell's log; `kuke delete cell` removes a cell's logs, `--keep-logs` keeps them.
 * `kuke logs` (issue 12, item 1) prints what the shim wrote: all of it, the last lines, a sidecar's, following until
 * the cell stops, and the daemon's own output (also as `kuke daemon logs`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, until, useInitializedHost, type E2eHost } from '../support/e2e.js';

const hostOf = useInitializedHost({ subnet: '10.253.0.0/18', tag: 'l', initEnv: { KUKEON_LOG_MAX_SIZE: '16k', KUKEON_LOG_MAX_FILE: '2' }, loadImage: true });
let host: E2eHost;
beforeAll(() => {
  host = hostOf();
});
const cellDir = (cell: string) => join(host.runPath, 'logs', 'default', 'default', 'default', cell);
const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');

async function runCell(name: string, script: string): Promise<void> {
  const r = await host.kuke(['create', 'cell', name, '--image', host.testImage.ref, '--arg', 'sh', '--arg', '-c', '--arg', script, '--start']);
  expect(r.code, r.stderr).toBe(0);
}

describe('container logs through the daemon', () => {
  it('rotates a log at the size given to kuke init, keeping max-file files in all', async () => {
    // About 70 KB at once, then quiet: the daemon's next pass (every 10 s) copies it to .1 and truncates it.
    await runCell('chatty', "seq 1 2000 | sed 's/.*/line & ............................../'; echo done; exec sleep 3600");
    const live = join(cellDir('chatty'), 'chatty_root.log');
    await until(async () => read(`${live}.1`), (text) => text.includes('done'), 30_000);
    expect(readdirSync(cellDir('chatty')).sort()).toEqual(['chatty_root.log', 'chatty_root.log.1']);
    expect(statSync(live).size).toBeLessThan(16 * 1024);
    // Written at once, far past the limit (over twice it): the copy keeps the last max-size bytes only.
    expect(statSync(`${live}.1`).size).toBe(16 * 1024);
    expect(read(`${live}.1`)).toMatch(/\nline 2000 \.+\ndone\n$/);
  }, 60_000);

  it("removes a cell's logs with kuke delete cell, and keeps them with --keep-logs", async () => {
    await runCell('gone', 'echo bye; exec sleep 3600');
    await runCell('kept', 'echo keep me; exec sleep 3600');
    await until(async () => read(join(cellDir('gone'), 'gone_root.log')) + read(join(cellDir('kept'), 'kept_root.log')), (t) => t === 'bye\nkeep me\n');
    const deleted = await host.kuke(['delete', 'cell', 'gone']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(existsSync(cellDir('gone'))).toBe(false);
    const kept = await host.kuke(['delete', 'cell', 'kept', '--keep-logs']);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toBe('Deleted cell "kept" from stack "default"\n');
    expect(read(join(cellDir('kept'), 'kept_root.log'))).toBe('keep me\n');
    expect(existsSync(cellDir('chatty'))).toBe(true);
  }, 60_000);

  it("prints a cell's output with kuke logs: all of it, the last lines with --tail, a sidecar's with --container", async () => {
    const manifest = `kind: Cell
metadata: {name: counter}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
    - {id: main, image: ${host.testImage.ref}, args: [sh, -c, "for i in 1 2 3 4 5; do echo line $i; done; exec sleep 3600"]}
    - {id: side, image: ${host.testImage.ref}, args: [sh, -c, "echo from the side >&2; exec sleep 3600"]}
`;
    const applied = await host.kuke(['apply', '-f', '-'], { input: manifest });
    expect(applied.code, applied.stderr).toBe(0);
    const numbered = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join('');
    const all = await until(() => host.kuke(['logs', 'counter']), (r) => r.stdout === numbered(1, 5), 20_000);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr).toBe('');
    expect((await host.kuke(['logs', 'counter', '--tail', '3'])).stdout).toBe(numbered(3, 5));
    expect((await host.kuke(['logs', 'counter', '--container', 'side'])).stdout).toBe('from the side\n');
    expect(expectOneLineError(await host.kuke(['logs', 'counter', '--container', 'nope']))).toBe('Error: cell "counter" has no container "nope"; its containers: main, side');
    expect(expectOneLineError(await host.kuke(['logs', 'nothere']))).toMatch(/^Error: cell "nothere" in realm "default", space "default", stack "default" not found;/);
  }, 60_000);

  it('follows a log with -f until the cell stops by itself', async () => {
    await runCell('ticker', 'sleep 2; for i in 1 2 3; do echo tick $i; sleep 1; done');
    const live = join(cellDir('ticker'), 'ticker_root.log');
    expect(read(live)).not.toContain('tick 3');
    const followed = await host.kuke(['logs', 'ticker', '-f']);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout).toBe('tick 1\ntick 2\ntick 3\n');
    expect((await host.kuke(['get', 'cells'])).stdout).toMatch(/^ticker .* Exited \(0\)/m);
  }, 60_000);

  it("prints the daemon's own output, through the daemon and as kuke daemon logs", async () => {
    const SYS = ['--realm', 'kukeon-system', '--space', 'kukeon', '--stack', 'kukeon'];
    const own = await host.kuke(['logs', 'kukeond', ...SYS]);
    expect(own.code, own.stderr).toBe(0);
    const lines = own.stdout.trim().split('\n').map((l) => JSON.parse(l) as { svc: string; msg: string });
    expect(lines.some((l) => l.svc === 'kukeond' && l.msg === 'kukeond ready')).toBe(true);
    const last = await host.local(['daemon', 'logs', '--tail', '2']);
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout.endsWith('\n')).toBe(true);
    expect(last.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { svc: string }).svc)).toEqual(['kukeond', 'kukeond']);
  }, 60_000);

  it('refuses a log size that is not a size, with one line naming the flag and its variable', async () => {
    const r = await host.kuke(['get', 'realms'], { env: { KUKEON_LOG_MAX_SIZE: 'banana' } });
    expect(expectOneLineError(r)).toMatch(/^Error: --log-max-size \(KUKEON_LOG_MAX_SIZE\) "banana": not a size; give a whole number of bytes/);
  });
});
