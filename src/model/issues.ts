/**
 * The one formatter for schema problems (DESIGN §8): a zod issue becomes `spec.containers[0].imagee: unknown field;
 * did you mean "image"?`. Strict objects are made with {@link strictObject}, which remembers its own keys so that
 * an unknown one gets the nearest known key as a suggestion (none when nothing is close); fields the original
 * Kukeon has and this project does not implement yet are declared with {@link notSupported}, so they are refused
 * by name instead of being reported as unknown or, worse, ignored.
 */
import { z } from 'zod';

/** Marks issues raised by {@link notSupported} (they outrank the others: they explain most). */
const UNSUPPORTED = 'kukeon.notSupported';

/** Other spellings users bring from Docker, Compose, Kubernetes and Podman, mapped to ours. */
const ALIASES: Record<string, string> = {
  environment: 'env',
  entrypoint: 'command',
  cmd: 'args',
  arguments: 'args',
  workdir: 'workingDir',
  working_dir: 'workingDir',
  workingDirectory: 'workingDir',
  volumeMounts: 'volumes',
  mounts: 'volumes',
  restart: 'restartPolicy',
  limits: 'resources',
  memory: 'memoryLimitBytes',
  cpu_shares: 'cpuShares',
  pids_limit: 'pidsLimit',
  realm: 'realmId',
  space: 'spaceId',
  stack: 'stackId',
  cell: 'cellId',
  type: 'kind',
  path: 'target',
  destination: 'target',
  readonly: 'readOnly',
  read_only: 'readOnly',
};

/** Levenshtein distance of two strings. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known key closest to `key` (case-insensitively, or through a known other spelling), if it is close enough to
 * be a typo: at most a third of the longer word's letters differ.
 *
 * @example
 * suggestKey('imagee', ['id', 'image', 'args']); // 'image'
 * suggestKey('enviroment', ['env', 'args']);     // 'env' (via "environment")
 */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  if (key.length > 64) return undefined;
  let best: { key: string; distance: number } | undefined;
  const consider = (candidate: string, target: string) => {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= Math.max(1, Math.floor(Math.max(key.length, candidate.length) / 3)) && (!best || distance < best.distance)) {
      best = { key: target, distance };
    }
  };
  for (const k of known) consider(k, k);
  for (const [alias, target] of Object.entries(ALIASES)) if (known.includes(target)) consider(alias, target);
  return best?.key;
}

/** A key or value shown in a message: quoted, one line, at most 80 characters. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/**
 * A zod object that refuses keys it does not declare, suggesting the nearest declared one. Keys declared with
 * {@link notSupported} are never suggested.
 */
export function strictObject<T extends z.ZodRawShape>(shape: T) {
  const known = Object.keys(shape).filter((k) => !(shape[k] as { _kukeonUnsupported?: boolean })._kukeonUnsupported);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const key = String(issue.keys[0]);
      const suggestion = suggestKey(key, known);
      return `unknown field${suggestion ? `; did you mean ${quote(suggestion)}?` : ''}`;
    },
  });
}

/**
 * A field of the original Kukeon (or of Docker/Kubernetes manifests) that kukeon does not implement yet: present
 * at all, it is refused with `not supported yet (<why or where it is planned>); remove it`.
 */
export function notSupported(why?: string) {
  const schema = z
    .unknown()
    .optional()
    .superRefine((_value, ctx) => {
      ctx.addIssue({ code: 'custom', message: `not supported yet${why ? ` (${why})` : ''}; remove it`, params: { [UNSUPPORTED]: true } });
    });
  return Object.assign(schema, { _kukeonUnsupported: true });
}

/** `spec.containers[0].image`; keys that are not plain words are quoted (`labels["a.b/c"]`). */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(part))) out += out === '' ? String(part) : `.${String(part)}`;
    else out += `[${quote(String(part))}]`;
  }
  return out;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'object':
      return 'a mapping';
    case 'string':
      return 'a string';
    case 'number':
      return Number.isInteger(value) ? 'an integer' : 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return typeof value;
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  record: 'a mapping',
};

/** The text after the path for one issue. */
function describe(issue: z.core.$ZodIssue, input: unknown): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.message;
    case 'invalid_type': {
      const value = valueAt(input, issue.path);
      if (value === undefined) return 'is required';
      return `must be ${EXPECTED[issue.expected] ?? issue.expected}, not ${typeName(value)}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return 'must be a string or a list of strings';
    case 'too_small':
      if (issue.message && !issue.message.startsWith('Too small')) return issue.message;
      return issue.origin === 'array' ? `must have at least ${String(issue.minimum)} entries` : `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      if (issue.message && !issue.message.startsWith('Too big')) return issue.message;
      return issue.origin === 'array' ? `must have at most ${String(issue.maximum)} entries` : `must be at most ${String(issue.maximum)}`;
    default:
      return issue.message;
  }
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = Object.prototype.hasOwnProperty.call(value, key) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  return value;
}

/** Unknown and unsupported fields first (a typo often causes a "required" issue too), then zod's order. */
function rank(issue: z.core.$ZodIssue): number {
  if (issue.code === 'unrecognized_keys') return 0;
  if (issue.code === 'custom' && (issue.params as Record<string, unknown> | undefined)?.[UNSUPPORTED]) return 0;
  return 1;
}

/**
 * The one line for a failed parse: the most telling issue, as `path: problem` (`base` is prepended to the path).
 *
 * @example
 * formatIssues(schema.safeParse(doc).error!, doc); // 'spec.containers[0].imagee: unknown field; did you mean "image"?'
 */
export function formatIssues(error: z.ZodError, input: unknown, base: readonly PropertyKey[] = []): string {
  const issue = [...error.issues].sort((a, b) => rank(a) - rank(b))[0]!;
  const path = [...base, ...issue.path, ...(issue.code === 'unrecognized_keys' ? [String(issue.keys[0])] : [])];
  const text = describe(issue, input);
  if (path.length === 0) return text;
  return text === 'is required' ? `${formatPath(path)} is required` : `${formatPath(path)}: ${text}`;
}
