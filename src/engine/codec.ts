/**
 * The event codec the log uses: payload validation and upcasting from the event catalogue (events/catalog.ts).
 */
import { checkPayload, upcastPayload } from '../../events/catalog.js';
import type { EventRecord } from '../../events/record.js';
import { ErrorKind, KukeError } from '../errors.js';
import type { EventCodec } from '../store/types.js';

/** The codec of the current catalogue. */
export const catalogCodec: EventCodec = {
  check(event) {
    const result = checkPayload(event.type, event.v, event.data);
    if (!result.ok) throw new KukeError(ErrorKind.InvalidArgument, `invalid event: ${result.problem}`);
  },
  upcast(record: EventRecord): EventRecord {
    const { v, data } = upcastPayload(record.type, record.v, record.data);
    return v === record.v ? record : { ...record, v, data };
  },
};
