/**
 * Names, and every system name derived from them. One validator, used before a name touches anything: names
 * become directories, containerd namespaces and ids, cgroup paths, CNI network and bridge names.
 */
import { ErrorKind, KukeError } from '../errors.js';

/** The kinds of named resources. */
export type ResourceKind = 'realm' | 'space' | 'stack' | 'cell' | 'container' | 'secret';

/** DNS-1123 label: lowercase alphanumerics and '-', starting and ending with an alphanumeric. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Longest DNS-1123 label. */
export const MAX_NAME_LENGTH = 63;

// Limits of the systems that receive derived names. Each one is checked here, before the first event of a
// create is appended, so that nothing stored can later be refused by the system it is meant for.

/** containerd caps identifiers (container ids, namespaces) at 76 characters (pkg/identifiers `maxLength`). */
export const MAX_CONTAINERD_ID_LENGTH = 76;
/**
 * containerd's identifier grammar (pkg/identifiers): runs of ASCII letters and digits joined by a single `.`, `_` or
 * `-`. Namespaces and container ids must match it.
 */
export const CONTAINERD_IDENTIFIER = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
/** Linux IFNAMSIZ - 1: the longest interface (bridge, veth) name. */
export const MAX_IFNAME_LENGTH = 15;
/** sun_path is 108 bytes including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;
/** NAME_MAX: the longest file or directory name (a cgroup, a conflist, a CNI cache entry). */
export const MAX_PATH_SEGMENT_BYTES = 255;
/** PATH_MAX - 1: the longest path the kernel takes. */
export const MAX_PATH_BYTES = 4095;
/**
 * CNI's rule for network names and container ids (libcni pkg/utils `cniValidNameChars`): a letter or digit, then
 * letters, digits, `_`, `.` and `-`.
 */
export const CNI_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/**
 * The longest CNI network name: the name becomes a file name three ways (`<name>.conflist`, the host-local
 * directory `<name>`, and the result cache entry `<name>-<container id>-<ifname>`), the last being the longest.
 */
export const MAX_NETWORK_NAME_LENGTH = MAX_PATH_SEGMENT_BYTES - (1 + MAX_CONTAINERD_ID_LENGTH + 1 + MAX_IFNAME_LENGTH);
/**
 * How much a cgroup path can grow below the cgroup root: realm, space, stack, cell (a name each) and the container's
 * containerd id, each with its `/`, under the longest v1 mount point kukeon uses (`/sys/fs/cgroup/cpu,cpuacct`,
 * rounded up).
 */
const CGROUP_DEPTH_BYTES = 4 * (1 + MAX_NAME_LENGTH) + 1 + MAX_CONTAINERD_ID_LENGTH + 64;
/**
 * How much a path can grow below the run path: the deepest is a container log,
 * `logs/<realm>/<space>/<stack>/<cell>/<container>.log`, or a CNI cache entry, `cni/cache/results/<entry>`.
 */
const RUN_PATH_DEPTH_BYTES = Math.max('/logs'.length + 5 * (1 + MAX_NAME_LENGTH) + '.log'.length, '/cni/cache/results/'.length + MAX_PATH_SEGMENT_BYTES);
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
  if (bad !== undefined) return `must consist of lowercase letters, digits and "-" (found "${shown(bad)}")`;
  return 'must start and end with a lowercase letter or digit';
}

