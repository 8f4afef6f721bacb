import { describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { cgroupPathProblem, cgroupSegments } from '../../../src/runtime/cgroups/paths.js';
import { thrown } from '../../support/thrown.js';

describe('cgroup path validation', () => {
  it.each([
    ['/kukeon', ['kukeon']],
    ['/kukeon/default/default/default/web', ['kukeon', 'default', 'default', 'default', 'web']],
    ['/kukeon/r/s/t/c/s_t_c_root', ['kukeon', 'r', 's', 't', 'c', 's_t_c_root']],
    ['/kukeon-test-3f9a2c1b/Kukeon.v1', ['kukeon-test-3f9a2c1b', 'Kukeon.v1']],
  ])('accepts %j', (path, segments) => {
    expect(cgroupSegments(path)).toEqual(segments);
  });

  it.each(['', 'kukeon', 'kukeon/x', '/', '/kukeon/', '/kukeon//x', '/kukeon/./x', '/kukeon/../etc', '/..', '/kukeon/.hidden', '/kukeon/a b', '/kukeon/x\0y', '/kukeon/-flag', '/kukeon/a\nb', `/${'a'.repeat(256)}`])(
    'rejects %j as InvalidArgument',
    (path) => {
      expect(cgroupPathProblem(path)).toBeDefined();
      expect(isKukeError(thrown(() => cgroupSegments(path)), 'InvalidArgument')).toBe(true);
    },
  );
});
