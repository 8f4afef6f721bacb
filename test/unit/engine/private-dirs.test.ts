import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensurePrivateDirs, privateDir } from '../../../src/engine/private-dirs.js';

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("the run path's private directories", () => {
  it('makes model and logs 0700 on a fresh run path, and no events or secrets directory (their owners make them)', () => {
    dir = mkdtempSync(join(tmpdir(), 'kukeon-modes-'));
    ensurePrivateDirs(dir);
    for (const name of ['model', 'logs']) expect(mode(join(dir, name))).toBe('700');
    for (const name of ['events', 'secrets']) expect(() => statSync(join(dir, name))).toThrow();
  });

  it('takes group and other access off what an older install left, keeping owner bits, and counts it', () => {
    dir = mkdtempSync(join(tmpdir(), 'kukeon-modes-'));
    for (const name of ['events', 'model/cell', 'logs/default', 'secrets']) mkdirSync(join(dir, name), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'events', '000005.ldb'), 'x', { mode: 0o644 });
    writeFileSync(join(dir, 'model', 'cell', 'web.json'), '{}', { mode: 0o644 });
    writeFileSync(join(dir, 'logs', 'default', 'run.sh'), '', { mode: 0o755 });
    writeFileSync(join(dir, 'secrets', 'a'), 'v', { mode: 0o640 });
    writeFileSync(join(dir, 'public'), '', { mode: 0o644 });
    symlinkSync('/etc/hostname', join(dir, 'logs', 'link'));
    expect(ensurePrivateDirs(dir)).toBe(10);
    for (const d of ['events', 'model', 'model/cell', 'logs', 'logs/default', 'secrets']) expect(mode(join(dir, d))).toBe('700');
    expect(mode(join(dir, 'events', '000005.ldb'))).toBe('600');
    expect(mode(join(dir, 'model', 'cell', 'web.json'))).toBe('600');
    expect(mode(join(dir, 'logs', 'default', 'run.sh'))).toBe('700');
    expect(mode(join(dir, 'secrets', 'a'))).toBe('600');
    // Outside the private directories, and what a symlink points at, are left alone.
    expect(mode(join(dir, 'public'))).toBe('644');
    expect(mode('/etc/hostname')).not.toBe('600');
    expect(ensurePrivateDirs(dir)).toBe(0);
  });

  it('gives a writer a 0700 directory, tightening one that exists', () => {
    dir = mkdtempSync(join(tmpdir(), 'kukeon-modes-'));
    mkdirSync(join(dir, 'secrets'), { mode: 0o755 });
    privateDir(join(dir, 'secrets'));
    privateDir(join(dir, 'secrets', 'realm', 'x'));
    expect(mode(join(dir, 'secrets'))).toBe('700');
    expect(mode(join(dir, 'secrets', 'realm', 'x'))).toBe('700');
  });
});
