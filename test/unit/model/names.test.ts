import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bridgeName, cgroupPath, containerdId, nameProblem, networkName, realmNamespace, validateName } from '../../../src/model/names.js';
import { isKukeError } from '../../../src/errors.js';

describe('names', () => {
  it.each([['a_b'], ['../x'], ['A'], [''], ['-x'], ['x-'], ['a'.repeat(64)], ['a.b'], ['a/b'], ['a\0b'], ['ünï']])('rejects %j with InvalidArgument', (name) => {
    let error: unknown;
    try {
      validateName('cell', name);
    } catch (err) {
      error = err;
    }
    expect(isKukeError(error, 'InvalidArgument')).toBe(true);
  });

  it.each([['a'], ['web-1'], ['a'.repeat(63)], ['0']])('accepts %j', (name) => {
    expect(nameProblem(name)).toBeUndefined();
  });

  it('derives the names the original uses', () => {
    expect(realmNamespace('default')).toBe('default.kukeon.io');
    expect(containerdId('kukeon', 'kukeon', 'kukeond', 'x', true)).toBe('kukeon_kukeon_kukeond_root');
    expect(containerdId('s', 't', 'c', 'web', false)).toBe('s_t_c_web');
    expect(bridgeName(networkName('default', 'default'))).toBe('k-703e8b3a');
    expect(bridgeName('kuke-system-kukeon')).toBe('k-082023b5');
    expect(cgroupPath({ realm: 'kukeon-system', space: 'kukeon', stack: 'kukeon', cell: 'kukeond' })).toBe('/kukeon/kukeon-system/kukeon/kukeon/kukeond');
  });

  it('refuses a containerd id over 76 characters', () => {
    const long = 'a'.repeat(40);
    expect(() => containerdId(long, long, 'c', 'x', false)).toThrow(/76/);
  });

  it('never lets an accepted name escape a path or exceed a limit', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (name) => {
        if (nameProblem(name) !== undefined) return;
        expect(name).not.toMatch(/[/._\0]/);
        expect(name.length).toBeLessThanOrEqual(63);
        expect(bridgeName(networkName(name, name)).length).toBeLessThanOrEqual(15);
      }),
      { seed: 20261128, numRuns: 2000 },
    );
  });
});
