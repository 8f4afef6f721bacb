/**
 * Container logs through the daemon, end to end (issue 9, item 10): the limits given to `kuke init` reach kukeond in
 * its cell, which rotates a chatty cell's log; `kuke delete cell` removes a cell's logs, `--keep-logs` keeps them.
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

  it('refuses a log size that is not a size, with one line naming the flag and its variable', async () => {
    const r = await host.kuke(['get', 'realms'], { env: { KUKEON_LOG_MAX_SIZE: 'banana' } });
    expect(expectOneLineError(r)).toMatch(/^Error: --log-max-size \(KUKEON_LOG_MAX_SIZE\) "banana": not a size; give a whole number of bytes/);
  });
});
