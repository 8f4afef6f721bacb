import { describe, expect, it } from 'vitest';
import { planRotation, rotationPolicyProblem } from '../../../src/runtime/logs/rotation.js';

const policy = { maxBytes: 100, maxFiles: 3 };

describe('log rotation decision', () => {
  it('leaves a live file under the limit alone', () => {
    expect(planRotation(99, [1, 2], policy)).toEqual([]);
  });

  it('rotates a live file that reached the limit into copy 1, shifting the older copies up', () => {
    expect(planRotation(100, [], policy)).toEqual([{ op: 'copyTruncate', skip: 0 }]);
    expect(planRotation(150, [1], policy)).toEqual([{ op: 'rename', from: 1, to: 2 }, { op: 'copyTruncate', skip: 0 }]);
  });

  it('drops the oldest copy first so that at most max-file files remain, the live one included', () => {
    expect(planRotation(150, [2, 1], policy)).toEqual([
      { op: 'remove', index: 2 },
      { op: 'rename', from: 1, to: 2 },
      { op: 'copyTruncate', skip: 0 },
    ]);
  });

  it('renames from the oldest to the newest, so no rename lands on a copy still there', () => {
    const steps = planRotation(150, [1, 2, 3], { maxBytes: 100, maxFiles: 5 });
    expect(steps).toEqual([
      { op: 'rename', from: 3, to: 4 },
      { op: 'rename', from: 2, to: 3 },
      { op: 'rename', from: 1, to: 2 },
      { op: 'copyTruncate', skip: 0 },
    ]);
  });

  it('removes copies beyond a lowered max-file even when the live file is small', () => {
    expect(planRotation(10, [1, 2, 3, 7], policy)).toEqual([{ op: 'remove', index: 7 }, { op: 'remove', index: 3 }]);
  });

  it('only truncates when max-file is 1, removing every copy', () => {
    expect(planRotation(100, [1, 2], { maxBytes: 100, maxFiles: 1 })).toEqual([{ op: 'remove', index: 2 }, { op: 'remove', index: 1 }, { op: 'truncate' }]);
  });

  it('keeps only the last max-size bytes of a file grown far past the limit (written before rotation existed)', () => {
    expect(planRotation(200, [], policy)).toEqual([{ op: 'copyTruncate', skip: 0 }]);
    expect(planRotation(5_000, [], policy)).toEqual([{ op: 'copyTruncate', skip: 4_900 }]);
  });

  it('ignores indices that are not copies, and duplicates', () => {
    expect(planRotation(150, [0, -1, 1.5, 1, 1], policy)).toEqual([{ op: 'rename', from: 1, to: 2 }, { op: 'copyTruncate', skip: 0 }]);
  });

  it('refuses a policy that could not bound anything', () => {
    expect(rotationPolicyProblem({ maxBytes: 0, maxFiles: 3 })).toMatch(/max-size/);
    expect(rotationPolicyProblem({ maxBytes: 10, maxFiles: 0 })).toMatch(/max-file/);
    expect(rotationPolicyProblem({ maxBytes: 1.5, maxFiles: 1 })).toMatch(/max-size/);
    expect(rotationPolicyProblem(policy)).toBeUndefined();
  });
});
