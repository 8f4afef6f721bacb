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
    ['a field not supported yet', `${good('c')}      user: "1000"\n`],
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
