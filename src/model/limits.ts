/**
 * The bounds on what a user may hand kukeon: manifests (`kuke apply`) and cell templates (`kuke create cell`, the
 * CreateCell/Apply RPCs). Every number is enforced before the first event is appended, so nothing oversized reaches
 * the log, the read model or a listing. Each says why it is what it is; the README lists them for users.
 *
 * These bind new requests only. Events already in a log are never re-checked (events/ keeps its looser schemas),
 * so an older log that holds a larger value still replays.
 */
import { ErrorKind, KukeError } from '../errors.js';

/** 1 KiB, 1 MiB: sizes below are in bytes of UTF-8. */
const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * A manifest file (all its documents). 1 MiB is hundreds of cells, and the apply request stays far below the gRPC
 * message limit.
 */
export const MAX_MANIFEST_BYTES = 1 * MiB;

/**
 * Refuses a manifest of `bytes` (UTF-8) over {@link MAX_MANIFEST_BYTES}, with the one line every side gives: kukeond
 * when it parses, the in-process client, and kuke before it reads a file or sends a request.
 */
export function checkManifestSize(bytes: number): void {
  if (bytes <= MAX_MANIFEST_BYTES) return;
  throw new KukeError(ErrorKind.InvalidArgument, `the manifest ${sizeOverLimit(bytes, MAX_MANIFEST_BYTES)}; split it into several files`, { hint: 'nothing was changed' });
}

/**
 * Values (scalars: keys, strings, numbers) in one manifest. The `yaml` parser takes some 50-100 µs per value on a
 * 2-core host, and it runs inside kukeond: 1 MiB of one-character keys (60,000 of them) took 5 s. 20,000 values
 * bound a parse to about a second and are still 100 cells of 200 fields each.
 */
export const MAX_YAML_VALUES = 20_000;

/** Documents in one manifest; an apply is one request, validated whole before anything changes. */
export const MAX_DOCUMENTS = 100;

/**
 * Nesting of a YAML document (maps and lists inside each other). A Cell manifest is 6 levels deep; YAML nested
 * thousands deep exhausts the parser's stack or time (measured: 1,000 nested `? ` keys never finish).
 */
export const MAX_YAML_DEPTH = 32;

/**
 * How many nodes YAML aliases (`*name`) may expand to, in total (the `yaml` package's `maxAliasCount`). Reusing an
 * anchored env list a few times is fine; a "billion laughs" alias bomb is not.
 */
export const MAX_YAML_ALIAS_EXPANSION = 100;

/** Containers of one cell: they share a network namespace and a cgroup; 32 is far beyond any pod in practice. */
export const MAX_CONTAINERS_PER_CELL = 32;

/**
 * Environment of one container: entries, the length of a name and of a value. Linux caps one argv/envp string at
 * 128 KiB (MAX_ARG_STRLEN) and all of them at a quarter of the stack limit (2 MiB by default); 32 KiB per value
 * keeps a template small enough to list and stream, and bigger payloads belong in a file or a volume.
 */
export const MAX_ENV_ENTRIES = 1024;
export const MAX_ENV_NAME_BYTES = 256;
export const MAX_ENV_VALUE_BYTES = 32 * KiB;

/** Entries of `command` plus `args`, and the length of one of them (same reasons as the environment). */
export const MAX_ARGV_ENTRIES = 1024;
export const MAX_ARG_BYTES = 32 * KiB;

/** argv and environment of one container together: well under the kernel's 2 MiB default for execve. */
export const MAX_EXEC_BYTES = 256 * KiB;

/** Volumes (mounts) of one container, and the length of a path (Linux PATH_MAX is 4096 including the NUL). */
export const MAX_MOUNTS_PER_CONTAINER = 64;
export const MAX_PATH_BYTES = 4095;
/** Ports of one container: each published one is an iptables rule on every host packet to a local address. */
export const MAX_PORTS_PER_CONTAINER = 64;
/** Mount options of one mount (each a short word such as `ro` or `size=64m`). */
export const MAX_MOUNT_OPTIONS = 32;
export const MAX_MOUNT_OPTION_BYTES = 256;

/**
 * Labels, as Kubernetes bounds them (so that they can be exported to it, issue 17): at most 64 per resource; a key
 * is `[prefix/]name` with a name of at most 63 characters and a DNS subdomain prefix of at most 253; a value has at
 * most 63 characters. Names and values are alphanumerics, `-`, `_` and `.`, starting and ending alphanumeric.
 */
export const MAX_LABELS = 64;
export const MAX_LABEL_NAME_LENGTH = 63;
export const MAX_LABEL_PREFIX_LENGTH = 253;
export const MAX_LABEL_VALUE_LENGTH = 63;

/**
 * A whole cell template as it is stored in the log (JSON). Every listing and history record carries it; listings and
 * histories travel one item per message (src/api/limits.ts), so this keeps each of them a small message.
 */
export const MAX_CELL_TEMPLATE_BYTES = 512 * KiB;

/**
 * Restart backoff: one day. Timers of Node fire at once beyond 2^31-1 ms (24.8 days), and a longer wait is not a
 * restart policy any more.
 */
export const MAX_RESTART_BACKOFF_SECONDS = 86_400;

/** CFS bandwidth bounds of the kernel (kernel/sched/core.c): period 1 ms .. 1 s, quota at least 1 ms. */
export const MIN_CPU_PERIOD_US = 1_000;
export const MAX_CPU_PERIOD_US = 1_000_000;
export const MIN_CPU_QUOTA_US = 1_000;

/** Human size for messages: `32 KiB`, `1 MiB`, `1.5 MiB`, `700 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes >= MiB) return `${Number((bytes / MiB).toFixed(1))} MiB`;
  if (bytes >= KiB) return `${Number((bytes / KiB).toFixed(1))} KiB`;
  return `${bytes} bytes`;
}

/**
 * `is 39.1 KiB, more than the limit of 32 KiB` (exact byte counts when the rounded sizes would read the same).
 */
export function sizeOverLimit(bytes: number, limit: number): string {
  const [size, max] = formatBytes(bytes) === formatBytes(limit) ? [`${bytes} bytes`, `${limit} bytes`] : [formatBytes(bytes), formatBytes(limit)];
  return `is ${size}, more than the limit of ${max}`;
}

/** Bytes of `text` in UTF-8 (what the kernel, the log and the wire count). */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
