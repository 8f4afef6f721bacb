/**
 * `kuke create|get|delete|history secret` as the user sees them (in-process client over the fake runtime): values go
 * in, and never come out — not in tables, not in -o json|yaml, not in history, not in error lines.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineBackend } from '../../../src/api/backend.js';
import { redactSecretArgs } from '../../../src/api/grpc-client.js';
import type { KukeonClient } from '../../../src/api/client.js';
import { secretDataOf } from '../../../src/cli/commands/secret.js';
import { runKuke } from '../../../src/cli/program.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { openEngine } from '../../../src/engine/index.js';
import { ErrorKind, KukeError } from '../../../src/errors.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { MemoryStore } from '../../support/memory-store.js';

const VALUE = 'sEcr3t-value-0042';
const dir = mkdtempSync(join(tmpdir(), 'kukeon-cli-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function kukeWith(client: KukeonClient, argv: string[]) {
  let out = '';
  let err = '';
  const code = await runKuke(argv, { out: (t) => (out += t), err: (t) => (err += t) }, { daemon: async () => client, inProcess: async () => client }, {});
  return { code, out, err };
}

async function backend(): Promise<KukeonClient> {
  const world = new FakeWorld();
  world.addImage('busybox');
  const opened = await openEngine({ store: new MemoryStore(catalogCodec), runtime: world.runtime(), config: { runPath: '/tmp/kukeon-cli-unit', ipMasq: false } });
  const b = new EngineBackend(opened, world.runtime(), { type: 'user', uid: 0 });
  await b.createRealm({ name: 'default' });
  await b.createSpace({ realm: 'default', space: 'default' });
  return b;
}

describe('kuke secrets', () => {
  it('creates a secret from literals and files, and shows its keys but never a value', async () => {
    const client = await backend();
    const file = join(dir, 'tls.key');
    writeFileSync(file, `file-${VALUE}`);
    const created = await kukeWith(client, ['create', 'secret', 'db', '--from-literal', `password=${VALUE}`, '--from-file', file, '--from-file', `cert=${file}`]);
    expect(created).toMatchObject({ code: 0, err: '' });
    expect(created.out).toBe('Secret "db" (realm "default", space "default", keys cert, password, tls.key): created\n');
    const table = await kukeWith(client, ['get', 'secrets']);
    expect(table.out).toMatch(/^NAME +REALM +SPACE +KEYS +STATE +AGE\n-+ .*\ndb +default +default +cert,password,tls\.key +Ready +\d+s\n$/);
    for (const format of ['json', 'yaml', 'wide']) {
      const r = await kukeWith(client, ['get', 'secret', 'db', '-o', format]);
      expect(r.code).toBe(0);
      expect(r.out).toContain('db');
      expect(r.out).not.toContain(VALUE);
    }
    const doc = JSON.parse((await kukeWith(client, ['get', 'secret', 'db', '-o', 'json'])).out);
    expect(doc).toMatchObject({ apiVersion: 'v1beta1', kind: 'Secret', metadata: { name: 'db' }, spec: { realmId: 'default', spaceId: 'default' }, status: { state: 'Ready', keys: ['cert', 'password', 'tls.key'] } });
    expect(Object.keys(doc.spec)).toEqual(['realmId', 'spaceId']);
    const history = await kukeWith(client, ['history', 'secret', 'db', '-o', 'json']);
    expect(JSON.parse(history.out)).toMatchObject([{ type: 'CreateSecret', data: { keys: ['cert', 'password', 'tls.key'] } }]);
    expect(history.out).not.toContain(VALUE);
    expect((await kukeWith(client, ['history', 'secret', 'db'])).out).toMatch(/CreateSecret .* keys cert, password, tls\.key; digest hmac-sha256:/);
  });

  it('says so when the same secret is created again, and refuses other data on one line', async () => {
    const client = await backend();
    await kukeWith(client, ['create', 'secret', 'db', '--from-literal', `password=${VALUE}`]);
    expect((await kukeWith(client, ['create', 'secret', 'db', '--from-literal', `password=${VALUE}`])).out).toMatch(/already existed with the same data/);
    const other = await kukeWith(client, ['create', 'secret', 'db', '--from-literal', 'password=other']);
    expect(other.code).toBe(1);
    expect(other.err.trim().split('\n')).toHaveLength(1);
    expect(other.err).toMatch(/secret "db" in realm "default", space "default" already exists with other data/);
    expect(other.err).not.toContain('other\n');
  });

  it('refuses bad input on one line without echoing a value, and creates nothing', async () => {
    const client = await backend();
    for (const argv of [
      ['create', 'secret', 'db'],
      ['create', 'secret', 'db', '--from-literal', VALUE],
      ['create', 'secret', 'db', '--from-literal', `=${VALUE}`],
      ['create', 'secret', 'db', '--from-literal', `a=${VALUE}`, '--from-literal', `a=${VALUE}`],
      ['create', 'secret', 'db', '--from-literal', `bad/key=${VALUE}`],
      ['create', 'secret', 'Bad', '--from-literal', `a=${VALUE}`],
      ['create', 'secret', 'db', '--from-file', join(dir, 'missing')],
      ['create', 'secret', 'db', '--space', 'nowhere', '--from-literal', `a=${VALUE}`],
    ]) {
      const r = await kukeWith(client, argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.err.trim().split('\n'), argv.join(' ')).toHaveLength(1);
      expect(r.err, argv.join(' ')).not.toContain(VALUE);
    }
    expect((await kukeWith(client, ['get', 'secrets'])).out).toBe('No secrets found.\n');
  });

  it('deletes a secret, and says NotFound for one that does not exist', async () => {
    const client = await backend();
    await kukeWith(client, ['create', 'secret', 'db', '--from-literal', `password=${VALUE}`]);
    expect((await kukeWith(client, ['delete', 'secret', 'db'])).out).toBe('Deleted secret "db" from space "default"\n');
    const again = await kukeWith(client, ['delete', 'secret', 'db']);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/secret "db" not found in realm "default", space "default"/);
  });
});

describe('redactSecretArgs', () => {
  it('hides the values of --from-literal in the command line the daemon records, in both spellings', () => {
    expect(redactSecretArgs(['create', 'secret', 'db', '--from-literal', `password=${VALUE}`, `--from-literal=user=${VALUE}`, '--from-literal', VALUE, '--from-file', 'k=/p'])).toEqual([
      'create', 'secret', 'db', '--from-literal', 'password=…', '--from-literal=user=…', '--from-literal', '…', '--from-file', 'k=/p',
    ]);
  });
});

describe('secretDataOf', () => {
  it('keys a file by its name unless given, and keeps bytes as they are', () => {
    const data = secretDataOf(['a=b=c'], ['/x/y.pem', 'k=/z'], (p) => Buffer.from(p));
    expect(Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString()]))).toEqual({ a: 'b=c', 'y.pem': '/x/y.pem', k: '/z' });
  });

  it('refuses a literal without "=" without quoting it', () => {
    const err = (() => {
      try {
        secretDataOf([VALUE], []);
      } catch (e) {
        return e as KukeError;
      }
      return undefined;
    })();
    expect(err?.kind).toBe(ErrorKind.InvalidArgument);
    expect(err?.message).not.toContain(VALUE);
  });
});
