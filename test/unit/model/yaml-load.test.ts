import { describe, expect, it } from 'vitest';
import { loadYamlDocuments } from '../../../src/model/yaml-load.js';
import { isKukeError, type KukeError } from '../../../src/errors.js';

function refusal(text: string): KukeError {
  try {
    loadYamlDocuments(text);
  } catch (err) {
    if (isKukeError(err)) return err;
    throw err;
  }
  throw new Error('expected the YAML to be refused');
}

const laughs = [
  'a: &a [x, x, x, x, x, x, x, x, x, x]',
  'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
  'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
  'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
  'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
].join('\n');

describe('loading untrusted YAML', () => {
  it('loads plain documents, numbering them as they appear (empty ones included)', () => {
    expect(loadYamlDocuments('a: 1\n---\n---\nb: [x, "y"]\n')).toEqual([
      { index: 1, value: { a: 1 } },
      { index: 2, value: null },
      { index: 3, value: { b: ['x', 'y'] } },
    ]);
  });

  it('expands a few aliases and the core tags', () => {
    expect(loadYamlDocuments('env: &e [A=1]\nother: *e\nn: !!str 1\n')[0]!.value).toEqual({ env: ['A=1'], other: ['A=1'], n: '1' });
  });

  it.each([
    ['an alias bomb', laughs, /aliases expand to more than 100 nodes/],
    ['deep block sequences on one line', `${'- '.repeat(200_000)}x`, /nested more than 32 levels/],
    ['deep flow sequences', `${'['.repeat(300_000)}${']'.repeat(300_000)}`, /nested more than 32 levels/],
    ['deep flow mappings', `${'{a: '.repeat(100)}1${'}'.repeat(100)}`, /nested more than 32 levels/],
    ['deep indentation', `${Array.from({ length: 40 }, (_, i) => `${' '.repeat(i)}a:`).join('\n')} x`, /document 1: line \d+: YAML nested more than 32 levels/],
    ['nested complex keys (exponential in the yaml parser)', `${'? '.repeat(1000)}x`, /complex mapping keys/],
    ['a !!js/function tag', 'run: !!js/function "function () { return 1 }"', /tag "!!js\/function" is not allowed/],
    ['a custom tag', 'x: !custom 1', /tag "!custom" is not allowed/],
    ['a %YAML 1.1 directive (merge keys, other booleans)', '%YAML 1.1\n---\na: yes\n', /directives such as "%YAML"/],
    ['a %TAG directive', '%TAG !e! tag:example.com,2000:\n---\na: 1\n', /directives such as "%TAG"/],
    ['duplicate keys', 'image: a\nimage: b\n', /document 1: line 2: duplicate key "image"/],
    ['a number as a key', 'kind: Realm\n1: x\n', /line 2: mapping keys must be strings \(found 1\)/],
    ['a null key', '~: x\n', /mapping keys must be strings \(found null\)/],
    ['a list as a key', '[a, b]: x\n', /mapping keys must be strings/],
    ['an alias as a key', 'a: &k k\n*k : x\n', /mapping keys must be strings/],
    ['a manifest over 1 MiB', `a: ${'x'.repeat(1 << 20)}`, /the manifest is 1048579 bytes, more than the limit of 1048576 bytes; split it into several files/],
    ['more than 20,000 values (the parser would take seconds)', Array.from({ length: 60_000 }, (_, i) => `k${i}: v`).join('\n'), /more than 20000 values \(the limit\)/],
    ['more than 100 documents', '---\na: 1\n'.repeat(101), /more than 100 documents/],
    ['invalid syntax', 'a: [1, 2\n', /document 1: invalid YAML at line \d+: /],
    ['a tab for indentation', 'a:\n\tb: 1\n', /invalid YAML at line 2/],
  ])('refuses %s with one line, quickly', (_what, text, message) => {
    const started = Date.now();
    const err = refusal(text);
    expect(err.kind).toBe('InvalidArgument');
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n');
    expect(err.hint).toBe('nothing was changed');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('keeps a __proto__ key as an ordinary key (no prototype is changed)', () => {
    const [doc] = loadYamlDocuments('__proto__: {polluted: true}\n');
    expect(Object.getPrototypeOf(doc!.value)).toBe(Object.prototype);
    expect(Object.keys(doc!.value as object)).toEqual(['__proto__']);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });
});
