import { describe, expect, it } from 'vitest';
import { parseManifests } from '../../../src/model/manifest.js';
import { isKukeError, type KukeError } from '../../../src/errors.js';

const cell = `
apiVersion: v1beta1
kind: Cell
metadata: {name: pinger, labels: {tier: demo}}
spec:
  id: pinger
  realmId: lab
  spaceId: net1
  stackId: app
  containers:
    - id: main
      image: kukeon.local/busybox:test
      command: /bin/sh
      args: ["-c", "sleep 1000"]
      env: ["A=1"]
    - id: side
      image: kukeon.local/busybox:test
`;
const hierarchy = `
kind: Stack
metadata: {name: app}
spec: {realmId: lab, spaceId: net1}
---
kind: Space
metadata: {name: net1}
spec: {realmId: lab}
---
apiVersion: v1beta1
kind: Realm
metadata: {name: lab}
`;

function problem(text: string): KukeError {
  try {
    parseManifests(text);
  } catch (err) {
    if (isKukeError(err)) return err;
  }
  throw new Error('expected a KukeError');
}

describe('manifests', () => {
  it('normalises a cell: the first container is the root, command becomes argv', () => {
    const [doc] = parseManifests(cell);
    expect(doc).toMatchObject({ kind: 'Cell', name: 'pinger', realm: 'lab', space: 'net1', stack: 'app' });
    if (doc?.kind !== 'Cell') throw new Error('not a cell');
    expect(doc.template.root).toBe('main');
    expect(doc.template.labels).toEqual({ tier: 'demo' });
    expect(doc.template.containers[0]).toMatchObject({ name: 'main', command: ['/bin/sh'], args: ['-c', 'sleep 1000'], env: ['A=1'], restartPolicy: 'never' });
  });

  it('sorts documents in dependency order', () => {
    expect(parseManifests(`${cell}\n---\n${hierarchy}`).map((d) => d.kind)).toEqual(['Realm', 'Space', 'Stack', 'Cell']);
  });

  it('keeps a restart policy with its backoff and retries', () => {
    const [doc] = parseManifests(`${cell}      restartPolicy: on-failure\n      restartBackoffSeconds: 0\n      restartMaxRetries: 3\n`);
    if (doc?.kind !== 'Cell') throw new Error('not a cell');
    expect(doc.template.containers[1]).toMatchObject({ name: 'side', restartPolicy: 'on-failure', restartBackoffSeconds: 0, restartMaxRetries: 3 });
  });

  it('honours root: true', () => {
    const [doc] = parseManifests(cell.replace('    - id: side\n', '    - id: side\n      root: true\n'));
    expect(doc?.kind === 'Cell' && doc.template.root).toBe('side');
  });

  it.each([
    ['apiVersion: v2\nkind: Realm\nmetadata: {name: x}', /document 1 \(Realm "x"\): unsupported apiVersion "v2"/],
    ['kind: Pod\nmetadata: {name: x}', /unknown kind "Pod"/],
    ['kind: Realm\nmetadata: {name: a_b}', /invalid name "a_b"/],
    ['kind: Space\nmetadata: {name: s}\nspec: {}', /spec.realmId/],
    ['kind: Realm\nmetadata: {name: x}\n  bad: [', /invalid YAML/],
    ['', /no documents/],
    [cell.replace('  stackId: app\n', ''), /spec.stackId/],
    [cell.replace('      image: kukeon.local/busybox:test\n      command', '      command'), /image/],
    [`${cell}      restartBackoffSeconds: 5\n`, /restartBackoffSeconds: needs restartPolicy always or on-failure/],
    [`${cell}      restartPolicy: always\n      restartMaxRetries: 2\n`, /restartMaxRetries: needs restartPolicy on-failure/],
    [`${cell}      restartPolicy: on-failure\n      restartMaxRetries: 0\n`, /restartMaxRetries: must be at least 1/],
    [`${cell}      restartPolicy: sometimes\n`, /restartPolicy/],
  ])('rejects bad input with one message naming the document: %#', (text, message) => {
    const err = problem(text);
    expect(err.kind).toBe('InvalidArgument');
    expect(err.message).toMatch(message);
  });

  it('fails the whole file when any document is invalid', () => {
    expect(() => parseManifests(`${hierarchy}\n---\napiVersion: v2\nkind: Realm\nmetadata: {name: y}`)).toThrow(/document 4/);
  });
});
