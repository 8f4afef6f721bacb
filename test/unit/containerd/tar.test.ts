import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listTar, readRange, TarWriter } from '../../../src/runtime/containerd/tar.js';

describe('tar', () => {
  it('reads the long names of PAX archives (as Go and GNU tar write them)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kukeon-tar-'));
    try {
      const long = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
      execFileSync('mkdir', ['-p', join(dir, 'src', 'd'.repeat(120))]);
      writeFileSync(join(dir, 'src', long), 'pax content');
      execFileSync('tar', ['--format=pax', '-cf', join(dir, 'pax.tar'), '-C', join(dir, 'src'), long]);
      const member = listTar(join(dir, 'pax.tar')).get(long);
      expect(member).toBeDefined();
      expect(readRange(join(dir, 'pax.tar'), member!.offset, member!.size).toString()).toBe('pax content');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes archives GNU tar reads, deterministically, and reads them back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kukeon-tar-'));
    try {
      const src = join(dir, 'src.bin');
      writeFileSync(src, Buffer.alloc(3000, 7));
      const build = (out: string) => {
        const fd = openSync(out, 'w');
        const w = new TarWriter(fd);
        w.add({ type: 'dir', path: 'bin' });
        w.add({ type: 'file', path: 'bin/tool', mode: 0o755, fromFile: src });
        w.add({ type: 'symlink', path: 'bin/sh', target: 'tool' });
        w.add({ type: 'file', path: `deep/${'x'.repeat(90)}/${'y'.repeat(60)}`, data: Buffer.from('long path') });
        const r = w.finish();
        closeSync(fd);
        return r;
      };
      const a = build(join(dir, 'a.tar'));
      const b = build(join(dir, 'b.tar'));
      expect(a.digest).toBe(b.digest);
      const listing = execFileSync('tar', ['tvf', join(dir, 'a.tar')], { encoding: 'utf8' });
      expect(listing).toMatch(/bin\/sh -> tool/);
      expect(listing).toContain('y'.repeat(60));
      const members = listTar(join(dir, 'a.tar'));
      const tool = members.get('bin/tool')!;
      expect(tool.size).toBe(3000);
      expect(readRange(join(dir, 'a.tar'), tool.offset, 4)).toEqual(Buffer.alloc(4, 7));
      const deep = [...members.values()].find((m) => m.name.endsWith('y'.repeat(60)))!;
      expect(readRange(join(dir, 'a.tar'), deep.offset, deep.size).toString()).toBe('long path');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