/** A character as a message shows it: itself if it is printable ASCII, else its code point (`U+00FC`). */
function shown(ch: string): string {
  return /^[\x20-\x7e]$/.test(ch) ? ch : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
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

/**
 * Why `id` is not an identifier containerd accepts (a namespace, a container id), or `undefined` if it is one.
 *
 * @example
 * containerdIdentifierProblem('Bad NS!') // 'may hold only letters, digits, ".", "_" and "-" (found " ")'
 */
export function containerdIdentifierProblem(id: string): string | undefined {
  if (id.length === 0) return 'must not be empty';
  if (id.length > MAX_CONTAINERD_ID_LENGTH) return `is ${id.length} characters; containerd allows ${MAX_CONTAINERD_ID_LENGTH}`;
  if (CONTAINERD_IDENTIFIER.test(id)) return undefined;
  const bad = [...id].find((ch) => !/[A-Za-z0-9._-]/.test(ch));
  if (bad !== undefined) return `may hold only letters, digits, ".", "_" and "-" (found "${shown(bad)}")`;
  const doubled = /[._-]{2}/.exec(id)?.[0];
  if (doubled !== undefined) return `has "${doubled}"; containerd allows one ".", "_" or "-" at a time`;
  return 'must start and end with a letter or digit';
}

/** Why `suffix` cannot end realms' namespaces (`<realm>.<suffix>`), or `undefined` if it can. */
export function namespaceSuffixProblem(suffix: string): string | undefined {
  const problem = containerdIdentifierProblem(suffix);
  if (problem !== undefined) return problem;
  if (suffix.length + 2 > MAX_CONTAINERD_ID_LENGTH) return `is ${suffix.length} characters; with it no realm namespace fits containerd's ${MAX_CONTAINERD_ID_LENGTH}`;
  return undefined;
}

/** The longest realm name whose namespace `<realm>.<suffix>` fits containerd's limit. */
export function maxRealmNameLength(suffix: string): number {
  return Math.min(MAX_NAME_LENGTH, MAX_CONTAINERD_ID_LENGTH - 1 - suffix.length);
}

/**
 * The containerd namespace of a realm: `<realm>.<suffix>` (`default.kukeon.io`). Throws InvalidArgument when
 * containerd would refuse it (too long with the suffix, or a name like `a--b`), naming the longest realm that fits.
 */
export function realmNamespace(realm: string, suffix = NAMESPACE_SUFFIX): string {
  validateName('realm', realm);
  const namespace = `${realm}.${suffix}`;
  const problem = containerdIdentifierProblem(namespace);
  if (problem !== undefined) {
    const tooLong = namespace.length > MAX_CONTAINERD_ID_LENGTH;
    throw new KukeError(ErrorKind.InvalidArgument, `realm name "${realm}" makes the containerd namespace "${namespace}", which ${problem}`, {
      resource: { kind: 'realm', name: realm },
      hint: tooLong
        ? `use a realm name of at most ${maxRealmNameLength(suffix)} characters (the namespace suffix ".${suffix}" takes ${suffix.length + 1})`
        : 'use a realm name without "--"',
    });
  }
  return namespace;
}

/**
 * Throws InvalidArgument unless `namespace`, given for realm `realm` instead of the derived one (a Realm manifest's
 * `spec.namespace`), is a namespace containerd accepts.
 */
export function validateNamespaceOverride(realm: string, namespace: unknown): asserts namespace is string {
  const problem = typeof namespace === 'string' ? containerdIdentifierProblem(namespace) : 'must be a string';
  if (problem === undefined) return;
  throw new KukeError(ErrorKind.InvalidArgument, `invalid namespace ${JSON.stringify(namespace)} for realm "${realm}": it ${problem}`, {
    resource: { kind: 'realm', name: realm },
    hint: `containerd namespaces are letters and digits joined by single ".", "_" or "-", at most ${MAX_CONTAINERD_ID_LENGTH} characters (e.g. "${realm}.${NAMESPACE_SUFFIX}"); or leave spec.namespace out`,
  });
}

/**
 * Throws InvalidArgument unless a space, stack, cell or container name can be part of a containerd container id
 * (`<space>_<stack>_<cell>_<container>`): a valid name without `--`, which containerd refuses.
 */
export function validateIdPart(kind: Exclude<ResourceKind, 'realm'>, name: unknown): asserts name is string {
  validateName(kind, name);
  const doubled = /--+/.exec(name)?.[0];
  if (doubled === undefined) return;
  throw new KukeError(ErrorKind.InvalidArgument, `invalid ${kind} name "${name}": it has "${doubled}", and containerd refuses container ids with two separators in a row`, {
    resource: { kind, name },
    hint: `use single "-" between letters and digits, e.g. "${name.replace(/--+/g, '-')}"`,
  });
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
  const problem = containerdIdentifierProblem(id);
  if (problem !== undefined) {
    throw new KukeError(ErrorKind.InvalidArgument, `container id "${id}" ${problem}`, {
      hint: id.length > MAX_CONTAINERD_ID_LENGTH ? 'use shorter space, stack, cell or container names' : 'use names without "--"',
    });
  }
  return id;
}

/** The random identity of one kukeon install: 16 hex digits, kept under its run path (see the CNI adapter). */
export const INSTANCE_ID = /^[0-9a-f]{16}$/;

/**
 * The CNI network of a space, made by this version: `<realm>.<space>.<instance tag>`, the tag being the first 8 hex
 * digits of the install's id.
 *
 * Why the instance is in it: the network name is all that names what CNI and its plugins create on the host
 * outside our run path. The bridge is `k-` + FNV-1a-32 of it ({@link bridgeName}), the bridge plugin's masquerade
 * chain is a hash of it and the container id, and its POSTROUTING rule carries it as a comment. With `<realm>-<space>`
 * alone (the original's name, still used by spaces created before), two installs on one host with the same realm and
 * space names would share a bridge, and one's cleanup would delete the other's chains. Why `.`: names cannot hold
 * one, so realm `a-b` space `c` and realm `a` space `b-c` no longer make the same network.
 *
 * @example
 * networkName('default', 'default', '3fa94c1e0b7d2a65') // 'default.default.3fa94c1e'
 */
export function networkName(realm: string, space: string, instance: string): string {
  validateName('realm', realm);
  validateName('space', space);
  if (!INSTANCE_ID.test(instance)) throw new KukeError(ErrorKind.Internal, `instance id ${JSON.stringify(instance)} is not 16 hex digits`);
  return `${realm}.${space}.${instance.slice(0, 8)}`;
}

/** The CNI network name spaces got before the instance was part of it (`<realm>-<space>`); stored in older logs. */
export function legacyNetworkName(realm: string, space: string): string {
  validateName('realm', realm);
  validateName('space', space);
  return `${realm}-${space}`;
}

/** Why `name` cannot be a CNI network name (CNI's rule, and a file name of ours), or `undefined` if it can. */
export function networkNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > MAX_NETWORK_NAME_LENGTH) return `is ${name.length} characters; at most ${MAX_NETWORK_NAME_LENGTH} fit in the file names CNI makes of it`;
  if (!CNI_NAME.test(name)) return 'must start with a letter or digit and hold only letters, digits, "_", "." and "-" (CNI\'s rule)';
  // Within CNI's rule, ours are lowercase: they are made of names and hex digits.
  if (/[A-Z]/.test(name)) return 'must be lowercase (it is made of kukeon names)';
  return undefined;
}

