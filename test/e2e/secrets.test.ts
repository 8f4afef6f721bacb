/**
 * Secrets end to end (issue 11, item 3), through kukeond in its cell on a private containerd: a container reads a
 * secret as env and as a file on its own tmpfs, and the value is nowhere else — not under the run path outside the
 * secret store, not in `kuke history -o json`, not in `kuke get -o yaml`, not in the daemon's log. The container
 * proves it read the value by printing its sha256 (its log is under the run path too, so it must not print the value).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, until, useInitializedHost, type E2eHost } from '../support/e2e.js';

const hostOf = useInitializedHost({ subnet: '10.248.0.0/18', tag: 'sc', loadImage: true });
let host: E2eHost;
beforeAll(() => {
  host = hostOf();
});

const VALUE = `kk-${randomBytes(16).toString('hex')}`;
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** Every file under `root` but those under `except`. */
function filesUnder(root: string, except: string): string[] {
  if (root === except || !existsSync(root)) return [];
  return readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return [];
    return st.isDirectory() ? filesUnder(path, except) : st.isFile() ? [path] : [];
  });
}

const script = [
  'echo "env $(printf %s "$DB_PASSWORD" | sha256sum)"',
  'echo "file $(sha256sum < /run/secrets/db/password)"',
  'echo "mode $(stat -c "%a %u" /run/secrets/db/password)"',
  'echo "mount $(grep " /run/secrets " /proc/mounts | cut -d" " -f3,4)"',
  'exec sleep 3600',
].join('; ');

const consumer = (cell: string, secret = 'db', user = '0:0') => `
kind: Cell
metadata: {name: ${cell}}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
    - id: main
      image: kukeon.local/busybox:test
      user: "${user}"
      args: [sh, -c, ${JSON.stringify(script)}]
      env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: ${secret}, key: password}}
      secrets: [{name: ${secret}}]
`;

describe('secrets through the daemon', () => {
  it('gives a container the value as env and as a 0400 file on a tmpfs, and records it nowhere else', async () => {
    const created = await host.kuke(['create', 'secret', 'db', '--from-literal', `password=${VALUE}`, '--from-literal', 'user=app']);
    expect(created.code, created.stderr).toBe(0);
    const applied = await host.kuke(['apply', '-f', '-'], { input: consumer('reader') });
    expect(applied.code, applied.stderr).toBe(0);

    const log = join(host.runPath, 'logs', 'default', 'default', 'default', 'reader', 'reader_root.log');
    const out = await until(async () => readFileSync(log, 'utf8'), (text) => text.includes('mount '));
    expect(out).toContain(`env ${sha(VALUE)}  -`);
    expect(out).toContain(`file ${sha(VALUE)}  -`);
    expect(out).toContain('mode 400 0');
    expect(out).toMatch(/mount tmpfs \S*noexec/);

    // Nowhere under the run path but the store: events, read model, logs (the daemon's too), CNI and cell files.
    const store = join(host.runPath, 'secrets');
    const files = filesUnder(host.runPath, store);
    expect(files.some((f) => f.endsWith('kukeond.log'))).toBe(true);
    expect(files.filter((f) => readFileSync(f).includes(VALUE))).toEqual([]);
    // The value is in the store (so the search above could have found it, had it been written elsewhere).
    expect(filesUnder(store, '').some((f) => readFileSync(f, 'utf8').includes(Buffer.from(VALUE).toString('base64')))).toBe(true);

    for (const args of [['history', 'secret', 'db', '-o', 'json'], ['history', 'cell', 'reader', '-o', 'json'], ['history', 'daemon', '-o', 'json'], ['get', 'secrets', '-o', 'yaml'], ['get', 'cell', 'reader', '-o', 'yaml']]) {
      const r = await host.kuke(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout, args.join(' ')).not.toContain(VALUE);
    }
    const history = JSON.parse((await host.kuke(['history', 'secret', 'db', '-o', 'json'])).stdout) as { type: string; data: { keys: string[]; digest: string } }[];
    expect(history).toMatchObject([{ type: 'CreateSecret', data: { keys: ['password', 'user'] } }]);
    expect(history[0]!.data.digest).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect((await host.kuke(['get', 'secrets'])).stdout).toMatch(/\ndb +default +default +password,user +Ready +\d+s\n$/);
  }, 120_000);

  it("owns a secret's files by the container's user, who can read them", async () => {
    const applied = await host.kuke(['apply', '-f', '-'], { input: consumer('nobody', 'db', '1000:1000') });
    expect(applied.code, applied.stderr).toBe(0);
    const log = join(host.runPath, 'logs', 'default', 'default', 'default', 'nobody', 'nobody_root.log');
    const out = await until(async () => readFileSync(log, 'utf8'), (text) => text.includes('mount '));
    expect(out).toContain(`file ${sha(VALUE)}  -`);
    expect(out).toContain('mode 400 1000');
    const deleted = await host.kuke(['delete', 'cell', 'nobody']);
    expect(deleted.code, deleted.stderr).toBe(0);
  }, 60_000);

  it('keeps the store root-only: 0700 directories, 0600 files', () => {
    const store = join(host.runPath, 'secrets');
    const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
    const walk = (dir: string): string[] => [dir, ...readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]))];
    const entries = walk(store);
    expect(entries.length).toBeGreaterThanOrEqual(5); // root, key, realm, space, secret dir, version
    for (const p of entries) {
      expect({ p, mode: mode(p), uid: statSync(p).uid }).toEqual({ p, mode: statSync(p).isDirectory() ? '700' : '600', uid: 0 });
    }
  });

  it('fails the start of a cell whose secret does not exist, with one line naming it', async () => {
    const r = await host.kuke(['apply', '-f', '-'], { input: consumer('orphan', 'nope') });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/needs secret "nope", which does not exist in realm "default", space "default"/);
    const cells = await host.kuke(['get', 'cells']);
    expect(cells.stdout).toMatch(/\norphan +default +default +default +Failed/);
  }, 60_000);

  it('refuses to delete a secret a cell uses, on one line, and deletes it with --force', async () => {
    expect(expectOneLineError(await host.kuke(['delete', 'secret', 'db']))).toMatch(/secret "db" is used by cell\(s\) "reader" \(stack default\)/);
    expect((await host.kuke(['get', 'secrets'])).stdout).toMatch(/\ndb /);
    const forced = await host.kuke(['delete', 'secret', 'db', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect((await host.kuke(['get', 'secrets'])).stdout).toBe('No secrets found.\n');
    expect(existsSync(join(host.runPath, 'secrets', 'default'))).toBe(false);
  }, 60_000);
});
