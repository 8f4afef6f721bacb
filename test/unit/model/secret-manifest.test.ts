/**
 * Secrets in manifests (issue 11): `kind: Secret` with Kubernetes' base64 `data` and plain `stringData`, and
 * containers that consume secrets through `env` entries in Kubernetes' spelling (valueFrom.secretKeyRef) and
 * `secrets: [{name}]` (files under /run/secrets/<name>/). A refusal never quotes a value.
 */
import { describe, expect, it } from 'vitest';
import { ErrorKind, isKukeError, type KukeError } from '../../../src/errors.js';
import { CONTAINER_FIELDS } from '../../../src/model/documents.js';
import { parseManifests } from '../../../src/model/manifest.js';
import { thrown } from '../../support/thrown.js';

const VALUE = 'do-not-print-me';
const b64 = Buffer.from(VALUE).toString('base64');

function problem(text: string): KukeError {
  const err = thrown(() => parseManifests(text));
  if (!isKukeError(err)) throw new Error('expected a KukeError');
  return err;
}

const secret = (spec: string) => `kind: Secret\nmetadata: {name: db, labels: {app: web}}\nspec: {realmId: lab, spaceId: net1, ${spec}}\n`;

const consumer = `
kind: Cell
metadata: {name: web}
spec:
  realmId: lab
  spaceId: net1
  stackId: app
  containers:
    - id: main
      image: kukeon.local/busybox:test
      env:
        - A=1
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
      secrets: [{name: db}, {name: tls}]
`;

describe('Secret documents', () => {
  it('decodes base64 data and takes stringData as text, stringData winning for a key in both', () => {
    const [doc] = parseManifests(secret(`data: {password: ${b64}, user: ${Buffer.from('x').toString('base64')}}, stringData: {user: app, 'tls.key': "k"}, type: Opaque`));
    expect(doc).toMatchObject({ kind: 'Secret', name: 'db', realm: 'lab', space: 'net1', labels: { app: 'web' } });
    if (doc?.kind !== 'Secret') throw new Error('not a secret');
    expect(Object.fromEntries(Object.entries(doc.data).map(([k, v]) => [k, v.toString()]))).toEqual({ password: VALUE, user: 'app', 'tls.key': 'k' });
  });

  it('orders secrets after spaces and before the cells that use them', () => {
    const docs = parseManifests(`${consumer}---\n${secret('stringData: {password: x}')}---\nkind: Space\nmetadata: {name: net1}\nspec: {realmId: lab}\n`);
    expect(docs.map((d) => d.kind)).toEqual(['Space', 'Secret', 'Cell']);
  });

  it.each([
    [secret(`data: {password: "not base64!${VALUE}"}`), 'spec.data.password: is not base64'],
    [secret(`stringData: {password: 12345}`), 'spec.stringData.password: must be a string'],
    [secret(`stringData: {"bad/key": ${VALUE}}`), 'invalid key'],
    [secret(`stringData: {}`), 'spec.data or spec.stringData must hold at least one key'],
    [secret(`stringData: {a: ${VALUE}}, type: kubernetes.io/tls`), 'spec.type: must be one of'],
    [secret(`stringData: {a: ${VALUE}}, immutable: true`), 'spec.immutable: not supported yet'],
    [secret(`stringData: {a: ${VALUE}}, dat: {}`), 'spec.dat: unknown field; did you mean "data"?'],
    ['kind: Secret\nmetadata: {name: db}\nspec: {realmId: lab, stringData: {a: b}}', 'spec.spaceId is required'],
  ])('refuses a bad Secret on one line that names the field and not the value: %#', (text, message) => {
    const err = problem(text);
    expect(err.kind).toBe(ErrorKind.InvalidArgument);
    expect(err.message).toContain(message);
    expect(err.message).not.toContain(VALUE);
    expect(err.message).not.toContain('\n');
  });
});

describe('containers consuming secrets', () => {
  it('splits env into plain entries and secretEnv, and keeps the mounted secrets', () => {
    const [doc] = parseManifests(consumer);
    if (doc?.kind !== 'Cell') throw new Error('not a cell');
    const c = doc.template.containers[0]!;
    expect(c.env).toEqual(['A=1']);
    expect(c.secretEnv).toEqual([{ name: 'DB_PASSWORD', secretKeyRef: { name: 'db', key: 'password' } }]);
    expect(c.secrets).toEqual([{ name: 'db' }, { name: 'tls' }]);
  });

  it('records neither field for a container without secrets (templates stay as before)', () => {
    const [doc] = parseManifests(consumer.replace(/      env:[\s\S]*$/, '      env: ["A=1"]\n'));
    if (doc?.kind !== 'Cell') throw new Error('not a cell');
    expect(Object.keys(doc.template.containers[0]!)).not.toContain('secretEnv');
    expect(Object.keys(doc.template.containers[0]!)).not.toContain('secrets');
  });

  it('prints them back the way the manifest wrote them (get -o yaml round trip)', () => {
    const [doc] = parseManifests(consumer);
    if (doc?.kind !== 'Cell') throw new Error('not a cell');
    const c = doc.template.containers[0]!;
    expect(CONTAINER_FIELDS.env(c.env, c)).toEqual({ env: ['A=1', { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] });
    expect(CONTAINER_FIELDS.secrets(c.secrets, c)).toEqual({ secrets: [{ name: 'db' }, { name: 'tls' }] });
  });

  it.each([
    ['        - name: X\n          valueFrom: {secretKeyRef: {name: db}}', 'secretKeyRef.key is required'],
    ['        - name: X\n          valueFrom: {secretKeyRef: {name: Bad_Name, key: k}}', 'invalid name'],
    ['        - name: X\n          valueFrom: {configMapKeyRef: {name: c, key: k}}', 'configMapKeyRef: not supported yet'],
    ['        - name: X\n          value: plain', 'value: not supported yet (write a plain variable as "KEY=VALUE")'],
    ['        - NOEQUALS', 'entries must be KEY=VALUE'],
  ])('refuses a bad env entry on one line: %#', (entry, message) => {
    const err = problem(consumer.replace('        - A=1\n', `${entry}\n`));
    expect(err.message).toContain(message);
  });

  it('refuses the original Kukeon\'s other secret fields by name', () => {
    expect(problem(consumer.replace('{name: tls}', '{name: tls, mountPath: /etc/tls}')).message).toContain('secrets[1].mountPath: not supported yet (secrets are mounted at /run/secrets/<name>)');
    expect(problem(consumer.replace('{name: tls}', '{name: tls}, {name: tls}')).message).toMatch(/secret "tls" is mounted twice/);
  });
});
