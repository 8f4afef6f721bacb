/**
 * ANCHOR.json, beside the LevelDB files: the head every caller was told about, `{seq, hash, wal}`.
 *
 * It is written after each batch is durable and before any append of that batch resolves, so it is exactly the
 * acknowledged head. Both directions matter on open:
 *   - a head below the anchor is a lost tail (LevelDB drops a torn batch silently; only an outside record can
 *     tell) → DataLoss;
 *   - records above the anchor were never acknowledged (a kill -9 between the batch and the anchor, or a batch
 *     the log refused after a failed write whose bytes still reached the WAL) → rolled back, so that what a
 *     client was told always matches the log.
 * Writing the anchor before the batch instead would leave it ahead of the head after every refused or
 * interrupted batch, which is indistinguishable from a lost tail.
 *
 * The file has a fixed size and is overwritten in place by one positioned write of that size, then fdatasync:
 * overwriting allocated blocks needs no new ones, so a full disk cannot make the anchor fail after the batch
 * (a torn overwrite would need a torn sector write; it reads as unreadable and is then rebuilt from the head).
 * `wal` is the head when the current write-ahead log began (the log's head at open): only records above it can
 * be in the WAL that LevelDB replays on the next open, so only they need checking when the replay reports drops.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** File name of the anchor inside the log directory. */
export const ANCHOR_FILE = 'ANCHOR.json';

/** Size of the anchor file: room for the JSON, padded with spaces. Never changes once a log exists. */
export const ANCHOR_BYTES = 256;

/** What the anchor holds. `wal` is absent in anchors written before it existed. */
export interface AnchorValue {
  seq: number;
  hash: string;
  wal?: number;
}

/** The fixed-size bytes of an anchor: its JSON, space-padded, ending with a newline. */
export function encodeAnchor(value: AnchorValue): Buffer {
  const json = JSON.stringify(value.wal === undefined ? { seq: value.seq, hash: value.hash } : { seq: value.seq, hash: value.hash, wal: value.wal });
  if (json.length > ANCHOR_BYTES - 1) throw new Error(`anchor value does not fit in ${ANCHOR_BYTES} bytes`);
  return Buffer.from(`${json.padEnd(ANCHOR_BYTES - 1, ' ')}\n`, 'utf8');
}

/** The anchor in `bytes` (fixed-size or the older unpadded form), or undefined if they do not hold one. */
export function decodeAnchor(bytes: Buffer | string): AnchorValue | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString());
  } catch {
    return undefined;
  }
  const v = parsed as Partial<AnchorValue> | null;
  if (!v || !Number.isSafeInteger(v.seq) || v.seq! < 0 || typeof v.hash !== 'string' || !/^[0-9a-f]{64}$/.test(v.hash)) return undefined;
  if (v.wal !== undefined && (!Number.isSafeInteger(v.wal) || v.wal < 0)) return undefined;
  return v.wal === undefined ? { seq: v.seq!, hash: v.hash } : { seq: v.seq!, hash: v.hash, wal: v.wal };
}

/**
 * Reads the anchor of the log in `dir`: `missing`, `unreadable` (damaged, or not an anchor), or its value with
 * whether it already has the fixed size.
 */
export function readAnchor(dir: string): { state: 'missing' } | { state: 'unreadable' } | { state: 'ok'; value: AnchorValue; fixedSize: boolean } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(dir, ANCHOR_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    throw err;
  }
  const value = decodeAnchor(bytes);
  return value ? { state: 'ok', value, fixedSize: bytes.length === ANCHOR_BYTES } : { state: 'unreadable' };
}

/** The open anchor file of a log, overwritten in place after each batch. */
export class Anchor {
  private constructor(
    private readonly file: FileHandle,
    readonly path: string,
  ) {}

  /**
   * Replaces the anchor file with a fixed-size one holding `value` (temp file, fsync, rename, fsync of the
   * directory), then opens it for in-place writes. Used at create and open, where the log may allocate.
   */
  static async install(dir: string, value: AnchorValue): Promise<Anchor> {
    const path = join(dir, ANCHOR_FILE);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w', 0o640);
    try {
      writeSync(fd, encodeAnchor(value));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dirFd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return new Anchor(await open(path, 'r+'), path);
  }

  /** Overwrites the anchor: one write of {@link ANCHOR_BYTES} at offset 0, then fdatasync. Allocates nothing. */
  async write(value: AnchorValue): Promise<void> {
    const bytes = encodeAnchor(value);
    const { bytesWritten } = await this.file.write(bytes, 0, bytes.length, 0);
    if (bytesWritten !== bytes.length) throw new Error(`short write of the anchor (${bytesWritten} of ${bytes.length} bytes)`);
    await this.file.datasync();
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
