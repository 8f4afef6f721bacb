import { describe, expect, it } from 'vitest';
import { cgroupError } from '../../../src/runtime/cgroups/errors.js';

describe('errno translation', () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: something`), { code });

  it.each([
    ['ENOENT', 'NotFound'],
    ['EBUSY', 'FailedPrecondition'],
    ['ENOTEMPTY', 'FailedPrecondition'],
    ['ENOSPC', 'FailedPrecondition'],
    ['EACCES', 'PermissionDenied'],
    ['EPERM', 'PermissionDenied'],
    ['EROFS', 'PermissionDenied'],
    ['EINVAL', 'InvalidArgument'],
    ['ELOOP', 'InvalidArgument'],
    ['ESRCH', 'NotFound'],
    ['EIO', 'Internal'],
  ])('maps %s to %s, naming what failed', (code, kind) => {
    const err = cgroupError(errno(code), 'writing 5 to pids.max of cgroup /kukeon/x');
    expect(err.kind).toBe(kind);
    expect(err.message).toContain('/kukeon/x');
    expect(err.cause).toBeInstanceOf(Error);
  });
});
