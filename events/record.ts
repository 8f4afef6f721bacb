/**
 * The envelope of every event in the log. Payload schemas per event type live beside the aggregates
 * (events/realm.ts, …); this file fixes what every record carries.
 *
 * A record is written once and never rewritten: readers upcast old payload versions (see events/catalog.ts).
 */
import { z } from 'zod';

/**
 * Who caused an event.
 * - `user`: a client of the daemon's socket; uid/gid/pid from the socket peer when known.
 * - `in-process`: `kuke` doing the work itself (`--no-daemon`, `--run-path`); uid/pid of that process.
 * - `daemon`: kukeond itself (its own start and stop).
 * - `reconcile`: a correction after comparing the log with what the runtime holds.
 * - `runtime`: a fact pushed by the runtime (a task exit from containerd's event stream).
 * - `engine`: a follow-up the engine issued on its own (a cell starting its containers, an effect's result).
 */
export const ActorSchema = z.object({
  type: z.enum(['user', 'in-process', 'daemon', 'reconcile', 'runtime', 'engine']),
  uid: z.number().int().optional(),
  gid: z.number().int().optional(),
  pid: z.number().int().optional(),
  /** Free text for display, e.g. the command line (`kuke kill cell kukeond`). */
  name: z.string().optional(),
});
export type Actor = z.infer<typeof ActorSchema>;

/** What the engine hands to the log to append (the log fills in seq, version, prev and hash). */
export const EventInputSchema = z.object({
  /** Stream of the aggregate: `realm/<r>`, `space/<r>/<s>`, `stack/<r>/<s>/<t>`, `cell/<r>/<s>/<t>/<c>`, `container/<r>/<s>/<t>/<c>/<k>`. */
  stream: z.string().min(1),
  /** Event type, e.g. `CreateCell` (a command that was accepted) or `TaskStarted` (a fact). */
  type: z.string().min(1),
  /** Schema version of `data` for this type. */
  v: z.number().int().positive(),
  /** The payload, valid against the type's schema at version `v`. */
  data: z.unknown(),
  /** ISO-8601 time at which the engine recorded the event (from the injected clock). */
  at: z.string(),
  actor: ActorSchema,
  /** Id of the request or event that caused this one (a client request id, or the seq of the causing event). */
  cause: z.string().optional(),
  /** Groups every event of one user operation (e.g. `kuke apply`), across aggregates. */
  correlation: z.string().optional(),
  /** Aggregate state before and after the event (`Pending` → `Creating`), for history. */
  from: z.string().optional(),
  to: z.string().optional(),
});
export type EventInput = z.infer<typeof EventInputSchema>;

/** A stored record. */
export const EventRecordSchema = EventInputSchema.extend({
  /** Global sequence number, 1-based, contiguous. */
  seq: z.number().int().positive(),
  /** Version of the stream after this event, 1-based, contiguous per stream. */
  ver: z.number().int().positive(),
  /** Hash of the previous record (64 zeros for seq 1). */
  prev: z.string().regex(/^[0-9a-f]{64}$/),
  /** sha256 over `prev` and this record's canonical content; see src/store/hash.ts. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type EventRecord = z.infer<typeof EventRecordSchema>;

/** The hash that precedes the first record. */
export const GENESIS_HASH = '0'.repeat(64);
