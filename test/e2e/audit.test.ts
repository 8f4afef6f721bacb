/**
 * The audit trail and in-process mode, end to end: the seed's teardown of the daemon's own cell (done in-process
 * while the daemon runs) and `kuke init` restoring it, told by `kuke history`; `--since`, `--follow`, `-o json`;
 * `get --at`; parity of `get` through the daemon and `--no-daemon` for every kind; `kuke history verify` naming a
 * tampered record.
 */
import { execFileSync, spawn } from 'node:child_process';
import { ClassicLevel } from 'classic-level';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRecord, decodeRecord } from '../../src/store/hash.js';
import { expectOneLineError, KUKE, startE2eHost, type E2eHost } from '../support/e2e.js';

let host: E2eHost;
const SYS = ['--realm', 'kukeon-system', '--space', 'kukeon', '--stack', 'kukeon'];

interface EventJson {
  seq: number;
  type: string;
  from?: string;
  to?: string;
  at: string;
  actor: { type: string; name?: string; uid?: number; pid?: number };
  data: Record<string, unknown>;
}

beforeAll(async () => {
  host = await startE2eHost({ subnet: '10.255.128.0/18', tag: 'a' });
  const init = await host.local(['init']);
  if (init.code !== 0) throw new Error(init.stderr);
  await host.kuke(['image', 'load', host.testImage.path]);
  const cell = await host.kuke(['create', 'cell', 'web', '--image', host.testImage.ref, '--arg', 'sleep', '--arg', '3600', '--start']);
  if (cell.code !== 0) throw new Error(cell.stderr);
}, 180_000);
afterAll(async () => {
  await host?.cleanup();
}, 180_000);

describe('the seed teardown, told by history', () => {
  it('kills and deletes the daemon cell in-process while the daemon runs, then kuke init restores everything', async () => {
    const kill = await host.local(['kill', 'cell', 'kukeond', ...SYS]);
    expect(kill.code, kill.stderr).toBe(0);
    expect(kill.stdout).toBe('Killed cell "kukeond" from stack "kukeon"\n');
    const del = await host.local(['delete', 'cell', 'kukeond', ...SYS]);
    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout).toBe('Deleted cell "kukeond" from stack "kukeon"\n');
    const init = await host.local(['init']);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain('cell "kukeond": created');
    expect((await host.kuke(['get', 'cell', 'web', '-o', 'json'])).stdout).toContain('"state": "Ready"');

    const events = JSON.parse((await host.kuke(['history', 'cell', 'kukeond', ...SYS, '-o', 'json'])).stdout) as EventJson[];
    const types = events.map((e) => e.type);
    const killAt = types.lastIndexOf('StopCell');
    const kill_ = events[killAt]!;
    expect(kill_).toMatchObject({ data: { mode: 'kill' }, actor: { type: 'in-process', name: 'kuke (in-process)', uid: 0 } });
    const exit = events.slice(killAt).find((e) => e.type === 'TaskExited')!;
    expect(exit.data).toMatchObject({ code: 137, signal: 'SIGKILL' });
    const del_ = events.find((e) => e.type === 'DeleteCell')!;
    expect(del_.actor).toMatchObject({ type: 'in-process', name: 'kuke (in-process)' });
    expect(types.indexOf('CellDeleted')).toBeGreaterThan(types.indexOf('DeleteCell'));
    // Every start of the daemon is there, the one after the kill marked unclean (no DaemonStopped before it).
    const starts = events.filter((e) => e.type === 'DaemonStarted');
    expect(starts.length).toBe(2);
    expect(starts[1]!.data.uncleanShutdown).toBe(true);
    const table = (await host.kuke(['history', 'cell', 'kukeond', ...SYS])).stdout;
    expect(table.split('\n')[0]).toMatch(/^SEQ +TIME +EVENT +FROM → TO +ACTOR +DETAIL$/);
    expect(table).toMatch(/StopCell +Ready → Stopping +kuke \(in-process\) uid=0 pid=\d+ +kill \(SIGKILL\)/);
    expect(table).toMatch(/TaskExited +Stopping → Stopped +engine +kukeond_root: exit code 137 \(SIGKILL\)/);
  });
});

