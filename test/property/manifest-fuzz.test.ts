/**
 * Manifest fuzzing (issue 9): YAML trees built from the real schema (every kind, every supported field), then
 * mutated the way users and attackers do: unknown keys, typos of known keys, fields not supported yet, wrong types,
 * removed required fields, huge values, bad names, bad image references, hostile YAML (alias bombs, tags, duplicate
 * keys, deep nesting) and random bytes. Each manifest either parses cleanly or is refused cleanly: a KukeError of
 * kind InvalidArgument with one line, never another kind and never a throw of anything else. What parses also passes
 * the check every API request goes through (validateCellTemplate), so an apply cannot stop half-way on a document
 * the parser let through; and, applied to an engine on the fake runtime, a refused manifest appends no event.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { applyManifest } from '../../src/engine/apply.js';
import { isKukeError } from '../../src/errors.js';
import { parseManifests, type Manifest } from '../../src/model/manifest.js';
import { validateCellTemplate } from '../../src/model/template-check.js';
import { setupEngine, user } from '../support/fake-engine.js';
import { announceSeed, RUNS, SEED } from './engine/world.js';
import { containerFields, containerOf, metadata, name, path, scope } from './manifest-arbitraries.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Doc = { [key: string]: Json };

const volume = fc.record(
  { kind: fc.constantFrom('bind', 'tmpfs'), source: path, target: path, readOnly: fc.boolean() },
  { requiredKeys: ['target'] },
);
const container = containerOf({ ...containerFields, volumes: fc.array(volume, { maxLength: 2 }) }) as fc.Arbitrary<Doc>;

// A namespace override must be a containerd identifier ending with the install's suffix (kukeon.io here): that is
// checked where the suffix is known, at create time (operations), so the fuzz only gives valid ones.
const document: fc.Arbitrary<Doc> = fc.oneof(
  fc.record({ apiVersion: fc.constantFrom('v1beta1', ''), kind: fc.constant('Realm'), metadata, spec: fc.record({ namespace: fc.constantFrom('lab.kukeon.io', 'x.kukeon.io') }, { requiredKeys: [] }) }, { requiredKeys: ['kind', 'metadata'] }),
  fc.record({ kind: fc.constant('Space'), metadata, spec: fc.record({ realmId: name }) }),
  fc.record({ kind: fc.constant('Stack'), metadata, spec: fc.record({ realmId: name, spaceId: name }) }),
  fc
    .record({ kind: fc.constant('Cell'), metadata, containers: fc.uniqueArray(container, { minLength: 1, maxLength: 3, selector: (c) => c.id }), spec: fc.record(scope) })
    .map(({ kind, metadata: m, containers, spec }) => ({ kind, metadata: m, spec: { ...spec, containers } }) as Doc),
  fc.record({ kind: fc.constant('Container'), metadata, c: container, spec: fc.record({ ...scope, cellId: name }) }).map(({ kind, metadata: m, c, spec }) => ({ kind, metadata: m, spec: { ...spec, ...c } }) as Doc),
);

/** Keys users get wrong or bring from elsewhere, and the fields not supported yet. */
const strangeKey = fc.oneof(
  fc.constantFrom('imagee', 'comand', 'enviroment', 'replicas', 'user', 'ports', 'securityContext', 'livenessProbe', 'tty', 'annotations', '__proto__', 'constructor', 'toString', ''),
  fc.string({ maxLength: 12 }),
);
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, -1, 1.5, 1e308, '', 'busybox:test;rm -rf /', '../../etc/passwd', 'UPPER', 'a\nb', 'busybox:', 'x@sha256:abc', 'Bad Name!', 'a_b', 'x'.repeat(64)),
  fc.constant('x'.repeat(40_000)),
  fc.constant(Array.from({ length: 1100 }, (_, i) => `K${i}=v`)),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

/** Every object and array inside `value`, with its path. */
function places(value: Json, at: (string | number)[] = []): { path: (string | number)[]; node: Json }[] {
  const out = [{ path: at, node: value }];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...places(v, [...at, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...places(v, [...at, k]));
  return out;
}

type Mutation = { op: 'none' } | { op: 'add'; key: string; value: Json } | { op: 'set'; value: Json } | { op: 'delete' } | { op: 'typo' };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.constant({ op: 'none' as const }), weight: 3 },
  fc.record({ op: fc.constant('add' as const), key: strangeKey, value: hostileValue }),
  fc.record({ op: fc.constant('set' as const), value: hostileValue }),
  fc.constant({ op: 'delete' as const }),
  fc.constant({ op: 'typo' as const }),
);

