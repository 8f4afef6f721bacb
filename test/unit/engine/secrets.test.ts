/**
 * Secrets through the engine (issue 11), on the fake runtime: the log records keys and a digest, never a value; create,
 * apply and delete behave as for other kinds; a container's start reads its secrets, and fails its cell with one line
 * when one is missing; reconcile notices a store that lost or changed a secret's data.
 */
import { describe, expect, it } from 'vitest';
import { openEngine } from '../../../src/engine/index.js';
import { applyManifest } from '../../../src/engine/apply.js';
import { SecretOperations, withSecrets } from '../../../src/engine/secrets.js';
import { ErrorKind } from '../../../src/errors.js';
import type { ContainerSpec } from '../../../src/runtime/ports.js';
import { CONFIG, ref, setupEngine, template, user } from '../../support/fake-engine.js';
import { kindOf } from '../../support/thrown.js';

const VALUE = 'v4lue-that-must-not-leak';
const place = { realm: 'default', space: 'default' };
const db = { ...place, name: 'db', data: { password: Buffer.from(VALUE), user: Buffer.from('app') } };

async function setup() {
  const s = await setupEngine();
  return { ...s, secrets: new SecretOperations(s.engine) };
}

/** A cell whose root reads `db` as env PASSWORD and as files. */
function consumer() {
  const t = template();
  t.containers[0] = { ...t.containers[0]!, secretEnv: [{ name: 'PASSWORD', secretKeyRef: { name: 'db', key: 'password' } }], secrets: [{ name: 'db' }] } as never;
  return t;
}

describe('secrets in the engine', () => {
  it('records the keys and a digest of a new secret, and no value anywhere in the log', async () => {
    const { secrets, store } = await setup();
    const { view, action } = await secrets.put(db, user, 'create');
    expect(action).toBe('created');
    expect(view).toMatchObject({ kind: 'Secret', name: 'db', keys: ['password', 'user'], state: 'Ready' });
    const record = store.records.find((r) => r.type === 'CreateSecret')!;
    expect(record.stream).toBe('secret/default/default/db');
    expect(record.data).toEqual({ keys: ['password', 'user'], digest: view.digest, labels: {} });
    expect(JSON.stringify(store.records)).not.toContain(VALUE);
    expect(JSON.stringify(store.records)).not.toContain(Buffer.from(VALUE).toString('base64'));
  });

  it('leaves a secret with the same data unchanged, refuses other data on create, and updates it on apply', async () => {
    const { secrets, store, world } = await setup();
    const created = await secrets.put(db, user, 'create');
    expect((await secrets.put(db, user, 'create')).action).toBe('unchanged');
    const other = { ...db, data: { password: Buffer.from('new') } };
    expect(await kindOf(secrets.put(other, user, 'create'))).toBe(ErrorKind.AlreadyExists);
    const applied = await secrets.put(other, user, 'apply');
    expect(applied.action).toBe('updated');
    expect(applied.view.keys).toEqual(['password']);
    expect(applied.view.digest).not.toBe(created.view.digest);
    expect(store.records.filter((r) => r.type === 'UpdateSecret')).toHaveLength(1);
    // Only the version the log names is kept.
    expect([...world.secrets.versions.get('default/default/db')!.keys()]).toEqual([applied.view.digest]);
  });

  it('refuses a key Kubernetes would refuse, empty data, and a space that does not exist, appending nothing', async () => {
    const { secrets, store } = await setup();
    const head = store.head().seq;
    expect(await kindOf(secrets.put({ ...db, data: { 'bad/key': Buffer.from('x') } }, user, 'create'))).toBe(ErrorKind.InvalidArgument);
    expect(await kindOf(secrets.put({ ...db, data: { '..': Buffer.from('x') } }, user, 'create'))).toBe(ErrorKind.InvalidArgument);
    expect(await kindOf(secrets.put({ ...db, data: {} }, user, 'create'))).toBe(ErrorKind.InvalidArgument);
    expect(await kindOf(secrets.put({ ...db, name: 'Bad_Name' }, user, 'create'))).toBe(ErrorKind.InvalidArgument);
    expect(await kindOf(secrets.put({ ...db, space: 'nowhere' }, user, 'create'))).toBe(ErrorKind.NotFound);
    expect(store.head().seq).toBe(head);
  });

  it('refuses to delete a secret a cell uses unless forced, and removes its stored data', async () => {
    const { secrets, ops, store, world } = await setup();
    await secrets.put(db, user, 'create');
    await ops.createCell({ ...ref, template: consumer() }, user);
    expect(secrets.usersOf(db)).toEqual(['default/web']);
    const head = store.head().seq;
    expect(await kindOf(secrets.delete(db, user))).toBe(ErrorKind.FailedPrecondition);
    expect(store.head().seq).toBe(head);
    await secrets.delete({ ...db, force: true }, user);
    expect(secrets.list(place)).toEqual([]);
    expect(store.records.at(-1)).toMatchObject({ type: 'DeleteSecret', data: { users: ['default/web'], force: true }, to: 'Deleted' });
    expect(world.secrets.versions.size).toBe(0);
    expect(await kindOf(secrets.delete(db, user))).toBe(ErrorKind.NotFound);
  });

  it('refuses to delete a space that holds secrets, and takes them with it on --cascade', async () => {
    const { secrets, ops, world } = await setup();
    await ops.createSpace({ realm: 'default', space: 'other' }, user);
    await secrets.put({ ...db, space: 'other' }, user, 'create');
    const err = await ops.deleteSpace({ realm: 'default', space: 'other' }, user).then(() => undefined, (e: unknown) => e as { kind: string; message: string });
    expect(err).toMatchObject({ kind: ErrorKind.FailedPrecondition, message: 'space "other" in realm "default" has 1 secret(s)' });
    await ops.deleteSpace({ realm: 'default', space: 'other', cascade: true }, user);
    expect(secrets.list({ realm: 'default' })).toEqual([]);
    expect(world.secrets.versions.size).toBe(0);
  });

  it('gives a starting container its secrets as env and as files, and records neither', async () => {
    const { secrets, ops, store, world } = await setup();
    await secrets.put(db, user, 'create');
    const { view } = await ops.createCell({ ...ref, template: consumer(), start: true }, user);
    expect(view.state).toBe('Ready');
    const installed = world.secrets.installed.get(view.rootPid!)!;
    expect(installed.dir).toBe('/run/secrets');
    expect(installed.files.map((f) => [f.path, f.data.toString()])).toEqual([
      ['db/password', VALUE],
      ['db/user', 'app'],
    ]);
    expect(JSON.stringify(store.records)).not.toContain(VALUE);
    expect(JSON.stringify(ops.getCell(ref))).not.toContain(VALUE);
  });

  it('fails the start of a cell whose secret is missing, or lacks the key, with one line naming it', async () => {
    const { secrets, ops } = await setup();
    const err = await ops.createCell({ ...ref, template: consumer(), start: true }, user).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/needs secret "db", which does not exist in realm "default", space "default"/);
    expect(ops.getCell(ref).state).toBe('Failed');
    await secrets.put({ ...db, data: { user: Buffer.from('app') } }, user, 'create');
    const err2 = await ops.startCell(ref, user).then(() => undefined, (e: unknown) => e as Error);
    expect(err2?.message).toMatch(/secret "db" has no key "password" \(for PASSWORD\)/);
    expect(err2?.message).not.toContain('\n');
  });

  it('marks a secret Failed at reconcile when the store lost its data, and a re-apply heals it', async () => {
    const { secrets, opened, store, world } = await setup();
    await secrets.put(db, user, 'create');
    await opened.close();
    world.secrets.versions.clear();
    const reopened = await openEngine({ store, runtime: world.runtime(), config: CONFIG });
    const again = new SecretOperations(reopened.engine);
    const [view] = again.list(place);
    expect(view).toMatchObject({ state: 'Failed', error: { kind: ErrorKind.NotFound } });
    expect(view!.error!.message).toMatch(/secret "db"/);
    expect(store.records.at(-1)).toMatchObject({ type: 'ReconcileFailed', actor: { type: 'reconcile' }, data: { step: 'checkSecrets' } });
    expect((await again.put(db, user, 'apply')).view.state).toBe('Ready');
    await reopened.close();
  });

  it('removes at reconcile the stored versions no event names (a crash between the write and the append)', async () => {
    const { secrets, opened, store, world } = await setup();
    await secrets.put(db, user, 'create');
    await world.secrets.put({ ...place, name: 'db' }, { password: Buffer.from('never appended') });
    await world.secrets.put({ ...place, name: 'ghost' }, { k: Buffer.from('v') });
    await opened.close();
    const reopened = await openEngine({ store, runtime: world.runtime(), config: CONFIG });
    expect([...world.secrets.versions.keys()]).toEqual(['default/default/db']);
    expect(world.secrets.versions.get('default/default/db')!.size).toBe(1);
    await reopened.close();
  });
});