describe('history', () => {
  it('filters with --since (a seq or a time)', async () => {
    const all = JSON.parse((await host.kuke(['history', 'cell', 'web', '-o', 'json'])).stdout) as EventJson[];
    expect(all.length).toBeGreaterThan(4);
    const middle = all[3]!;
    const bySeq = JSON.parse((await host.kuke(['history', 'cell', 'web', '--since', String(middle.seq), '-o', 'json'])).stdout) as EventJson[];
    expect(bySeq[0]!.seq).toBe(middle.seq);
    const byTime = JSON.parse((await host.kuke(['history', 'cell', 'web', '--since', middle.at, '-o', 'json'])).stdout) as EventJson[];
    expect(byTime.every((e) => e.at >= middle.at)).toBe(true);
  });

  it('follows new events until interrupted, then ends cleanly', async () => {
    const child = spawn(process.execPath, [KUKE, 'history', 'cell', 'web', '--follow'], { env: host.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 1500));
    const before = out;
    const stop = await host.kuke(['stop', 'cell', 'web', '--timeout', '500ms']);
    expect(stop.code, stop.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    const code = await new Promise<number | null>((resolve) => {
      child.on('close', (c) => resolve(c));
      child.kill('SIGINT');
    });
    expect(code).toBe(0);
    const added = out.slice(before.length);
    expect(added).toMatch(/StopCell +Ready → Stopping/);
    expect(added).toMatch(/CellStopped +Stopping → Stopped/);
    await host.kuke(['start', 'cell', 'web']);
  });

  it('records who asked through the daemon as the kernel knows the caller: uid, gid and pid of the socket peer', async () => {
    const user = `kkaud${process.pid}`;
    execFileSync('useradd', ['--system', '--no-create-home', user]);
    // The test host lives in a 0700 temp dir; a real socket dir (/run/kukeon, 0750 root:kukeon) sits in /run.
    chmodSync(host.dir, 0o755);
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
      const gid = Number(execFileSync('getent', ['group', 'kukeon'], { encoding: 'utf8' }).split(':')[2]);
      const stop = await host.kuke(['stop', 'cell', 'web', '--timeout', '500ms'], { user: `${user}:kukeon` });
      expect(stop.code, stop.stderr).toBe(0);
      const events = JSON.parse((await host.kuke(['history', 'cell', 'web', '-o', 'json'])).stdout) as EventJson[];
      const asked = events.filter((e) => e.type === 'StopCell').at(-1)!;
      expect(asked.actor).toMatchObject({ type: 'user', uid, gid, name: 'kuke stop cell web --timeout 500ms' });
      expect(asked.actor.pid).toBeGreaterThan(1);
      expect(asked.actor.pid).not.toBe(host.daemonPid());
      const table = (await host.kuke(['history', 'cell', 'web'])).stdout;
      expect(table).toMatch(new RegExp(`StopCell +Ready → Stopping +user uid=${uid} pid=${asked.actor.pid} `));
    } finally {
      execFileSync('userdel', [user]);
      chmodSync(host.dir, 0o700);
      await host.kuke(['start', 'cell', 'web']);
    }
  });

  it('shows state as it was with get --at', async () => {
    const events = JSON.parse((await host.kuke(['history', 'cell', 'web', '-o', 'json'])).stdout) as EventJson[];
    const stopped = events.find((e) => e.type === 'CellStopped')!;
    const then = JSON.parse((await host.kuke(['get', 'cell', 'web', '--at', String(stopped.seq), '-o', 'json'])).stdout);
    expect(then.status.state).toBe('Stopped');
    const now = JSON.parse((await host.kuke(['get', 'cell', 'web', '-o', 'json'])).stdout);
    expect(now.status.state).toBe('Ready');
    const before = JSON.parse((await host.kuke(['get', 'cells', '--at', String(events[0]!.seq - 1), '-o', 'json'])).stdout);
    expect(before).toEqual([]);
  });
});

describe('in-process parity', () => {
  it('prints exactly what the daemon prints, for every kind', async () => {
    await host.kuke(['create', 'space', 'extra']);
    for (const args of [
      ['get', 'realms'],
      ['get', 'realm', 'default'],
      ['get', 'spaces'],
      ['get', 'stacks'],
      ['get', 'cells'],
      ['get', 'cell', 'web'],
      ['get', 'containers', '--cell', 'web'],
      ['get', 'cells', ...SYS],
      ['get', 'spaces', '--realm', 'kukeon-system'],
    ]) {
      for (const format of ['table', 'json', 'yaml']) {
        const daemon = await host.kuke([...args, '-o', format]);
        const local = await host.kuke([...args, '-o', format, '--no-daemon', '--run-path', host.runPath]);
        expect(daemon.code, daemon.stderr).toBe(0);
        // AGE is relative to "now", which moves between the two calls: compare everything else.
        const stable = (text: string) => (format === 'table' ? text.replace(/\d+[smhd]$/gm, '<age>') : text);
        expect(stable(local.stdout), `${args.join(' ')} -o ${format}`).toBe(stable(daemon.stdout));
      }
    }
    const missing = await host.kuke(['get', 'cell', 'nope', '--no-daemon', '--run-path', host.runPath]);
    expect(expectOneLineError(missing)).toBe(expectOneLineError(await host.kuke(['get', 'cell', 'nope'])));
  });

  it('refuses an in-process write while the daemon holds the log, saying so', async () => {
    const r = await host.local(['create', 'realm', 'other']);
    expect(expectOneLineError(r)).toMatch(/kukeond holds the event log at .*; in-process writes need it; run the command without --no-daemon\/--run-path/);
  });
});

describe('trust in the log', () => {
  it('verifies a healthy log, and names the first tampered record', async () => {
    const ok = await host.kuke(['history', 'verify']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^event log OK: \d+ records, head \d+/);
    const stop = await host.local(['daemon', 'stop']);
    expect(stop.code, stop.stderr).toBe(0);
    const db = new ClassicLevel<string, string>(join(host.runPath, 'events'));
    const seq = 5;
    const key = `log!${seq.toString(16).padStart(16, '0')}`;
    const original = (await db.get(key))!;
    const decoded = decodeRecord(original);
    if (!decoded.ok) throw new Error('setup');
    const { hash: _hash, ...rest } = decoded.record;
    // A careful forger recomputes the record's own hash: the chain still gives it away at the next record.
    await db.put(key, encodeRecord({ ...rest, actor: { type: 'user', uid: 1234 } }).value, { sync: true });
    await db.close();
    const bad = await host.local(['history', 'verify']);
    expect(expectOneLineError(bad)).toMatch(/^Error: event log damaged at record 6 \(hash-mismatch\)/);
    const json = await host.local(['history', 'verify', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, firstBad: { seq: 6 } });
    // Put it back: the daemon starts again on an intact log.
    const db2 = new ClassicLevel<string, string>(join(host.runPath, 'events'));
    await db2.put(key, original, { sync: true });
    await db2.close();
    expect((await host.local(['history', 'verify'])).code).toBe(0);
    expect((await host.local(['daemon', 'start'])).code).toBe(0);
  });
});
