import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { findFile, needsUserFiles, parseGroup, parsePasswd, resolveUser, type UserFiles } from '../../../src/runtime/containerd/image-user.js';
import { listTarBuffer, TarWriter, type TarEntry } from '../../../src/runtime/containerd/tar.js';

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  'daemon:x:1:1::/:/bin/false',
  'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
  'app:x:1000:1000::/home/app:/bin/sh',
  'broken:x:notanumber:1::/:/bin/false',
  '',
].join('\n');
const group = ['root:x:0:', 'staff:x:50:app,www-data', 'www-data:x:33:www-data', 'app:x:1000:', 'audio:x:29:app'].join('\n');
const files = { passwd, group };

function resolveError(user: string, f: UserFiles = files): string {
  try {
    resolveUser(user, f, 'kukeon.local/web:1');
  } catch (err) {
    if (isKukeError(err, 'InvalidArgument')) return err.message;
    throw err;
  }
  return 'resolved';
}

describe("resolving a user in the image's /etc/passwd and /etc/group (containerd's rules)", () => {
  it('parses passwd and group, skipping comments and entries whose ids are not numbers', () => {
    expect(parsePasswd(passwd).map((u) => u.name)).toEqual(['root', 'daemon', 'www-data', 'app']);
    expect(parseGroup(group).find((g) => g.name === 'staff')).toEqual({ name: 'staff', gid: 50, members: ['app', 'www-data'] });
  });

  it('resolves a name to its uid and gid, with the groups that list it as supplementary ones', () => {
    expect(resolveUser('www-data', files, 'i')).toEqual({ uid: 33, gid: 33, additionalGids: [33, 50] });
    expect(resolveUser('app', files, 'i')).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 50, 29] });
  });

  it('gives a bare uid the gid of its entry, or 0 when the image has none (not an error)', () => {
    expect(resolveUser('1000', files, 'i')).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 50, 29] });
    expect(resolveUser('4242', files, 'i')).toEqual({ uid: 4242, gid: 0, additionalGids: [0] });
    expect(resolveUser('4242', {}, 'i')).toEqual({ uid: 4242, gid: 0, additionalGids: [0] });
  });

  it('resolves user:group by name or number on each side, without supplementary groups', () => {
    expect(resolveUser('app:staff', files, 'i')).toEqual({ uid: 1000, gid: 50, additionalGids: [50] });
    expect(resolveUser('www-data:7', files, 'i')).toEqual({ uid: 33, gid: 7, additionalGids: [7] });
    expect(resolveUser('5:staff', files, 'i')).toEqual({ uid: 5, gid: 50, additionalGids: [50] });
  });

  it('refuses a user or group the image does not define, naming it and the image', () => {
    expect(resolveError('nginx')).toBe('user "nginx" is not in the /etc/passwd of image kukeon.local/web:1');
    expect(resolveError('app:wheel')).toBe('group "wheel" is not in the /etc/group of image kukeon.local/web:1');
    expect(resolveError('app', {})).toMatch(/user "app" is not in the \/etc\/passwd/);
  });

  it('needs the files for names and bare uids only', () => {
    expect(['', 'root', 'root:root', '0:0', '1000:1000'].map(needsUserFiles)).toEqual([false, false, false, false, false]);
    expect(['1000', 'www-data', 'app:staff', '1000:staff'].map(needsUserFiles)).toEqual([true, true, true, true]);
  });
});

describe('finding /etc/passwd in layers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kukeon-image-user-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const layer = (entries: TarEntry[]) => {
    const path = join(dir, `${n++}.tar`);
    const fd = openSync(path, 'w');
    const w = new TarWriter(fd);
    for (const e of entries) w.add(e);
    w.finish();
    closeSync(fd);
    const tar = readFileSync(path);
    return { tar, members: listTarBuffer(tar) };
  };
  const file = (path: string, text: string): TarEntry => ({ type: 'file', path, data: Buffer.from(text) });
  const base = layer([{ type: 'dir', path: 'etc' }, file('etc/passwd', 'base\n'), file('etc/group', 'g\n')]);

  it('takes the top layer that holds the file', () => {
    expect(findFile([layer([file('etc/passwd', 'top\n')]), base], 'etc/passwd')).toBe('top\n');
    expect(findFile([layer([file('other', 'x')]), base], 'etc/passwd')).toBe('base\n');
  });

  it('stops at a whiteout of the file or of /etc, and at an opaque /etc', () => {
    expect(findFile([layer([file('etc/.wh.passwd', '')]), base], 'etc/passwd')).toBeUndefined();
    expect(findFile([layer([file('.wh.etc', '')]), base], 'etc/passwd')).toBeUndefined();
    expect(findFile([layer([file('etc/.wh..wh..opq', '')]), base], 'etc/passwd')).toBeUndefined();
    expect(findFile([layer([file('etc/.wh..wh..opq', ''), file('etc/passwd', 'new\n')]), base], 'etc/passwd')).toBe('new\n');
  });

  it('follows a symlink through every layer, relative or absolute', () => {
    expect(findFile([layer([{ type: 'symlink', path: 'etc/passwd', target: '../usr/etc/passwd' }]), layer([file('usr/etc/passwd', 'usr\n')])], 'etc/passwd')).toBe('usr\n');
    expect(findFile([layer([{ type: 'symlink', path: 'etc/passwd', target: '/etc/group' }]), base], 'etc/passwd')).toBe('g\n');
    expect(findFile([layer([{ type: 'symlink', path: 'etc/passwd', target: 'passwd' }])], 'etc/passwd')).toBeUndefined();
  });
});