describe('kind: Secret in kuke apply', () => {
  const manifest = (password: string) => `
kind: Secret
metadata: {name: db}
spec: {realmId: default, spaceId: fresh, stringData: {password: ${password}}}
---
kind: Cell
metadata: {name: web}
spec:
  realmId: default
  spaceId: fresh
  stackId: app
  containers:
    - id: main
      image: busybox
      env: [{name: PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]
`;

  it('creates the secret (and its space) before the cell that uses it, then updates it on a re-apply with other data', async () => {
    const { ops, store, world } = await setup();
    const results = await applyManifest(ops, manifest(VALUE), user);
    expect(results.map((r) => [r.kind, r.action])).toEqual([
      ['Secret', 'created'],
      ['Cell', 'created'],
    ]);
    const cell = ops.getCell({ realm: 'default', space: 'fresh', stack: 'app', cell: 'web' });
    expect(cell.state).toBe('Ready');
    expect(world.containers.get('default.kukeon.io/fresh_app_web_root')?.spec.env).toContain(`PASSWORD=${VALUE}`);
    expect((await applyManifest(ops, manifest(VALUE), user))[0]!.action).toBe('unchanged');
    expect((await applyManifest(ops, manifest('other'), user))[0]).toMatchObject({ kind: 'Secret', action: 'updated' });
    expect(JSON.stringify(store.records)).not.toContain(VALUE);
  });
});

describe('withSecrets', () => {
  const spec: ContainerSpec = { namespace: 'n', id: 'i', image: 'busybox', env: ['A=1', 'PASSWORD=plain'], mounts: [] } as never;
  it('adds the env after the template env and a noexec tmpfs at /run/secrets only when files are mounted', () => {
    const t = consumer().containers[0]!;
    const out = withSecrets(spec, t, { env: ['PASSWORD=s'], files: [{ path: 'db/password', data: Buffer.from('s') }] });
    expect(out.env).toEqual(['A=1', 'PASSWORD=plain', 'PASSWORD=s']);
    expect(out.mounts).toEqual([{ type: 'tmpfs', target: '/run/secrets', options: ['noexec', 'mode=755', `size=${64 * 1024 + 4096}`] }]);
    expect(withSecrets(spec, { ...t, secrets: undefined } as never, { env: ['PASSWORD=s'], files: [] }).mounts).toEqual([]);
    expect(withSecrets(spec, template().containers[0]! as never, { env: [], files: [] })).toBe(spec);
  });
});
