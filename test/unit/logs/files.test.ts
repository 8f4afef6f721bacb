import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLogs } from '../../../src/runtime/logs/files.js';

let root: string;
const cell = (name: string, stack = 'default') => ({ realm: 'default', space: 'default', stack, cell: name });
const dirOf = (name: string, stack = 'default') => join(root, 'default', 'default', stack, name);

function writeLog(name: string, file: string, content: string, stack = 'default'): string {
  mkdirSync(dirOf(name, stack), { recursive: true });
  const path = join(dirOf(name, stack), file);
  writeFileSync(path, content);
  return path;
}

beforeEach(() => {
  root = join(mkdtempSync(join(tmpdir(), 'kukeon-logs-')), 'logs');
  mkdirSync(root);
  writeFileSync(join(root, 'kukeond.log'), 'the daemon\'s own log\n'.repeat(100));
});
afterEach(() => rmSync(join(root, '..'), { recursive: true, force: true }));

describe('container log files: removal', () => {
  it("removes a cell's directory and never another cell's, not even one whose name it prefixes", async () => {
    writeLog('web', 'web_root.log', 'a\n');
    writeLog('web', 'web_root.log.1', 'old\n');
    writeLog('web-1', 'web-1_root.log', 'b\n');
    writeLog('web', 'web_root.log', 'c\n', 'other');
    await new FileLogs(root).removeCell(cell('web'));
    expect(existsSync(dirOf('web'))).toBe(false);
    expect(readFileSync(join(dirOf('web-1'), 'web-1_root.log'), 'utf8')).toBe('b\n');
    expect(readFileSync(join(dirOf('web', 'other'), 'web_root.log'), 'utf8')).toBe('c\n');
  });

  it('removes the stack, space and realm directories left empty, and keeps the root and the daemon log', async () => {
    writeLog('web', 'web_root.log', 'a\n');
    await new FileLogs(root).removeCell(cell('web'));
    expect(readdirSync(root)).toEqual(['kukeond.log']);
  });

  it('keeps a parent that still holds kept logs of another cell', async () => {
    writeLog('web', 'web_root.log', 'a\n');
    writeLog('kept', 'kept_root.log', 'k\n');
    await new FileLogs(root).removeCell(cell('web'));
    expect(readdirSync(join(root, 'default', 'default', 'default'))).toEqual(['kept']);
  });

  it('is idempotent: a cell without logs, or removed twice, is fine', async () => {
    const logs = new FileLogs(root);
    await logs.removeCell(cell('never'));
    writeLog('web', 'web_root.log', 'a\n');
    await logs.removeCell(cell('web'));
    await logs.removeCell(cell('web'));
    expect(existsSync(dirOf('web'))).toBe(false);
  });

  it('refuses a cell whose names would reach outside its directory, and removes nothing', async () => {
    writeLog('web', 'web_root.log', 'a\n');
    await expect(new FileLogs(root).removeCell({ ...cell('web'), stack: '..' })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    await expect(new FileLogs(root).removeCell({ ...cell('..') })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    expect(existsSync(join(dirOf('web'), 'web_root.log'))).toBe(true);
  });

  it('removes a symlink planted as a cell directory, not what it points to', async () => {
    const outside = join(root, '..', 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'precious'), 'x');
    mkdirSync(join(root, 'default', 'default', 'default'), { recursive: true });
    symlinkSync(outside, dirOf('web'));
    await new FileLogs(root).removeCell(cell('web'));
    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('x');
  });
});

describe('container log files: rotation', () => {
  const policy = { maxBytes: 100, maxFiles: 3 };

  it('copies a full live file to .1 and truncates it, leaving files under the limit alone', async () => {
    const big = writeLog('web', 'web_root.log', 'x'.repeat(120));
    const small = writeLog('web', 'side.log', 'y'.repeat(50));
    const report = await new FileLogs(root).rotate(policy);
    expect(report.rotated).toEqual([big]);
    expect(statSync(big).size).toBe(0);
    expect(readFileSync(`${big}.1`, 'utf8')).toBe('x'.repeat(120));
    expect(statSync(small).size).toBe(50);
    expect(existsSync(`${small}.1`)).toBe(false);
  });

  it('keeps at most max-file files per container, the newest content in the lowest numbers', async () => {
    const logs = new FileLogs(root);
    const live = writeLog('web', 'web_root.log', '');
    for (const round of ['a', 'b', 'c', 'd']) {
      writeFileSync(live, round.repeat(100), { flag: 'a' });
      await logs.rotate(policy);
    }
    expect(readdirSync(dirOf('web')).sort()).toEqual(['web_root.log', 'web_root.log.1', 'web_root.log.2']);
    expect(readFileSync(`${live}.1`, 'utf8')).toBe('d'.repeat(100));
    expect(readFileSync(`${live}.2`, 'utf8')).toBe('c'.repeat(100));
  });

  it('lets an O_APPEND writer (as the shim is) go on at the start of the truncated file, without a hole', async () => {
    const live = writeLog('web', 'web_root.log', '');
    const fd = openSync(live, 'a');
    try {
      writeSync(fd, 'first\n'.repeat(20));
      await new FileLogs(root).rotate(policy);
      writeSync(fd, 'second\n');
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(live, 'utf8')).toBe('second\n');
    expect(readFileSync(`${live}.1`, 'utf8')).toBe('first\n'.repeat(20));
  });

  it("never touches the daemon's own log or anything that is not a cell's directory", async () => {
    writeFileSync(join(root, 'default.log'), 'z'.repeat(500));
    mkdirSync(join(root, 'NOT_A_NAME', 'a', 'b', 'c'), { recursive: true });
    writeFileSync(join(root, 'NOT_A_NAME', 'a', 'b', 'c', 'x.log'), 'z'.repeat(500));
    const report = await new FileLogs(root).rotate(policy);
    expect(report).toEqual({ rotated: [], removed: [] });
    expect(statSync(join(root, 'kukeond.log')).size).toBeGreaterThan(100);
  });

  it('removes a partial copy a crash left behind, and rotated copies of a lowered max-file', async () => {
    const live = writeLog('web', 'web_root.log', 'small');
    writeLog('web', 'web_root.log.rotating', 'half');
    writeLog('web', 'web_root.log.1', '1');
    writeLog('web', 'web_root.log.2', '2');
    const report = await new FileLogs(root).rotate({ maxBytes: 100, maxFiles: 2 });
    expect(report.removed).toEqual([`${live}.2`]);
    expect(readdirSync(dirOf('web')).sort()).toEqual(['web_root.log', 'web_root.log.1']);
  });

  it('takes turns with a removal, so the directory is gone afterwards whatever the order', async () => {
    const logs = new FileLogs(root);
    writeLog('web', 'web_root.log', 'x'.repeat(1000));
    await Promise.all([logs.rotate(policy), logs.removeCell(cell('web')), logs.rotate(policy)]);
    expect(existsSync(dirOf('web'))).toBe(false);
  });

  it('never truncates through a symlink put in place of a live log, nor writes through one put in place of the copy', async () => {
    const outside = join(root, '..', 'outside');
    writeFileSync(outside, 'z'.repeat(500));
    mkdirSync(dirOf('web'), { recursive: true });
    symlinkSync(outside, join(dirOf('web'), 'web_root.log'));
    const live = writeLog('web', 'side.log', 'x'.repeat(500));
    symlinkSync(outside, `${live}.rotating`);
    await new FileLogs(root).rotate({ maxBytes: 300, maxFiles: 3 });
    expect(readFileSync(outside, 'utf8')).toBe('z'.repeat(500));
    expect(readFileSync(`${live}.1`, 'utf8')).toBe('x'.repeat(500));
  });

  it('finds nothing to do when there is no logs directory yet', async () => {
    await expect(new FileLogs(join(root, 'missing')).rotate(policy)).resolves.toEqual({ rotated: [], removed: [] });
  });
});
