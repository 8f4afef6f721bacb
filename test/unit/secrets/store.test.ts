/**
 * The secret store on a real filesystem: root-only modes, atomic versions named by their keyed digest, and the
 * checks that turn a missing or altered version into NotFound or DataLoss.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorKind } from '../../../src/errors.js';
import { FileSecretStore, secretDigest } from '../../../src/runtime/secrets/store.js';
import { kindOf } from '../../support/thrown.js';

const ref = { realm: 'default', space: 'default', name: 'db' };
const data = { password: Buffer.from('hunter2'), user: Buffer.from('app') };

let dir: string;
let store: FileSecretStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kukeon-secrets-'));
  store = new FileSecretStore(join(dir, 'secrets'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;

describe('FileSecretStore', () => {
  it('keeps every directory 0700 and every file 0600', async () => {
    const digest = await store.put(ref, data);
    const root = join(dir, 'secrets');
    for (const d of [root, join(root, 'default'), join(root, 'default', 'default'), join(root, 'default', 'default', 'db')]) expect(mode(d)).toBe(0o700);
    expect(mode(join(root, 'digest.key'))).toBe(0o600);
    expect(mode(join(root, 'default', 'default', 'db', `${digest.slice('hmac-sha256:'.length)}.json`))).toBe(0o600);
  });

  it('tightens an existing store directory to 0700', async () => {
    const { mkdirSync, chmodSync } = await import('node:fs');
    mkdirSync(join(dir, 'secrets'), { mode: 0o755 });
    chmodSync(join(dir, 'secrets'), 0o755);
    await store.put(ref, data);
    expect(mode(join(dir, 'secrets'))).toBe(0o700);
  });

  it('reads back what it stored, under the digest put returned', async () => {
    const digest = await store.put(ref, data);
    expect(digest).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    const back = await store.get(ref, digest);
    expect(Object.fromEntries(Object.entries(back).map(([k, v]) => [k, v.toString()]))).toEqual({ password: 'hunter2', user: 'app' });
  });

  it('leaves no temporary file behind and writes nothing but the version file in the secret directory', async () => {
    const digest = await store.put(ref, data);
    expect(readdirSync(join(dir, 'secrets', 'default', 'default', 'db'))).toEqual([`${digest.slice(12)}.json`]);
    expect(readdirSync(join(dir, 'secrets')).sort()).toEqual(['default', 'digest.key']);
  });

  it('computes a keyed digest: the same data gives another digest under another key, and the value is not in it', async () => {
    const digest = await store.put(ref, data);
    expect(await store.digest(data)).toBe(digest);
    expect(secretDigest(Buffer.alloc(32, 1), data)).not.toBe(digest);
    expect(await store.digest({ password: Buffer.from('hunter3'), user: Buffer.from('app') })).not.toBe(digest);
    // Length-prefixed: moving bytes between key and value changes the digest.
    expect(secretDigest(Buffer.alloc(32), { ab: Buffer.from('c') })).not.toBe(secretDigest(Buffer.alloc(32), { a: Buffer.from('bc') }));
  });

  it('keeps its digest key across instances (digests stay comparable after a restart)', async () => {
    const digest = await store.put(ref, data);
    expect(await new FileSecretStore(join(dir, 'secrets')).digest(data)).toBe(digest);
  });

  it('says NotFound for a version that is missing', async () => {
    const digest = await store.put(ref, data);
    rmSync(join(dir, 'secrets', 'default', 'default', 'db'), { recursive: true });
    expect(await kindOf(store.get(ref, digest))).toBe(ErrorKind.NotFound);
  });

  it('says DataLoss for a version whose bytes were altered', async () => {
    const digest = await store.put(ref, data);
    const path = join(dir, 'secrets', 'default', 'default', 'db', `${digest.slice(12)}.json`);
    writeFileSync(path, readFileSync(path, 'utf8').replace(Buffer.from('hunter2').toString('base64'), Buffer.from('hunter9').toString('base64')));
    expect(await kindOf(store.get(ref, digest))).toBe(ErrorKind.DataLoss);
    writeFileSync(path, 'not json');
    expect(await kindOf(store.get(ref, digest))).toBe(ErrorKind.DataLoss);
  });

  it('prunes the versions other than the one kept, and with none kept removes the secret and empty parents', async () => {
    const first = await store.put(ref, data);
    const second = await store.put(ref, { password: Buffer.from('other') });
    await store.prune(ref, second);
    expect(await kindOf(store.get(ref, first))).toBe(ErrorKind.NotFound);
    expect((await store.get(ref, second)).password!.toString()).toBe('other');
    expect(await store.list()).toEqual([ref]);
    await store.prune(ref);
    expect(await store.list()).toEqual([]);
    expect(readdirSync(join(dir, 'secrets'))).toEqual(['digest.key']);
    await store.prune(ref); // missing: fine
  });
});
