/**
 * `kuke get -o yaml|json` round trips through `kuke apply -f` (issue 12, item 5), in-process on the fake runtime:
 * the printed documents apply back unchanged, re-create what was deleted, and a second get prints the same bytes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { EngineBackend } from '../../../src/api/backend.js';
import type { KukeonClient } from '../../../src/api/client.js';
import { runKuke } from '../../../src/cli/program.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { openEngine } from '../../../src/engine/index.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { MemoryStore } from '../../support/memory-store.js';

async function kukeWith(client: KukeonClient, argv: string[]) {
  let out = '';
  let err = '';
  const code = await runKuke(argv, { out: (t) => (out += t), err: (t) => (err += t) }, { daemon: async () => client, inProcess: async () => client }, {});
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'kukeon-get-documents-'));
let files = 0;
/** Applies `text` as a manifest file; returns kuke's output. */
async function apply(client: KukeonClient, text: string) {
  const file = join(dir, `m${files++}.yaml`);
  writeFileSync(file, text);
  return kukeWith(client, ['apply', '-f', file]);
}

/** The documents of a YAML stream without their status sections (what differs after a re-create). */
const withoutStatus = (yaml: string) => parseAllDocuments(yaml).map((d) => ({ ...(d.toJS() as object), status: undefined }));

const MANIFEST = `
apiVersion: v1beta1
kind: Realm
metadata: { name: lab, labels: { team: a } }
spec: { namespace: lab-x.kukeon.io }
---
kind: Space
metadata: { name: front }
spec: { realmId: lab }
---
kind: Space
metadata: { name: back, labels: { tier: db } }
spec: { realmId: lab, network: { allowFrom: [front] } }
---
kind: Stack
metadata: { name: app }
spec: { realmId: lab, spaceId: back }
---
kind: Cell
metadata: { name: db, labels: { role: db } }
spec:
  realmId: lab
  spaceId: back
  stackId: app
  rootContainerId: main
  containers:
    - { id: side, image: busybox, args: [sleep, "9"], env: ["A=1"], restartPolicy: always, restartBackoffSeconds: 2, volumes: [{ kind: tmpfs, target: /t }] }
    - { id: main, image: busybox, command: [/bin/sh, -c], args: ["sleep 9"], resources: { memoryLimitBytes: 67108864 }, ports: [{ containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1 }] }
---
kind: Cell
metadata: { name: cache }
spec: { realmId: lab, spaceId: back, stackId: app, containers: [{ id: c, image: busybox, workingDir: /srv, hostPID: true }] }
`;

async function world(): Promise<KukeonClient> {
  const w = new FakeWorld();
  w.addImage('busybox');
  const opened = await openEngine({ store: new MemoryStore(catalogCodec), runtime: w.runtime(), config: { runPath: '/tmp/kukeon-get-documents-unit', ipMasq: false } });
  const client = new EngineBackend(opened, w.runtime(), { type: 'user', uid: 0 });
  expect((await apply(client, MANIFEST)).code).toBe(0);
  return client;
}

const SCOPE = ['--realm', 'lab', '--space', 'back', '--stack', 'app'];
const GETS: [string, string[]][] = [
  ['realm', ['get', 'realm', 'lab']],
  ['spaces', ['get', 'spaces', '--realm', 'lab']],
  ['stack', ['get', 'stack', 'app', '--realm', 'lab', '--space', 'back']],
  ['cells', ['get', 'cells', ...SCOPE]],
  ['cell', ['get', 'cell', 'db', ...SCOPE]],
  ['containers', ['get', 'containers', '--cell', 'db', ...SCOPE]],
];

describe('kuke get -o yaml|json round trip', () => {
  it.each(GETS)('prints %s as documents that apply back unchanged, and the next get prints the same bytes', async (_what, argv) => {
    const client = await world();
    for (const format of ['yaml', 'json']) {
      const first = await kukeWith(client, [...argv, '-o', format]);
      expect(first.code).toBe(0);
      // A JSON list is an array of documents, which apply takes as they are.
      const applied = await apply(client, first.out);
      expect(applied.err).toBe('');
      expect(applied.out.split('\n').filter((l) => l.includes(': ') && !l.endsWith(': unchanged'))).toEqual([]);
      expect((await kukeWith(client, [...argv, '-o', format])).out).toBe(first.out);
    }
  });

  it('prints a list as a multi-document stream that re-creates the cells of a stack after they are deleted', async () => {
    const client = await world();
    const before = (await kukeWith(client, ['get', 'cells', ...SCOPE, '-o', 'yaml'])).out;
    expect(before.match(/^---$/gm)).toHaveLength(1);
    expect(before.match(/^kind: Cell$/gm)).toHaveLength(2);
    for (const cell of ['db', 'cache']) expect((await kukeWith(client, ['delete', 'cell', cell, ...SCOPE])).code).toBe(0);
    const applied = await apply(client, before);
    expect(applied.out).toBe('Cell "cache": created\nCell "db": created\n');
    const after = (await kukeWith(client, ['get', 'cells', ...SCOPE, '-o', 'yaml'])).out;
    expect(withoutStatus(after)).toEqual(withoutStatus(before));
  });

  it('re-creates a deleted realm with its spaces, stack and cells from their documents', async () => {
    const client = await world();
    const gets = [['get', 'realm', 'lab'], ['get', 'spaces', '--realm', 'lab'], ['get', 'stacks', '--realm', 'lab', '--space', 'back'], ['get', 'cells', ...SCOPE]];
    const printed = [];
    for (const argv of gets) printed.push((await kukeWith(client, [...argv, '-o', 'yaml'])).out);
    expect((await kukeWith(client, ['delete', 'realm', 'lab', '--cascade'])).code).toBe(0);
    const applied = await apply(client, printed.join('---\n'));
    expect(applied.code).toBe(0);
    for (const [i, argv] of gets.entries()) expect(withoutStatus((await kukeWith(client, [...argv, '-o', 'yaml'])).out)).toEqual(withoutStatus(printed[i]!));
  });
});