/**
 * Why `name` cannot be a network interface name (kernel `dev_valid_name`, CNI `ValidateInterfaceName`), or
 * `undefined` if it can.
 */
export function interfaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (Buffer.byteLength(name, 'utf8') > MAX_IFNAME_LENGTH) return `is ${Buffer.byteLength(name, 'utf8')} bytes; interface names allow ${MAX_IFNAME_LENGTH} (IFNAMSIZ)`;
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  if (/[/:\s]/.test(name)) return 'must not hold "/", ":" or whitespace';
  return undefined;
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
  const problem = interfaceNameProblem(name);
  if (problem !== undefined) throw new KukeError(ErrorKind.Internal, `bridge name ${name} ${problem}`);
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
  const problem = pathRoomProblem(trimmed, CGROUP_DEPTH_BYTES);
  if (problem !== undefined) {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid cgroup root ${JSON.stringify(root.slice(0, 40) + (root.length > 40 ? '…' : ''))}: ${problem}`, {
      hint: 'use a short absolute path, e.g. /kukeon',
    });
  }
  return trimmed;
}

/**
 * Why `base` leaves no room for `depth` more bytes of path below it (or has a segment longer than NAME_MAX), or
 * `undefined` if every path derived from it fits.
 */
export function pathRoomProblem(base: string, depth: number): string | undefined {
  const long = base.split('/').find((s) => Buffer.byteLength(s, 'utf8') > MAX_PATH_SEGMENT_BYTES);
  if (long !== undefined) return `it has a segment of ${Buffer.byteLength(long, 'utf8')} bytes; file names allow ${MAX_PATH_SEGMENT_BYTES}`;
  const bytes = Buffer.byteLength(base, 'utf8');
  if (bytes + depth > MAX_PATH_BYTES) return `it is ${bytes} bytes; paths below it need ${depth} more and the kernel allows ${MAX_PATH_BYTES} in all`;
  return undefined;
}

/** Why `runPath` cannot hold kukeon's files (paths below it would exceed the kernel's limits), or `undefined`. */
export function runPathProblem(runPath: string): string | undefined {
  if (runPath.length === 0) return 'it is empty';
  if (runPath.includes('\0')) return 'it holds a NUL byte';
  return pathRoomProblem(runPath, RUN_PATH_DEPTH_BYTES);
}

/** Why `path` cannot be a unix socket's path (sun_path holds 107 bytes and a NUL), or `undefined` if it can. */
export function socketPathProblem(path: string): string | undefined {
  if (path.length === 0) return 'is empty';
  if (path.includes('\0')) return 'holds a NUL byte';
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > MAX_UNIX_SOCKET_PATH_BYTES) return `is ${bytes} bytes; unix sockets allow ${MAX_UNIX_SOCKET_PATH_BYTES}`;
  return undefined;
}

/** Throws `InvalidArgument` if a unix socket path would not fit in sun_path. */
export function validateSocketPath(path: string, what = 'socket path'): void {
  const problem = socketPathProblem(path);
  if (problem !== undefined) {
    throw new KukeError(ErrorKind.InvalidArgument, `${what} ${path} ${problem}`, { hint: 'use a shorter path (--socket, --containerd-socket)' });
  }
}
