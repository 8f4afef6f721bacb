/**
 * A damaged log stops the daemon with a hint that works (issue 9, item 6): kukeond refuses to serve a log with a
 * gap, `kuke daemon start` says the same in one line naming `kuke history repair`, the repair keeps every record
 * before the damage, keeps the damaged files aside and records the cut, and the daemon then starts again.
 */
import { ClassicLevel } from 'classic-level';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectOneLineError, KUKE, runNode, useInitializedHost } from '../support/e2e.js';

const KUKEOND = join(KUKE, '..', 'kukeond.mjs');
const SYS = ['--realm', 'kukeon-system', '--space', 'kukeon', '--stack', 'kukeon'];

const current = useInitializedHost({ subnet: '10.253.0.0/18', tag: 'dl' });

const headSeq = async (run: (args: string[]) => Promise<{ stdout: string }>) => (JSON.parse((await run(['history', 'verify', '-o', 'json'])).stdout) as { headSeq: number }).headSeq;

describe('a damaged log', () => {
  it('stops kukeond and kuke daemon start with one line naming the repair, which brings the daemon back', async () => {
    const host = current();
    const before = await headSeq(host.kuke);
    const stop = await host.local(['daemon', 'stop']);
    expect(stop.code, stop.stderr).toBe(0);
    const after = await headSeq(host.local);
    expect(after).toBeGreaterThan(before);

    // Lose the first record the stop wrote (a hole, as a bad sector would leave), behind the daemon's back.
    const gap = before + 1;
    const db = new ClassicLevel<string, string>(join(host.runPath, 'events'));
    await db.del(`log!${gap.toString(16).padStart(16, '0')}`, { sync: true });
    await db.close();

    // kukeond itself: exit 1, one line, what is wrong and the command that repairs it.
    const daemon = await runNode([KUKEOND, '--run-path', host.runPath], host.env);
    expect(daemon.code).toBe(1);
    const lines = daemon.stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^kukeond: event log .*: record ${gap}: missing.*sudo kuke history repair --run-path ${host.runPath} `));
    expect(existsSync(host.socket)).toBe(false);

    const start = await host.local(['daemon', 'start']);
    expect(expectOneLineError(start)).toMatch(new RegExp(`record ${gap}: missing .*kuke history repair --run-path ${host.runPath}`));
    expect(start.stderr).not.toMatch(/bug/);

    const repair = await host.local(['history', 'repair']);
    expect(repair.code, repair.stderr).toBe(0);
    const backup = /the damaged files are in (\S+)\n$/.exec(repair.stdout)?.[1];
    expect(repair.stdout).toMatch(new RegExp(`^event log repaired: kept records 1…${before}, cut records ${gap}…${after} \\(.*record ${gap}: missing`));
    expect(backup).toMatch(new RegExp(`^${host.runPath}/events\\.damaged-\\d{8}T\\d{6}Z$`));
    expect(existsSync(join(backup!, 'CURRENT'))).toBe(true);

    const verify = await host.local(['history', 'verify']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^event log OK: ${before + 1} records, head ${before + 1} `));
    const again = await host.local(['history', 'repair']);
    expect(again.stdout).toBe(`event log OK: ${before + 1} records; nothing to repair\n`);

    const restarted = await host.local(['daemon', 'start']);
    expect(restarted.code, restarted.stderr).toBe(0);
    const history = await host.kuke(['history', 'cell', 'kukeond', ...SYS]);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toMatch(new RegExp(`LogRepaired .*records ${gap}…${after} cut, kept 1…${before} `));
    const cells = await host.kuke(['get', 'cells', ...SYS]);
    expect(cells.stdout).toMatch(/\nkukeond +kukeon-system +kukeon +kukeon +Ready/);
  });

  it('refuses to repair while kukeond holds the log, saying how to stop it, and changes nothing', async () => {
    const host = current();
    const before = await headSeq(host.kuke);
    const r = await host.local(['history', 'repair']);
    expect(expectOneLineError(r)).toMatch(/holds the event log at .*; nothing was changed; stop it first: sudo kuke daemon stop$/);
    expect(await headSeq(host.kuke)).toBe(before);
  });
});