/** Applies `m` at the place chosen by `pick` (a fraction of the places). */
function mutate(doc: Doc, m: Mutation, pick: number): Doc {
  const copy = structuredClone(doc) as Json;
  const all = places(copy);
  const { path, node } = all[Math.floor(pick * all.length)]!;
  const parentOf = () => path.slice(0, -1).reduce<Json>((v, k) => (v as Record<string | number, Json>)[k]!, copy);
  const last = path[path.length - 1];
  switch (m.op) {
    case 'none':
      break;
    case 'add':
      if (node !== null && typeof node === 'object' && !Array.isArray(node)) Object.defineProperty(node, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
      break;
    case 'set':
      if (last !== undefined) (parentOf() as Record<string | number, Json>)[last] = m.value;
      break;
    case 'delete':
      if (last !== undefined) {
        const parent = parentOf();
        if (Array.isArray(parent)) parent.splice(last as number, 1);
        else delete (parent as Record<string, Json>)[last];
      }
      break;
    case 'typo':
      if (typeof last === 'string') {
        const parent = parentOf() as Record<string, Json>;
        parent[`${last.slice(0, -1)}${last.slice(-1) === 'e' ? 'a' : 'e'}`] = parent[last]!;
        delete parent[last];
      }
      break;
  }
  return copy as Doc;
}

/** Text-level hostility: YAML the serializer would never write. */
const textAttack = fc.constantFrom(
  '',
  'a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n',
  'kind: !!js/function "function () {}"\n',
  'kind: Realm\nkind: Space\n',
  `${'- '.repeat(5000)}x\n`,
  `${'['.repeat(5000)}\n`,
  '? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? x\n',
  '%YAML 1.1\n---\nkind: Realm\n',
  '1: x\n',
  'kind: Realm\nmetadata: {name: x\n',
  '\t- x\n',
);

const manifest = fc.record({
  docs: fc.array(fc.tuple(document, mutation, fc.double({ min: 0, max: 0.999, noNaN: true })), { minLength: 1, maxLength: 4 }),
  // Mostly absent: the documents' own mutations are the main course.
  attack: fc.oneof({ arbitrary: fc.constant(null), weight: 5 }, { arbitrary: textAttack, weight: 1 }),
  noise: fc.oneof({ arbitrary: fc.constant(null), weight: 9 }, { arbitrary: fc.string({ maxLength: 20 }), weight: 1 }),
});

function render({ docs, attack, noise }: { docs: [Doc, Mutation, number][]; attack: string | null; noise: string | null }): string {
  const texts = docs.map(([doc, m, pick]) => stringify(mutate(doc, m, pick)));
  if (attack !== null) texts.push(attack);
  const text = texts.join('---\n');
  return noise === null ? text : `${text}${noise}`;
}

/** parseManifests' outcome: the documents, or the refusal (anything else fails the property). */
function parseCleanly(text: string): Manifest[] | { refused: string } {
  try {
    return parseManifests(text);
  } catch (err) {
    expect(isKukeError(err), `not a KukeError: ${String(err)}`).toBe(true);
    const e = err as { kind: string; message: string };
    expect(e.kind, e.message).toBe('InvalidArgument');
    expect(e.message).not.toContain('\n');
    return { refused: e.message };
  }
}

describe('manifest fuzzing', () => {
  announceSeed('manifest-fuzz');

  it('parses every generated manifest cleanly or refuses it with InvalidArgument, and what parses passes the API check', () => {
    let accepted = 0;
    fc.assert(
      fc.property(manifest, (input) => {
        const outcome = parseCleanly(render(input));
        if (Array.isArray(outcome)) {
          accepted++;
          for (const doc of outcome) if (doc.kind === 'Cell') validateCellTemplate(doc.template, `cell "${doc.name}"`);
        }
      }),
      { seed: SEED, numRuns: Math.max(RUNS, 1000) },
    );
    // The generator must reach both sides, or the property proves little.
    expect(accepted).toBeGreaterThan(100);
  });

  it('appends no event for a refused manifest, and reports no validation failure for an accepted one', async () => {
    await fc.assert(
      fc.asyncProperty(manifest, async (input) => {
        const { ops, engine } = await setupEngine();
        const head = engine.headSeq;
        const text = render(input);
        const results = await applyManifest(ops, text, user).catch((err: unknown) => err);
        if (Array.isArray(results)) {
          for (const r of results) expect(['InvalidArgument', 'Internal'], JSON.stringify(r)).not.toContain(r.error?.kind);
        } else {
          expect(isKukeError(results, 'InvalidArgument'), String(results)).toBe(true);
          expect(engine.headSeq).toBe(head);
        }
      }),
      { seed: SEED, numRuns: Math.max(50, Math.floor(RUNS / 10)) },
    );
  }, 120_000);
});
