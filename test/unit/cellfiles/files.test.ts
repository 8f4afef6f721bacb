/**
 * The cells' /etc files on disk (issue 10, item 5): rewritten in place, so that a bind mount made of the old file
 * sees the new content; never through a link; removed with the cell; the host's resolver files read through the
 * host's root first.
 */
import { mkdtemp, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { HostCellFiles } from '../../../src/runtime/cellfiles/files.js';
import { cellEtcFile } from '../../../src/runtime/cellfiles/paths.js';

const web = { realm: 'default', space: 'default', stack: 'default', cell: 'web' };
const db = { realm: 'default', space: 'default', stack: 'default', cell: 'db' };

describe('HostCellFiles', () => {
  let dir: string;
  let root: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kukeon-cellfiles-'));
    root = join(dir, 'etc');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the files under <root>/<realm>/<space>/<stack>/<cell>/, readable by everyone', async () => {
    const files = new HostCellFiles(root);
    await files.write(web, { hosts: 'h\n', hostname: 'web\n', 'resolv.conf': 'nameserver 10.0.0.2\n' });
    expect(await readFile(join(root, 'default/default/default/web/hosts'), 'utf8')).toBe('h\n');
    expect(await readFile(cellEtcFile(root, web, 'hostname'), 'utf8')).toBe('web\n');
    expect(await readFile(cellEtcFile(root, web, 'resolv.conf'), 'utf8')).toBe('nameserver 10.0.0.2\n');
    expect((await stat(cellEtcFile(root, web, 'hosts'))).mode & 0o777).toBe(0o644);
  });

  it('rewrites a file in place: same inode, shorter content leaves no tail', async () => {
    const files = new HostCellFiles(root);
    await files.write(web, { hosts: 'a long first version of the file\n' });
    const before = await stat(cellEtcFile(root, web, 'hosts'));
    await files.write(web, { hosts: 'short\n' });
    const after = await stat(cellEtcFile(root, web, 'hosts'));
    expect(after.ino).toBe(before.ino);
    expect(await readFile(cellEtcFile(root, web, 'hosts'), 'utf8')).toBe('short\n');
  });

  it('leaves the files it is not given as they are', async () => {
    const files = new HostCellFiles(root);
    await files.write(web, { hosts: 'h1\n', 'resolv.conf': 'r\n' });
    await files.write(web, { hosts: 'h2\n' });
    expect(await readFile(cellEtcFile(root, web, 'resolv.conf'), 'utf8')).toBe('r\n');
  });

  it('refuses to write through a link planted in place of a file', async () => {
    const files = new HostCellFiles(root);
    await files.write(web, { hostname: 'web\n' });
    const target = join(dir, 'target');
    await writeFile(target, 'untouched\n');
    await symlink(target, cellEtcFile(root, web, 'hosts'));
    const err = await files.write(web, { hosts: 'evil\n' }).catch((e: unknown) => e);
    expect(isKukeError(err)).toBe(true);
    expect(await readFile(target, 'utf8')).toBe('untouched\n');
  });

  it("removes a cell's directory and the parents it leaves empty, and keeps another cell's", async () => {
    const files = new HostCellFiles(root);
    await files.write(web, { hosts: 'h\n' });
    await files.write(db, { hosts: 'h\n' });
    await files.write({ ...web, realm: 'other' }, { hosts: 'h\n' });
    expect((await files.listCells()).map((c) => `${c.realm}/${c.cell}`).sort()).toEqual(['default/db', 'default/web', 'other/web']);
    await files.removeCell(web);
    await files.removeCell({ ...web, realm: 'other' });
    await files.removeCell({ ...web, cell: 'never-made' });
    expect(await files.listCells()).toEqual([db]);
    await expect(stat(join(root, 'other'))).rejects.toThrow();
  });

  it('refuses a name that is not a DNS-1123 label before touching the disk', async () => {
    const files = new HostCellFiles(root);
    const err = await Promise.resolve()
      .then(() => files.write({ ...web, cell: '../../x' }, { hosts: 'h\n' }))
      .catch((e: unknown) => e);
    expect(isKukeError(err, 'InvalidArgument')).toBe(true);
    expect(await files.listCells()).toEqual([]);
  });

  it("reads the host's resolver files through the host's root first, then as they are", async () => {
    const hostRoot = join(dir, 'host');
    await mkdir(join(hostRoot, 'etc'), { recursive: true });
    await writeFile(join(hostRoot, 'etc/resolv.conf'), 'nameserver 127.0.0.53\n');
    const plain = join(dir, 'systemd-resolv.conf');
    await writeFile(plain, 'nameserver 192.168.1.1\n');
    await writeFile(join(hostRoot, 'etc/hosts'), '127.0.0.1 localhost\n');
    const files = new HostCellFiles(root, { resolver: { hostRoot, hosts: '/etc/hosts', resolvConf: '/etc/resolv.conf', systemdResolvConf: plain } });
    expect(await files.hostResolverFiles()).toEqual({ hosts: '127.0.0.1 localhost\n', resolvConf: 'nameserver 127.0.0.53\n', systemdResolvConf: 'nameserver 192.168.1.1\n' });
    const none = new HostCellFiles(root, { resolver: { hostRoot, hosts: '/nowhere/hosts', resolvConf: '/nowhere/resolv.conf', systemdResolvConf: '/nowhere/either' } });
    expect(await none.hostResolverFiles()).toEqual({});
  });
});
