/**
 * Issue 9, seen on main: a realm whose `spec.namespace` containerd refuses (`Bad NS!`) went Failed, and then
 * `kuke daemon restart` died on `listing containers in Bad NS!: namespace validation …`, as did `kuke delete realm …
 * --cascade --force --run-path …`. Here the log holds such realms (written through the store while the daemon is
 * down, as an older version could have), and `kuke`/`kukeond` run as processes against a real containerd: the daemon
 * starts and restarts, shows the realms Failed with containerd's reason, serves the rest, and `delete --force` (in
 * process and through the daemon) removes them; the restart after that is clean.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogCodec } from '../../src/engine/codec.js';
import { runLayout } from '../../src/engine/config.js';
import { LevelEventLog } from '../../src/store/event-log.js';
import { appendBrickedRealm } from '../support/bricked-log.js';
import { cellManifest, startE2eHost, until, type E2eHost } from '../support/e2e.js';
import { statusesOf } from '../support/documents.js';

let host: E2eHost;

interface Row {
  name: string;
  state: string;
  error: { kind: string; message: string } | null;
}

async function get(kind: 'realms' | 'cells'): Promise<Row[]> {
  const r = await host.kuke(['get', kind, '-o', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return statusesOf<Row>(r.stdout);
}

async function ok(args: string[], via: 'daemon' | 'local' = 'daemon') {
  const r = via === 'daemon' ? await host.kuke(args) : await host.local(args);
  expect(r.code, `kuke ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
  return r;
}

beforeAll(async () => {
  host = await startE2eHost({ subnet: '10.253.0.0/18', tag: 'b' });
  await ok(['init'], 'local');
  await ok(['image', 'load', host.testImage.path]);
  const r = await host.kuke(['apply', '-f', '-'], { input: cellManifest('web', [{ id: 'main', args: ['sleep', '3600'] }]) });
  if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  await ok(['daemon', 'stop', '--timeout', '5s'], 'local');
  const store = await LevelEventLog.open(runLayout(host.runPath).eventLog, { codec: catalogCodec });
  // `bad` was caught Creating (its provisioning never reported back); `worse` went Failed before the daemon stopped.
  await appendBrickedRealm(store, { realm: 'bad', state: 'Creating' });
  await appendBrickedRealm(store, { realm: 'worse', namespace: 'Worse NS!', state: 'Failed' });
  await store.close();
}, 300_000);

afterAll(async () => {
  await host?.cleanup();
}, 300_000);

describe('a log holding realms containerd refuses', () => {
  it('is force-deleted in-process while the daemon is down (kuke delete realm … --cascade --force --run-path)', async () => {
    const r = await ok(['delete', 'realm', 'worse', '--cascade', '--force'], 'local');
    expect(r.stdout).toBe('Deleted realm "worse" (forced)\n');
    expect(r.stderr).toMatch(/^warning: left behind: containers in containerd namespace Worse NS! /);
  });

  it('does not stop the daemon from starting, nor from restarting: the realm is Failed with the reason, the rest served', async () => {
    await ok(['daemon', 'start'], 'local');
    const bad = await until(() => get('realms'), (rs) => rs.find((x) => x.name === 'bad')?.state === 'Failed');
    expect(bad.map((x) => x.name).sort()).toEqual(['bad', 'default', 'kukeon-system']);
    expect(bad.find((x) => x.name === 'bad')!.error).toMatchObject({ kind: 'InvalidArgument', message: expect.stringContaining('Bad NS!') });
    await ok(['daemon', 'restart'], 'local');
    expect((await get('realms')).find((x) => x.name === 'bad')?.state).toBe('Failed');
    expect((await get('cells')).map((c) => [c.name, c.state])).toEqual([['web', 'Ready']]);
    // Still takes commands.
    await ok(['create', 'cell', 'more', '--image', 'kukeon.local/busybox:test', '--arg', 'sleep', '--arg', '3600', '--start']);
  });

  it('is force-deleted through the daemon, what containerd refused is in its history, and the next restart is clean', async () => {
    const r = await ok(['delete', 'realm', 'bad', '--force']);
    expect(r.stdout).toBe('Deleted realm "bad" (forced)\n');
    // What was left behind comes back through the API, one warning line each, with where it is recorded.
    expect(r.stderr).toMatch(/^warning: left behind: containers in containerd namespace Bad NS! \(InvalidArgument: .*\); recorded in: kuke history realm bad\n$/);
    expect((await get('realms')).map((x) => x.name).sort()).toEqual(['default', 'kukeon-system']);
    const history = JSON.parse((await ok(['history', 'realm', 'bad', '-o', 'json'])).stdout) as { type: string; data: { leftovers?: { resource: string }[] }; actor: { type: string } }[];
    const forced = history.at(-1)!;
    expect(forced.type).toBe('ForceDeleted');
    expect(forced.data.leftovers!.map((l) => l.resource)).toEqual(['containers in containerd namespace Bad NS!']);
    const table = (await ok(['history', 'realm', 'bad'])).stdout;
    expect(table).toMatch(/ForceDeleted .*left behind: containers in containerd namespace Bad NS! \(.*namespace/);

    await ok(['daemon', 'restart'], 'local');
    const log = (await ok(['daemon', 'logs'], 'local')).stdout;
    const lastStart = log.slice(log.lastIndexOf('kukeond starting'));
    expect(lastStart).toMatch(/"stepFailures":0/);
    expect((await get('cells')).map((c) => [c.name, c.state]).sort()).toEqual([['more', 'Ready'], ['web', 'Ready']]);
  });
});
