/**
 * errno → KukeError, in one place for the cgroup manager. cgroupfs speaks through errno: EBUSY (a group still holds
 * processes, or v2's no-internal-process rule), ENOENT (group or knob missing: controller not enabled), EACCES/EPERM
 * (not root, or not delegated), EINVAL/ERANGE (a value the kernel refuses), ENOSPC (v1 cpuset without cpus/mems),
 * ESRCH (process gone).
 */
import { ErrorKind, KukeError, toKukeError } from '../../errors.js';

/** The errno code of a Node error, if it has one. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Translates a filesystem error met while doing `what` (e.g. `writing memory.max of cgroup /kukeon/x`) into a
 * KukeError whose message says what failed and why, with a hint for the remedy. KukeErrors pass through.
 */
export function cgroupError(err: unknown, what: string): KukeError {
  if (err instanceof KukeError) return err;
  const code = errnoOf(err);
  const make = (kind: ErrorKind, why: string, hint?: string) =>
    new KukeError(kind, `${what}: ${why} (${code})`, { cause: err, ...(hint ? { hint } : {}) });
  switch (code) {
    case 'ENOENT':
      return make(ErrorKind.NotFound, 'no such cgroup or knob', 'create the cgroup first; a missing knob means its controller is not enabled for this group');
    case 'EBUSY':
      return make(ErrorKind.FailedPrecondition, 'the cgroup is busy', 'a process is still inside (or, on cgroup v2, the group holds processes and cannot delegate controllers); stop or move them first');
    case 'ENOTEMPTY':
      return make(ErrorKind.FailedPrecondition, 'the directory is not empty', 'something other than a cgroup is inside it; remove it by hand');
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return make(ErrorKind.PermissionDenied, 'permission denied', 'run as root with cgroupfs mounted read-write (on cgroup v2 the subtree must be delegated)');
    case 'EINVAL':
    case 'ERANGE':
      return make(ErrorKind.InvalidArgument, 'the kernel refused the value', 'check the limit against the parent cgroup\'s limits and the kernel\'s ranges');
    case 'ENOSPC':
      return make(ErrorKind.FailedPrecondition, 'the cgroup has no resources to host tasks', 'on v1, cpuset.cpus and cpuset.mems of the group must be set');
    case 'ESRCH':
      return make(ErrorKind.NotFound, 'no such process', 'the process has already exited');
    case 'ELOOP':
    case 'ENOTDIR':
      return make(ErrorKind.InvalidArgument, 'the path goes through a symlink or a file', 'someone placed a symlink or file in the cgroup tree; remove it');
    default:
      return toKukeError(err, what);
  }
}
