/**
 * `kuke apply` as the user sees it (in-process client over the fake runtime): a line per document as it is done,
 * one structured document with -o json, and Ctrl-C stopping after the document in progress.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineBackend } from '../../../src/api/backend.js';
import type { ApplyProgress } from '../../../src/api/client.js';
import { InProcessClient } from '../../../src/api/in-process.js';
import { runKuke } from '../../../src/cli/program.js';
import { ErrorKind, isKukeError, type KukeError } from '../../../src/errors.js';
import { setupEngine, user } from '../../support/fake-engine.js';

const dir = mkdtempSync(join(tmpdir(), 'kukeon-apply-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const manifest = (...names: string[]) =>
  names.map((n) => `kind: Cell\nmetadata: {name: ${n}}\nspec:\n  realmId: default\n  spaceId: default\n  stackId: default\n  containers:\n    - {id: main, image: busybox}\n`).join('---\n');

/** The in-process backend, with a hook called on each result after kuke has been told of it. */
class Backend extends EngineBackend {
  afterResult: (name: string) => void = () => undefined;
  override apply(text: string, progress: ApplyProgress = {}) {
    return super.apply(text, { ...progress, onResult: (r) => (progress.onResult?.(r), this.afterResult(r.name)) });
  }
}

async function kukeApply(names: string[], args: string[], afterResult?: (name: string, out: string) => void) {
  const { opened, world, engine } = await setupEngine();
  const backend = new Backend(opened, world.runtime(), user.actor);
  const file = join(dir, `${names.join('-')}.yaml`);
  writeFileSync(file, manifest(...names));
  let out = '';
  let err = '';
  backend.afterResult = (name) => afterResult?.(name, out);
  const code = await runKuke(['apply', '-f', file, ...args], { out: (t) => (out += t), err: (t) => (err += t) }, { daemon: async () => backend, inProcess: async () => backend }, {});
  return { code, out, err, state: (cell: string) => engine.stateOf(`cell/default/default/default/${cell}`) };
}

describe('kuke apply', () => {
  it("prints each document's line as soon as it is done", async () => {
    const seen: string[] = [];
    const r = await kukeApply(['w1', 'w2'], [], (name, out) => seen.push(`${name} → ${JSON.stringify(out)}`));
    expect(r.code, r.err).toBe(0);
    // When w1 was done, its line was already out, before w2 was applied.
    expect(seen).toEqual(['w1 → "Cell \\"w1\\": created\\n"', 'w2 → "Cell \\"w1\\": created\\nCell \\"w2\\": created\\n"']);
  });

  it('prints one JSON document at the end with -o json', async () => {
    const r = await kukeApply(['j1', 'j2'], ['-o', 'json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ resources: [{ name: 'j1', action: 'created' }, { name: 'j2', action: 'created' }] });
  });

  it('stops after the document in progress on Ctrl-C: its lines are what was applied, then one error line', async () => {
    const r = await kukeApply(['s1', 's2', 's3'], [], (name) => name === 's1' && process.emit('SIGINT'));
    expect(r.code).toBe(1);
    expect(r.out).toBe('Cell "s1": created\n');
    expect(r.err).toBe('Error: apply interrupted after 1 document: those reported were applied, no later one was started; the one in progress may have finished (see kuke get); apply the manifest again to finish\n');
    expect([r.state('s1'), r.state('s2'), r.state('s3')]).toEqual(['Ready', 'Absent', 'Absent']);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('still prints one valid JSON document of what was applied when interrupted with -o json', async () => {
    const r = await kukeApply(['k1', 'k2'], ['-o', 'json'], (name) => name === 'k1' && process.emit('SIGINT'));
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ resources: [{ name: 'k1', action: 'created' }] });
    expect(r.err).toMatch(/^Error: apply interrupted after 1 document: /);
  });
});

describe('a manifest over the limit', () => {
  const line = 'Error: the manifest is 1.5 MiB, more than the limit of 1 MiB; split it into several files; nothing was changed\n';
  const large = `${manifest('big')}# ${'x'.repeat(1_572_861 - manifest('big').length)}\n`;
  const noClient = async (): Promise<never> => {
    throw new Error('no client should be opened for a manifest over the limit');
  };

  it("is refused by kuke with kukeond's line, before any client is opened", async () => {
    expect(Buffer.byteLength(large)).toBe(1.5 * 1024 * 1024);
    const file = join(dir, 'large.yaml');
    writeFileSync(file, large);
    let err = '';
    const code = await runKuke(['apply', '-f', file], { out: () => undefined, err: (t) => (err += t) }, { daemon: noClient, inProcess: noClient }, {});
    expect(code).toBe(1);
    expect(err).toBe(line);
  });

  it('is refused by the in-process client before it opens the run path', async () => {
    const runPath = join(dir, 'never-opened');
    const client = new InProcessClient({ config: { runPath }, runtime: noClient });
    const err = await client.apply(large).then(() => undefined, (e: unknown) => e);
    expect(isKukeError(err, ErrorKind.InvalidArgument)).toBe(true);
    expect(`Error: ${(err as KukeError).message}; ${(err as KukeError).hint}\n`).toBe(line);
    expect(existsSync(runPath)).toBe(false);
  });
});
