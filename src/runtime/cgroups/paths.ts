/**
 * The one gate where a cgroup path (a string) becomes directory names. Everything the manager touches is
 * `<hierarchy mount point>/<segment>/<segment>/…` with segments that passed {@link cgroupSegments}, so no input can
 * name a directory outside the hierarchy or a knob file instead of a group.
 */
import { ErrorKind, KukeError } from '../../errors.js';

/**
 * A safe segment: DNS-1123 labels (`default`, `web-1`), containerd-id-like names (`s_t_c_root`, `kukeon-test-ab12`)
 * and the cgroup roots that `normalizeCgroupRoot` accepts (letters, digits, `_`, `-`, `.`; never leading `.`, so
 * `.` and `..` are out). Starting with an alphanumeric also keeps out names like `-x` that tools would read as flags.
 */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** NAME_MAX: the longest directory name Linux accepts. */
const MAX_SEGMENT_BYTES = 255;

/** Why `path` is not an acceptable cgroup path, or undefined if it is one. */
export function cgroupPathProblem(path: string): string | undefined {
  if (typeof path !== 'string' || path.length === 0) return 'it is empty';
  if (path.includes('\0')) return 'it contains a NUL byte';
  if (!path.startsWith('/')) return 'it is not absolute';
  if (path === '/') return 'it is the hierarchy root, which kukeon never creates or removes';
  const segments = path.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '') return 'it has an empty segment (a doubled or trailing "/")';
    if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
    if (!SEGMENT.test(segment)) return `segment ${JSON.stringify(segment)} is not a plain name (letters, digits, "_", "-", ".")`;
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return `segment ${JSON.stringify(segment.slice(0, 16) + '…')} is longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return undefined;
}

/**
 * Splits a cgroup path into its validated segments. Throws InvalidArgument for anything that could escape the
 * hierarchy: relative paths, the root itself, empty, `.` or `..` segments, NUL bytes, odd characters.
 *
 * @example
 * cgroupSegments('/kukeon/default/web') // ['kukeon', 'default', 'web']
 */
export function cgroupSegments(path: string): string[] {
  const problem = cgroupPathProblem(path);
  if (problem !== undefined) {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid cgroup path ${JSON.stringify(path)}: ${problem}`, {
      hint: 'cgroup paths are absolute and built from validated names, e.g. /kukeon/default/default/default/web',
    });
  }
  return path.slice(1).split('/');
}
