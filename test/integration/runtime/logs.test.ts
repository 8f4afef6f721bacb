/**
 * Container logs on the real runtime (issue 9, item 10): containerd's shim writes them through a `file://` stdio
 * URI, the daemon's rotator copies and truncates them under a size limit while the shim keeps appending, and a
 * cell's delete removes its directory unless asked to keep it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CellTemplate } from '../../../events/specs.js';
import { runLayout } from '../../../src/engine/config.js';
import { LogRotator } from '../../../src/runtime/logs/rotator.js';
import { startHost, type TestHost } from '../../support/host.js';
import { waitFor } from '../../support/wait.js';

const actor = { actor: { type: 'user' as const, uid: 0 } };
let host: TestHost;
const ops = () => host.opened.operations;
const ref = (cell: string, stack = 't') => ({ realm: 'r1', space: 's1', stack, cell });
const cellDir = (cell: string, stack = 't') => join(runLayout(host.settings.engine.runPath).logs, 'r1', 's1', stack, cell);
const liveLog = (cell: string, stack = 't') => join(cellDir(cell, stack), `${cell}_root.log`);

function template(script: string): CellTemplate {
  const main = { name: 'main', image: host.image, command: [], args: ['sh', '-c', script], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' as const };
  return { root: 'main', containers: [main], labels: {} };
}

const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');

async function runCell(cell: string, script: string, stack = 't'): Promise<void> {
  await ops().createCell({ ...ref(cell, stack), template: template(script), start: true }, actor);
}

beforeAll(async () => {
  host = await startHost({ subnet: '10.249.0.0/16' });
  await ops().createRealm({ name: 'r1' }, actor);
  await host.importImage('r1');
  await ops().createSpace({ realm: 'r1', space: 's1' }, actor);
  for (const stack of ['t', 'u']) await ops().createStack({ realm: 'r1', space: 's1', stack }, actor);
}, 120_000);

afterAll(async () => {
  await host?.cleanup();
}, 120_000);

describe('container logs on the real runtime', () => {
  it('rotates a busy log under a small limit: bounded live file, at most max-file files, the newest lines live', async () => {
    const policy = { maxBytes: 64 * 1024, maxFiles: 3 };
    // 40 bursts of 500 numbered lines (about 46 KB each), one every 100 ms: 1.8 MB in all, then a last line.
    const pad = '.'.repeat(80);
    const script = `b=0; while [ $b -lt 40 ]; do seq $((b*500)) $((b*500+499)) | sed 's/.*/line & ${pad}/'; b=$((b+1)); usleep 100000; done; sleep 1; echo 'last line'; exec sleep 300`;
    const burst = 500 * `line 10000 ${pad}\n`.length;
    const rotator = new LogRotator(host.runtime.logs, policy, { intervalMs: 100 });
    rotator.start();
    const live = liveLog('busy');
    let largest = 0;
    let mostFiles = 0;
    try {
      await runCell('busy', script);
      const deadline = Date.now() + 60_000;
      while (!read(live).includes('last line') && Date.now() < deadline) {
        if (existsSync(live)) largest = Math.max(largest, statSync(live).size);
        const files = readdirSync(cellDir('busy')).filter((f) => f.startsWith('busy_root.log') && !f.endsWith('.rotating'));
        mostFiles = Math.max(mostFiles, files.length);
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await rotator.stop();
    }
    // One check's worth: the writer adds about two bursts between the end of one pass and the next (185 KB seen at
    // most); six leave room for a timer that slips on a loaded machine. Unrotated, the file would reach 1.8 MB.
    expect(largest).toBeGreaterThan(0);
    expect(largest).toBeLessThan(policy.maxBytes + 6 * burst);
    expect(mostFiles).toBeLessThanOrEqual(policy.maxFiles);
    expect(readdirSync(cellDir('busy')).sort()).toEqual(['busy_root.log', 'busy_root.log.1', 'busy_root.log.2']);

    const text = read(live);
    expect(text.endsWith('last line\n')).toBe(true);
    // The shim appends: after each truncate it wrote from offset 0, never past a hole.
    expect(text.includes('\0')).toBe(false);
    const numbers = (file: string) => [...read(file).matchAll(/^line (\d+) /gm)].map((m) => Number(m[1]));
    const older = numbers(`${live}.2`);
    const newer = numbers(`${live}.1`);
    expect(older.length).toBeGreaterThan(0);
    expect(newer.length).toBeGreaterThan(0);
    expect(Math.max(...older)).toBeLessThan(Math.min(...newer));
    expect([...older, ...newer, ...numbers(live)]).toContain(19_999);
  }, 120_000);

  it("removes a cell's log directory when the cell is deleted, and the stack's directory once it is empty", async () => {
    await runCell('gone', 'echo bye; exec sleep 300', 'u');
    await runCell('stays', 'echo hello; exec sleep 300', 'u');
    await waitFor(() => read(liveLog('gone', 'u')).includes('bye') && read(liveLog('stays', 'u')).includes('hello'), Boolean, { what: 'both logs' });
    await ops().deleteCell(ref('gone', 'u'), actor);
    expect(existsSync(cellDir('gone', 'u'))).toBe(false);
    expect(read(liveLog('stays', 'u'))).toBe('hello\n');
    await ops().deleteCell(ref('stays', 'u'), actor);
    expect(existsSync(dirname(cellDir('stays', 'u')))).toBe(false);
    expect(existsSync(cellDir('busy'))).toBe(true);
  }, 120_000);

  it('keeps the logs of a cell deleted with keepLogs', async () => {
    await runCell('kept', 'echo keep me; exec sleep 300');
    await waitFor(() => read(liveLog('kept')).includes('keep me'), Boolean, { what: 'the log line' });
    await ops().deleteCell({ ...ref('kept'), keepLogs: true }, actor);
    expect(() => ops().getCell(ref('kept'))).toThrow(/not found/);
    expect(read(liveLog('kept'))).toBe('keep me\n');
  }, 120_000);

  it("removes the logs of every cell a cascade deletes, and the directories left empty up to the realm's", async () => {
    await ops().createRealm({ name: 'r2' }, actor);
    await host.importImage('r2');
    await ops().createSpace({ realm: 'r2', space: 's1' }, actor);
    await ops().createStack({ realm: 'r2', space: 's1', stack: 't' }, actor);
    for (const cell of ['a', 'b']) {
      await ops().createCell({ realm: 'r2', space: 's1', stack: 't', cell, template: template(`echo ${cell}; exec sleep 300`), start: true }, actor);
    }
    const realmDir = join(runLayout(host.settings.engine.runPath).logs, 'r2');
    await waitFor(() => ['a', 'b'].every((c) => read(join(realmDir, 's1', 't', c, `${c}_root.log`)) === `${c}\n`), Boolean, { what: 'both logs' });
    await ops().deleteRealm({ realm: 'r2', cascade: true }, actor);
    expect(existsSync(realmDir)).toBe(false);
    expect(existsSync(liveLog('kept'))).toBe(true);
  }, 120_000);
});
