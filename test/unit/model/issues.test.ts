import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { editDistance, formatIssues, formatPath, notSupported, strictObject, suggestKey } from '../../../src/model/issues.js';

describe('schema issues', () => {
  it.each([
    ['imagee', ['id', 'image', 'args'], 'image'],
    ['comand', ['command', 'args'], 'command'],
    ['enviroment', ['env', 'args'], 'env'],
    ['hostpid', ['hostPID', 'hostNetwork'], 'hostPID'],
    ['realm', ['realmId', 'spaceId'], 'realmId'],
    ['x', ['id', 'image'], undefined],
    ['zzzzzz', ['image', 'command'], undefined],
    ['environment', ['image'], undefined],
  ])('suggests for %j among %j: %j', (key, known, expected) => {
    expect(suggestKey(key, known)).toBe(expected);
  });

  it('measures edit distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });

  it('writes paths as a user would type them', () => {
    expect(formatPath(['spec', 'containers', 0, 'image'])).toBe('spec.containers[0].image');
    expect(formatPath(['metadata', 'labels', 'kukeon.io/x'])).toBe('metadata.labels["kukeon.io/x"]');
    expect(formatPath(['a\nb'])).toBe('["a\\nb"]');
  });

  it('reports an unknown or unsupported field before the problems it causes', () => {
    const schema = strictObject({ image: z.string(), user: notSupported('issue 11') });
    const typo = { imagee: 'x' };
    expect(formatIssues(schema.safeParse(typo).error!, typo)).toBe('imagee: unknown field; did you mean "image"?');
    const unsupported = { user: 1 };
    expect(formatIssues(schema.safeParse(unsupported).error!, unsupported)).toBe('user: not supported yet (issue 11); remove it');
  });

  it('never suggests a field that is not supported', () => {
    const schema = strictObject({ image: z.string(), user: notSupported() });
    const input = { image: 'x', usr: 1 };
    expect(formatIssues(schema.safeParse(input).error!, input)).toBe('usr: unknown field');
  });
});
