/**
 * Reading a container's log (src/runtime/logs/reader.ts): rotated copies then the live file, byte for byte; the last
 * lines from the end; following the live file as it grows and across a rotation, until told to stop.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLogs } from '../../../src/runtime/logs/files.js';
import { CHUNK_BYTES, readLog, type ReadLogOptions } from '../../../src/runtime/logs/reader.js';

let root: string;
let live: string;

beforeEach(() => {
  root = join(mkdtempSync(join(tmpdir(), 'kukeon-log-reader-')), 'logs');
  const dir = join(root, 'default', 'default', 'default', 'web');
  mkdirSync(dir, { recursive: true });
  live = join(dir, 'web_root.log');
});
afterEach(() => rmSync(join(root, '..'), { recursive: true, force: true }));

async function read(options: ReadLogOptions = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of readLog(live, options)) {
    expect(chunk.length).toBeLessThanOrEqual(CHUNK_BYTES);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

const numbered = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join('');

describe('reading a container log', () => {
  it('gives the rotated copies, oldest first, then the live file, byte for byte (binary included)', async () => {
    const binary = Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x80, 0x0d]);
    writeFileSync(`${live}.2`, 'oldest\n');
    writeFileSync(`${live}.1`, binary);
    writeFileSync(live, 'live, no newline at the end');
    expect(await read()).toEqual(Buffer.concat([Buffer.from('oldest\n'), binary, Buffer.from('live, no newline at the end')]));
  });

  it('gives nothing for a container that never wrote (no file yet)', async () => {
    expect((await read()).length).toBe(0);
    expect((await read({ tail: 3 })).length).toBe(0);
  });

  it('gives the last n lines, a final newline ending the last line, across rotated copies', async () => {
    writeFileSync(`${live}.1`, numbered(1, 5));
    writeFileSync(live, numbered(6, 8));
    expect((await read({ tail: 2 })).toString()).toBe(numbered(7, 8));
    expect((await read({ tail: 5 })).toString()).toBe(numbered(4, 8));
    expect((await read({ tail: 100 })).toString()).toBe(numbered(1, 8));
    expect((await read({ tail: 0 })).toString()).toBe('');
    appendFileSync(live, 'partial');
    expect((await read({ tail: 2 })).toString()).toBe('line 8\npartial');
  });

  it('finds the last lines of a log many blocks long without reading it from the start', async () => {
    const text = numbered(1, 50_000);
    expect(text.length).toBeGreaterThan(5 * CHUNK_BYTES);
    writeFileSync(live, text);
    expect((await read({ tail: 3 })).toString()).toBe(numbered(49_998, 50_000));
    // A line that straddles a block boundary is whole.
    const long = `${'x'.repeat(CHUNK_BYTES + 10)}\n`;
    writeFileSync(live, `a\n${long}b\n`);
    expect((await read({ tail: 2 })).toString()).toBe(`${long}b\n`);
  });

  it('follows the live file as it grows, and ends with what was written before it was told the cell stopped', async () => {
    writeFileSync(live, 'one\n');
    let stop!: () => void;
    const until = new Promise<void>((resolve) => (stop = resolve));
    const got: string[] = [];
    const done = (async () => {
      for await (const chunk of readLog(live, { follow: true, until, pollMs: 20 })) got.push(chunk.toString());
    })();
    await waitFor(() => got.join('') === 'one\n');
    appendFileSync(live, 'two\n');
    await waitFor(() => got.join('') === 'one\ntwo\n');
    appendFileSync(live, 'three\n');
    stop();
    await done;
    expect(got.join('')).toBe('one\ntwo\nthree\n');
  });

  it('keeps following across a rotation (copy, then truncate), losing nothing written before it', async () => {
    writeFileSync(live, numbered(1, 3));
    const abort = new AbortController();
    const got: Buffer[] = [];
    const done = (async () => {
      for await (const chunk of readLog(live, { follow: true, signal: abort.signal, pollMs: 1000 })) got.push(Buffer.from(chunk));
    })();
    await waitFor(() => Buffer.concat(got).toString() === numbered(1, 3));
    // Appended and rotated before the follower looks again (its poll is 1 s; fs.watch may wake it earlier).
    appendFileSync(live, numbered(4, 6));
    await new FileLogs(root).rotate({ maxBytes: 10, maxFiles: 3 });
    appendFileSync(live, numbered(7, 8));
    await waitFor(() => Buffer.concat(got).toString() === numbered(1, 8), 5_000);
    abort.abort();
    await done;
    expect(Buffer.concat(got).toString()).toBe(numbered(1, 8));
  });

  it('follows a file that does not exist yet, from its first byte, and stops when the signal aborts', async () => {
    const abort = new AbortController();
    const got: string[] = [];
    const done = (async () => {
      for await (const chunk of readLog(live, { follow: true, signal: abort.signal, pollMs: 20 })) got.push(chunk.toString());
    })();
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(live, 'first\n');
    await waitFor(() => got.join('') === 'first\n');
    abort.abort();
    await done;
    expect(got.join('')).toBe('first\n');
  });
});

async function waitFor(check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
