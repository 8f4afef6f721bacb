/**
 * How large kukeond's API messages may be, and how answers stay under that whatever the event log holds.
 *
 * - A request is at most {@link MAX_REQUEST_BYTES}. The largest request is a manifest (`kuke apply`), which has its
 *   own, smaller limit (model/limits.ts MAX_MANIFEST_BYTES, checked by the client before sending, with the line the
 *   daemon gives); 4 MiB leaves room above it, is far above what a person writes (the Kubernetes API server takes
 *   3 MiB bodies) and is also the receive limit every gRPC implementation uses by default, so a tool such as grpcurl
 *   can talk to kukeond without flags. The gRPC client checks every request before sending and refuses with
 *   `request too large` (one user error) instead of letting the server cut the call off.
 * - Every message kukeond sends is at most {@link MAX_MESSAGE_BYTES} (the same 4 MiB). Answers whose size depends on
 *   what the log holds (lists, histories, apply results) are streams with one item per message, and an item whose
 *   message would exceed {@link PART_BYTES} travels as its JSON in pieces of that size (`Part` in the proto). An
 *   older version could store a value of any size (a 10 MB env value was seen, issue 9): it is still listed whole.
 * - Unary answers that carry a view (create, start, stop, restart) cannot be split: if one would exceed the limit,
 *   its longest strings are cut with a visible marker ({@link fitMessage}); `kuke get` shows them whole.
 */
import { ErrorKind, KukeError } from '../errors.js';
import { formatBytes } from '../model/limits.js';
import type * as pb from './gen/kukeon/v1/kukeon.js';

/** Largest request kukeond accepts (serialized protobuf bytes). */
export const MAX_REQUEST_BYTES = 4 << 20;
/** Largest message kukeond sends, and so the client's receive limit. */
export const MAX_MESSAGE_BYTES = 4 << 20;
/** Items whose message is larger than this travel as JSON parts of this size (well under the message limit). */
export const PART_BYTES = 1 << 20;

/** Channel options of both ends, so that neither falls back to grpc-js's defaults (4 MiB in, unlimited out). */
export const SERVER_CHANNEL_OPTIONS = {
  'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
} as const;
export const CLIENT_CHANNEL_OPTIONS = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_REQUEST_BYTES,
} as const;

/** What a request is, and what to do when it is too large, by method. */
const TOO_LARGE: Record<string, { what: string; hint: string }> = {
  applyManifest: { what: 'the manifest', hint: 'split the manifest into several files and apply them one after the other' },
  createCell: { what: 'the cell', hint: 'make its spec smaller (large data belongs in a mounted file, not in env or args)' },
};

/** Throws InvalidArgument (`request too large: …`) when a serialized request exceeds the daemon's limit. */
export function checkRequestSize(method: string, bytes: number, limit = MAX_REQUEST_BYTES): void {
  if (bytes <= limit) return;
  const { what, hint } = TOO_LARGE[method] ?? { what: `the ${method} request`, hint: 'make the request smaller' };
  throw new KukeError(ErrorKind.InvalidArgument, `request too large: ${what} is ${formatBytes(bytes)} (limit ${formatBytes(limit)})`, { hint });
}

// ------------------------------------------------------------------------------------------------ parts

/** Cuts an item's JSON into parts of at most `size` bytes (at least one part, the last marked). */
export function partsOf(json: string, size = PART_BYTES): pb.Part[] {
  const bytes = Buffer.from(json, 'utf8');
  const parts: pb.Part[] = [];
  for (let at = 0; at < bytes.length || parts.length === 0; at += size) {
    parts.push({ json: bytes.subarray(at, at + size), last: at + size >= bytes.length });
  }
  return parts;
}

/** Joins the parts of one item as they arrive; a UTF-8 sequence may be cut between two parts, so bytes are joined. */
export class PartJoiner {
  private pieces: Buffer[] = [];

  /** Adds a part; returns the item's parsed JSON after its last part, undefined before. */
  add(part: pb.Part): unknown {
    this.pieces.push(Buffer.from(part.json));
    if (!part.last) return undefined;
    const json = Buffer.concat(this.pieces).toString('utf8');
    this.pieces = [];
    return JSON.parse(json) as unknown;
  }

  /** Whether an item's parts were started and not finished (the stream ended in the middle of an item). */
  get pending(): boolean {
    return this.pieces.length > 0;
  }
}

// ------------------------------------------------------------------------------------------------ fitting

/** The marker that replaces the end of a cut string. */
export function cutMarker(length: number): string {
  return `… [cut by kukeon: ${length} characters do not fit in one API message; kuke get shows them whole]`;
}

/**
 * Returns `message` as is when `size(message) <= limit`; otherwise a copy whose longest strings are cut, each ending in
 * {@link cutMarker}, to one common length that fits. Used for unary answers, which cannot be streamed.
 */
export function fitMessage<T>(message: T, size: (m: T) => number, limit = MAX_MESSAGE_BYTES): T {
  if (stringLength(message) <= limit && size(message) <= limit) return message;
  // Encoding the message for every candidate length would take seconds (ts-proto encodes 10 MB of text in about
  // 300 ms), so the length is chosen from the strings' lengths: the strings may take a quarter of the limit (a
  // character is at most 3 bytes in UTF-8), the rest is left to the other fields. Halved until it fits.
  const lengths = stringLengths(message);
  const charsAt = (cap: number) => lengths.reduce((n, len) => n + Math.min(len, cap + cutMarker(len).length), 0);
  let low = 0;
  let high = Math.max(0, ...lengths);
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (charsAt(mid) <= limit / 4) low = mid;
    else high = mid - 1;
  }
  for (let cap = low; ; cap = Math.floor(cap / 2)) {
    const candidate = capStrings(message, cap);
    if (cap === 0 || size(candidate) <= limit) return candidate;
  }
}

/** The total length of the strings in a message (each character is at least one byte of it). */
export function stringLength(value: unknown): number {
  return stringLengths(value).reduce((n, len) => n + len, 0);
}

function stringLengths(value: unknown, into: number[] = []): number[] {
  if (typeof value === 'string') into.push(value.length);
  else if (Array.isArray(value)) for (const v of value) stringLengths(v, into);
  else if (isPlainObject(value)) for (const v of Object.values(value)) stringLengths(v, into);
  return into;
}

function capStrings<T>(value: T, cap: number): T {
  if (typeof value === 'string') {
    const marker = cutMarker(value.length);
    return (value.length > cap + marker.length ? value.slice(0, cap) + marker : value) as T;
  }
  if (Array.isArray(value)) return value.map((v: unknown) => capStrings(v, cap)) as T;
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, capStrings(v, cap)])) as T;
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Buffer.isBuffer(value) && !(value instanceof Uint8Array);
}
