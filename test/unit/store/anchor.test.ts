import { describe, expect, it } from 'vitest';
import { ANCHOR_BYTES, decodeAnchor, encodeAnchor } from '../../../src/store/anchor.js';
import { isNoSpace, writeFailure } from '../../../src/store/failures.js';

const HASH = 'ab'.repeat(32);

describe('the anchor file', () => {
  it('always has the same size, so that overwriting it in place never needs a new block', () => {
    for (const value of [{ seq: 0, hash: HASH, wal: 0 }, { seq: Number.MAX_SAFE_INTEGER, hash: HASH, wal: Number.MAX_SAFE_INTEGER }, { seq: 7, hash: HASH }]) {
      const bytes = encodeAnchor(value);
      expect(bytes.length).toBe(ANCHOR_BYTES);
      expect(decodeAnchor(bytes)).toEqual(value);
    }
  });

  it('still reads the unpadded anchor of older versions', () => {
    expect(decodeAnchor(JSON.stringify({ seq: 5, hash: HASH }))).toEqual({ seq: 5, hash: HASH });
  });

  it('reads a damaged or foreign anchor as no anchor', () => {
    for (const bytes of ['', '{"seq":5', '{"seq":-1,"hash":"' + HASH + '"}', '{"seq":5,"hash":"zz"}', '{"seq":1.5,"hash":"' + HASH + '"}', 'null', '{"seq":5,"hash":"' + HASH + '","wal":"x"}']) {
      expect(decodeAnchor(bytes), bytes).toBeUndefined();
    }
  });
});

describe('a failed write to the event log', () => {
  it('is "no space left" for ENOSPC and EDQUOT, whether Node or LevelDB reports it', () => {
    expect(isNoSpace(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }))).toBe(true);
    expect(isNoSpace({ code: 'LEVEL_IO_ERROR', message: 'IO error: /x/events/000003.log: No space left on device' })).toBe(true);
    expect(isNoSpace(new Error('outer', { cause: { code: 'EDQUOT' } }))).toBe(true);
    expect(isNoSpace(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }))).toBe(false);
  });

  it('says so in one line with what to do, as ResourceExhausted (not a bug in kukeon)', () => {
    const err = writeFailure('/opt/kukeon/events', { code: 'LEVEL_IO_ERROR', message: 'IO error: /opt/kukeon/events/000003.log: No space left on device' });
    expect(err.kind).toBe('ResourceExhausted');
    expect(`${err.message}; ${err.hint}`).toBe('event log: no space left on /opt/kukeon/events; free space and retry; nothing was changed');
  });

  it('reports any other I/O error as the disk being unavailable, still with nothing changed', () => {
    const err = writeFailure('/opt/kukeon/events', Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    expect(err.kind).toBe('Unavailable');
    expect(err.message).toBe('event log: write failed on /opt/kukeon/events: EIO: i/o error, fsync');
    expect(err.hint).toMatch(/nothing was changed$/);
  });
});
