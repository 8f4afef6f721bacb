/**
 * Names, and every system name derived from them. One validator, used before a name touches anything: names
 * become directories, containerd namespaces and ids, cgroup paths, CNI network and bridge names.
 */
import { ErrorKind, KukeError } from '../errors.js';

/** The kinds of named resources. */
export type ResourceKind = 'realm' | 'space' | 'stack' | 'cell' | 'container';

/** DNS-1123 label: lowercase alphanumerics and '-', starting and ending with an alphanumeric. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Longest DNS-1123 label. */
export const MAX_NAME_LENGTH = 63;
/** containerd 1.x caps identifiers (container ids, namespaces) at 76 characters. */
export const MAX_CONTAINERD_ID_LENGTH = 76;
/** Linux IFNAMSIZ - 1. */
export const MAX_IFNAME_LENGTH = 15;
/** sun_path is 108 bytes including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;
/** The suffix of every realm's containerd namespace. */
export const NAMESPACE_SUFFIX = 'kukeon.io';

/** The system realm, where kukeond runs (seed: "System realm"). */
export const SYSTEM_REALM = 'kukeon-system';
/** The system realm's name on hosts bootstrapped by older versions. */
export const LEGACY_SYSTEM_REALM = 'kuke-system';
/** The daemon's space, stack and cell inside the system realm. */
export const SYSTEM_SPACE = 'kukeon';
export const SYSTEM_STACK = 'kukeon';
export const SYSTEM_CELL = 'kukeond';
/** The default user realm, space and stack. */
export const DEFAULT_REALM = 'default';
export const DEFAULT_SPACE = 'default';
export const DEFAULT_STACK = 'default';

/**
 * Why `name` is not a valid name, or `undefined` if it is one.
 *
 * @example
 * nameProblem('a_b') // 'must consist of lowercase letters, digits and "-" (found "_")'
 */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string';
  if (name.length === 0) return 'must not be empty';
  if (name.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters (it has ${name.length})`;
  if (DNS1123_LABEL.test(name)) return undefined;
  const bad = [...name].find((ch) => !/[a-z0-9-]/.test(ch));
  if (bad !== undefined) {
    const shown = /^[\x20-\x7e]$/.test(bad) ? bad : `U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    return `must consist of lowercase letters, digits and "-" (found "${shown}")`;
  }
  return 'must start and end with a lowercase letter or digit';
}

/**
 * Throws `InvalidArgument` unless `name` is a DNS-1123 label (at most 63 characters).
 *
 * @example
 * validateName('cell', 'web'); // ok
 * validateName('cell', '../x'); // throws: invalid cell name "../x": must consist of …
 */
export function validateName(kind: ResourceKind, name: unknown): asserts name is string {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid ${kind} name ${JSON.stringify(name)}: ${problem}`, {
      resource: { kind },
      hint: 'names are DNS-1123 labels: lowercase letters, digits and "-", at most 63 characters, e.g. "web-1"',
    });
  }
}

/** The containerd namespace of a realm: `<realm>.kukeon.io`. */
export function realmNamespace(realm: string, suffix = NAMESPACE_SUFFIX): string {
  validateName('realm', realm);
  return `${realm}.${suffix}`;
}

/**
 * The user-visible name of a cell's root container: `<cell>_root` (the daemon's is `kukeond_root`). The only
 * names with `_` are these generated ones, so they never collide with a user's container name.
 */
export function rootContainerName(cell: string): string {
  return `${cell}_root`;
}

/**
 * The containerd id of a container: `<space>_<stack>_<cell>_<container>`, `root` for the cell's root container.
 * The realm is the namespace. Checked against containerd's 76-character limit.
 */
export function containerdId(space: string, stack: string, cell: string, container: string, isRoot: boolean): string {
  validateName('space', space);
  validateName('stack', stack);
  validateName('cell', cell);
  if (!isRoot) validateName('container', container);
  const id = `${space}_${stack}_${cell}_${isRoot ? 'root' : container}`;
  if (id.length > MAX_CONTAINERD_ID_LENGTH) {
    throw new KukeError(
      ErrorKind.InvalidArgument,
      `container id "${id}" is ${id.length} characters; containerd allows ${MAX_CONTAINERD_ID_LENGTH}`,
      { hint: 'use shorter space, stack, cell or container names' },
    );
  }
  return id;
}

/** The CNI network of a space: `<realm>-<space>`. */
export function networkName(realm: string, space: string): string {
  validateName('realm', realm);
  validateName('space', space);
  return `${realm}-${space}`;
}

/** FNV-1a, 32 bits, of the UTF-8 bytes of `input`. */
export function fnv1a32(input: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(input, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * The bridge of a network: `k-` + 8 hex digits of FNV-1a-32 of the network name; always 10 characters, within
 * IFNAMSIZ. `default-default` → `k-703e8b3a`.
 */
export function bridgeName(network: string): string {
  const name = `k-${fnv1a32(network).toString(16).padStart(8, '0')}`;
  if (name.length > MAX_IFNAME_LENGTH) throw new KukeError(ErrorKind.Internal, `bridge name ${name} is too long`);
  return name;
}

/** Segments of the cgroup hierarchy below the cgroup root, for the given depth of the hierarchy. */
export interface HierarchyPath {
  realm: string;
  space?: string;
  stack?: string;
  cell?: string;
}

/**
 * The cgroup path of a realm, space, stack or cell: `<root>/<realm>[/<space>[/<stack>[/<cell>]]]`, root `/kukeon`
 * by default. Every segment is validated here, so the result never escapes the root.
 */
export function cgroupPath(at: HierarchyPath, root = '/kukeon'): string {
  const segments: string[] = [];
  validateName('realm', at.realm);
  segments.push(at.realm);
  if (at.space !== undefined) {
    validateName('space', at.space);
    segments.push(at.space);
    if (at.stack !== undefined) {
      validateName('stack', at.stack);
      segments.push(at.stack);
      if (at.cell !== undefined) {
        validateName('cell', at.cell);
        segments.push(at.cell);
      }
    }
  }
  return `${normalizeCgroupRoot(root)}/${segments.join('/')}`;
}

/**
 * Validates a cgroup root (`/kukeon`, `/test-1234/kukeon`): absolute, segments are containerd-id-like, no `.`/`..`.
 * Returns it without a trailing slash.
 */
export function normalizeCgroupRoot(root: string): string {
  const trimmed = root.replace(/\/+$/, '');
  const segments = trimmed.split('/').slice(1);
  if (!trimmed.startsWith('/') || segments.length === 0 || segments.some((s) => !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s) || s === '..')) {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid cgroup root ${JSON.stringify(root)}`, {
      hint: 'use an absolute path of plain segments, e.g. /kukeon',
    });
  }
  return trimmed;
}

/** Throws `InvalidArgument` if a unix socket path would not fit in sun_path. */
export function validateSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > MAX_UNIX_SOCKET_PATH_BYTES) {
    throw new KukeError(
      ErrorKind.InvalidArgument,
      `socket path ${path} is ${bytes} bytes; unix sockets allow ${MAX_UNIX_SOCKET_PATH_BYTES}`,
      { hint: 'use a shorter run path or --socket' },
    );
  }
}
