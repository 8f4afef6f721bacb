/**
 * Requests are strict like manifests: a field kukeond's proto does not have is refused, never dropped. The decoders
 * (ts-proto with `unknownFields=true`, buf.gen.yaml) keep what they skip in each message's `_unknownFields`, keyed
 * by the wire tag (field number << 3 | wire type); a field whose number is known but whose wire type is not the
 * declared one lands there too, and is as wrong.
 *
 * One blind spot: a map entry's decoder keeps only its key and value, so an unknown field inside a map entry (which
 * no proto evolution produces: map entries have exactly those two fields) is dropped by the generated code.
 */
import { ErrorKind, KukeError } from '../errors.js';

/** An unknown field found in a decoded message: its number, and where it is (empty path: the request itself). */
export interface UnknownField {
  /** Field number as sent (the wire tag without its type). */
  field: number;
  /** Path from the request to the message that holds it, in the API's field names: `template.containers[0]`. */
  path: string;
}

/**
 * The first unknown field of a decoded message or of any message inside it, depth first in field order; undefined
 * when there is none.
 *
 * @example unknownFieldIn(pb.CreateCellRequest.decode(bytes)) // { field: 42, path: 'template' }
 */
export function unknownFieldIn(message: unknown, path = ''): UnknownField | undefined {
  if (typeof message !== 'object' || message === null || ArrayBuffer.isView(message)) return undefined;
  if (Array.isArray(message)) {
    for (const [i, item] of message.entries()) {
      const found = unknownFieldIn(item, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, value] of Object.entries(message)) {
    if (key === '_unknownFields') {
      const tag = Object.keys((value ?? {}) as object)[0];
      if (tag !== undefined) return { field: Number(tag) >>> 3, path };
      continue;
    }
    const found = unknownFieldIn(value, path ? `${path}.${key}` : key);
    if (found) return found;
  }
  return undefined;
}

/**
 * Throws InvalidArgument when `request` carries an unknown field: a client built from another proto (an older or
 * newer kuke) would otherwise have part of its request silently ignored. `rpc` is the method's proto name.
 */
export function refuseUnknownFields(rpc: string, request: unknown): void {
  const found = unknownFieldIn(request);
  if (!found) return;
  const where = found.path ? `in ${found.path} of the request` : 'in the request';
  throw new KukeError(ErrorKind.InvalidArgument, `${rpc}: unknown field ${found.field} ${where}; is kuke older or newer than kukeond?`, {
    hint: 'use the kuke of the same build as kukeond, or switch the daemon to this build: sudo kuke daemon recreate',
  });
}
