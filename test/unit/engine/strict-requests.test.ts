/**
 * Strict requests at the engine: a manifest with one bad document, or a cell template that breaks a rule or a limit,
 * is refused with InvalidArgument before the first event is appended (issue 9).
 */
import { describe, expect, it } from 'vitest';
import { applyManifest } from '../../../src/engine/apply.js';
import { isKukeError } from '../../../src/errors.js';
import { ref, setupEngine, template, user } from '../../support/fake-engine.js';

const good = (name: string) => `kind: Cell
metadata: {name: ${name}}
spec:
  realmId: lab
  spaceId: net1
  stackId: app
  containers:
    - id: main
      image: busybox
`;

async function refusal(promise: Promise<unknown>): Promise<{ kind: string; message: string }> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isKukeError(err)) throw new Error(`expected a KukeError, got ${String(err)}`);
  return err;
}

describe('strict requests', () => {
  it.each([
    ['an unknown field', `${good('c')}      imagee: busybox\n`],
    ['a field not supported yet', `${good('c')}      devices: [/dev/fuse]\n`],
    ['a bad image reference', good('c').replace('image: busybox', 'image: "busybox:test;rm -rf /"')],
    ['a namespace outside this install\'s suffix (refused by createRealm, so checked first)', 'kind: Realm\nmetadata: {name: other}\nspec: {namespace: other.elsewhere}\n'],
    ['a cell whose containerd ids would exceed 76 characters', good(`c${'x'.repeat(60)}`).replace('stackId: app', `stackId: s${'y'.repeat(30)}`)],
    ['an alias bomb', `a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n`],
  ])('applies nothing of a multi-document manifest whose last document has %s', async (_what, bad) => {
    const { ops, engine } = await setupEngine();
    const head = engine.headSeq;
    const text = `kind: Realm\nmetadata: {name: lab}\n---\n${good('first')}---\n${bad}`;
    const err = await refusal(applyManifest(ops, text, user));
    expect(err.kind).toBe('InvalidArgument');
    expect(err.message).toMatch(/^document 3/);
    expect(engine.headSeq).toBe(head);
    expect(ops.listRealms().map((r) => r.name)).not.toContain('lab');
  });

  const sidecar = (cell: string, id: string, scope = 'realmId: lab\n  spaceId: net1\n  stackId: app') =>
    `kind: Container\nmetadata: {name: ${id}}\nspec:\n  ${scope}\n  cellId: ${cell}\n  image: busybox\n`;
  const long = 'z'.repeat(63);

  it('applies nothing of a manifest whose third document is a Container that its cell (from the same manifest) cannot take', async () => {
    const { ops, engine } = await setupEngine();
    const head = engine.headSeq;
    // net1_app_first_<63 z>: 78 characters, over containerd's 76 for an id; only known once merged into its cell.
    const text = `kind: Realm\nmetadata: {name: lab}\n---\n${good('first')}---\n${sidecar('first', long)}`;
    const err = await refusal(applyManifest(ops, text, user));
    expect(err.kind).toBe('InvalidArgument');
    expect(err.message).toMatch(new RegExp(`^document 3 \\(Container "${long}"\\): `));
    expect(engine.headSeq).toBe(head);
    expect(ops.listRealms().map((r) => r.name)).not.toContain('lab');
  });

  it('checks a Container document against the stored cell it joins, with the earlier Container documents merged in', async () => {
    const { ops, engine } = await setupEngine();
    await ops.applyCell({ ...ref, template: template() }, user);
    const head = engine.headSeq;
    const scope = 'realmId: default\n  spaceId: default\n  stackId: default';
    // main and 29 sidecars, then over1 and over2 reach the 32 a cell may have: over3 is one too many.
    const fits = Array.from({ length: 29 }, (_, i) => sidecar('web', `s${i}`, scope)).join('---\n');
    const text = `kind: Realm\nmetadata: {name: lab}\n---\n${fits}---\n${sidecar('web', 'over1', scope)}---\n${sidecar('web', 'over2', scope)}---\n${sidecar('web', 'over3', scope)}`;
    const err = await refusal(applyManifest(ops, text, user));
    expect(err.kind).toBe('InvalidArgument');
    expect(err.message).toMatch(/^document 33 \(Container "over3"\): .*at most 32 containers/);
    expect(engine.headSeq).toBe(head);
    expect(ops.getCell(ref).template!.containers.map((c) => c.name)).toEqual(['main']);
  });

  it('applies a Container document into the cell of the same manifest, the new container last and the root unchanged', async () => {
    const { ops } = await setupEngine();
    const results = await applyManifest(ops, `kind: Realm\nmetadata: {name: lab}\n---\n${good('first')}---\n${sidecar('first', 'side')}`, user);
    expect(results.map((r) => `${r.kind} ${r.name}: ${r.action}`)).toEqual(['Realm lab: created', 'Cell first: created', 'Container side: updated']);
    const cell = ops.getCell({ realm: 'lab', space: 'net1', stack: 'app', cell: 'first' });
    expect(cell.template!.containers.map((c) => c.name)).toEqual(['main', 'side']);
    expect(cell.template!.root).toBe('main');
  });

  it.each([
    ['a bad image reference', template('../../etc/passwd'), /cell "web": containers\[0\]\.image: invalid image reference "\.\.\/\.\.\/etc\/passwd"/],
    ['a 10 MB env value', { ...template(), containers: [{ ...template().containers[0]!, env: [`BIG=${'x'.repeat(10_000_000)}`] }] }, /env\[0\]: the value of "BIG" is 9\.5 MiB, more than the limit of 32 KiB/],
  ])('refuses a cell template with %s on create and apply, appending nothing', async (_what, bad, message) => {
    const { ops, engine } = await setupEngine();
    const head = engine.headSeq;
    for (const attempt of [ops.createCell({ ...ref, template: bad, start: true }, user), ops.applyCell({ ...ref, template: bad }, user)]) {
      const err = await refusal(attempt);
      expect(err.kind).toBe('InvalidArgument');
      expect(err.message).toMatch(message);
    }
    expect(engine.headSeq).toBe(head);
  });

  it('refuses a template that breaks a limit when updating a cell, leaving the running cell as it was', async () => {
    const { ops, engine } = await setupEngine();
    await ops.applyCell({ ...ref, template: template() }, user);
    const head = engine.headSeq;
    const err = await refusal(ops.applyCell({ ...ref, template: { ...template(), labels: { 'bad key': 'x' } } }, user));
    expect(err.kind).toBe('InvalidArgument');
    expect(engine.headSeq).toBe(head);
    expect(ops.getCell(ref).state).toBe('Ready');
  });
});
