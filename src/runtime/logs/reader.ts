/**
 * Reading a container's log (the write side and the layout are files.ts and paths.ts): its rotated copies, oldest
 * first, then the live file, as chunks of at most {@link CHUNK_BYTES} bytes, so a reader never holds a whole log.
 * The bytes are the container's output as the shim wrote them: nothing is added or decoded.
 *
 * - `tail: n` starts after the n-th newline from the end, found by reading backwards block by block (a newline that
 *   ends the log is the end of its last line, not the start of an empty one), across rotated copies if need be.
 * - `follow` keeps reading the live file as it grows, woken by fs.watch and, where that is not available or misses
 *   an event, by polling every `pollMs`; it ends when `until` resolves (the container's cell stopped: one last read
 *   takes what the shim wrote before its exit was seen) or `signal` aborts.
 * - A rotation while following (files.ts: the live file copied to `.1`, then truncated) shows as a live file
 *   shorter than what was read: the rest of the old content is read from `.1`, which holds it at the same offsets
 *   (unless the rotation skipped a head, see rotation.ts; then that part is lost to the follower), then the live file
 *   from its start.
 *
 * Every file is opened once (O_NOFOLLOW, read-only) before it is read, so a rotation renaming `.1` to `.2` meanwhile
 * does not disturb a read in progress.
 */
import { constants as fsConstants, watch, type FSWatcher } from 'node:fs';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { errnoOf } from '../cgroups/errors.js';
import { rotatedLogFile } from './paths.js';

/** Largest chunk handed out (also the block size of the backwards scan). */
export const CHUNK_BYTES = 64 * 1024;
const OPEN_READ = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW;
const NEWLINE = 0x0a;

/** Options of {@link readLog}. */
export interface ReadLogOptions {
  /** Only the last `tail` lines (all when absent). */
  tail?: number;
  /** Keep reading as the live file grows, until `until` resolves or `signal` aborts. */
  follow?: boolean;
  until?: Promise<unknown>;
  signal?: AbortSignal;
  /** How often a follower looks at the file when no change was signalled (default 250 ms). */
  pollMs?: number;
}

/** The rotated copies of `live` present, oldest first (highest index first). */
async function rotatedCopies(live: string): Promise<string[]> {
  const prefix = `${basename(live)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(live));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => n.startsWith(prefix) && /^[1-9][0-9]{0,5}$/.test(n.slice(prefix.length)))
    .map((n) => Number(n.slice(prefix.length)))
    .sort((a, b) => b - a)
    .map((i) => rotatedLogFile(live, i));
}

/** Opens `path` for reading; undefined when it does not exist (a copy rotated away, a container never started). */
async function openIfPresent(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, OPEN_READ);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** An open file of the log and how far it was read. */
interface Source {
  handle: FileHandle;
  size: number;
}

/**
 * Where the last `lines` lines start: the index of the source and the offset in it. Reads blocks backwards from the
 * end of the newest source.
 */
async function tailStart(sources: Source[], lines: number): Promise<{ index: number; offset: number }> {
  if (lines <= 0) return { index: sources.length - 1, offset: sources[sources.length - 1]?.size ?? 0 };
  const block = Buffer.allocUnsafe(CHUNK_BYTES);
  let found = 0;
  let last = true;
  for (let index = sources.length - 1; index >= 0; index--) {
    const { handle, size } = sources[index]!;
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - block.length);
      const { bytesRead } = await handle.read(block, 0, end - start, start);
      for (let i = bytesRead - 1; i >= 0; i--) {
        const isLast = last;
        last = false;
        if (block[i] !== NEWLINE || isLast) continue;
        if (++found === lines) return { index, offset: start + i + 1 };
      }
      end = start;
    }
  }
  return { index: 0, offset: 0 };
}

/** Reads `handle` from `offset` up to `end`, in chunks. */
async function* chunksOf(handle: FileHandle, offset: number, end: number): AsyncGenerator<Buffer> {
  for (let position = offset; position < end; ) {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, end - position));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
  }
}

/**
 * The bytes of the log whose live file is `live`, as chunks (see the header).
 *
 * @example
 * for await (const chunk of readLog('/opt/kukeon/logs/default/default/default/web/web_root.log', { tail: 10 })) process.stdout.write(chunk);
 */
export async function* readLog(live: string, options: ReadLogOptions = {}): AsyncGenerator<Buffer> {
  const sources: Source[] = [];
  let liveHandle: FileHandle | undefined;
  try {
    for (const path of [...(await rotatedCopies(live)), live]) {
      const handle = await openIfPresent(path);
      if (!handle) continue;
      sources.push({ handle, size: (await handle.stat()).size });
      if (path === live) liveHandle = handle;
    }
    const start = options.tail === undefined ? { index: 0, offset: 0 } : await tailStart(sources, options.tail);
    let offset = 0;
    for (let index = start.index; index < sources.length; index++) {
      const { handle, size } = sources[index]!;
      offset = index === start.index ? start.offset : 0;
      yield* chunksOf(handle, offset, size);
      offset = Math.max(offset, size);
    }
    if (!options.follow) return;
    yield* follow(live, liveHandle, liveHandle ? offset : 0, options);
  } finally {
    await Promise.all(sources.map((s) => s.handle.close().catch(() => undefined)));
  }
}

/** Follows the live file from `offset` (see the header). */
async function* follow(live: string, opened: FileHandle | undefined, offset: number, options: ReadLogOptions): AsyncGenerator<Buffer> {
  let handle = opened;
  let owned: FileHandle | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const nudge = () => wake?.();
  void options.until?.then(() => {
    ended = true;
    nudge();
  });
  options.signal?.addEventListener('abort', nudge, { once: true });
  let watcher: FSWatcher | undefined;
  const watchFile = () => {
    if (watcher) return;
    try {
      watcher = watch(live, { persistent: false }, nudge);
      watcher.on('error', () => undefined);
    } catch {
      // No inotify for this file (not there yet, or no watches left): polling alone.
    }
  };
  try {
    for (;;) {
      if (options.signal?.aborted) return;
      const finalPass = ended;
      if (!handle) {
        handle = owned = await openIfPresent(live);
        offset = 0;
      }
      if (handle) {
        watchFile();
        const size = (await handle.stat()).size;
        if (size < offset) {
          // Rotated: the rest of what was read from is now the start of `.1`.
          const copy = await openIfPresent(rotatedLogFile(live, 1));
          if (copy) {
            try {
              yield* chunksOf(copy, offset, (await copy.stat()).size);
            } finally {
              await copy.close();
            }
          }
          offset = 0;
          continue;
        }
        for await (const chunk of chunksOf(handle, offset, size)) {
          offset += chunk.length;
          yield chunk;
        }
      }
      if (finalPass) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.pollMs ?? 250);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (ended || options.signal?.aborted) wake();
      });
      wake = undefined;
    }
  } finally {
    watcher?.close();
    options.signal?.removeEventListener('abort', nudge);
    await owned?.close().catch(() => undefined);
  }
}
