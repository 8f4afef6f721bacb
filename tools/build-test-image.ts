/**
 * Builds the test image without a registry: an OCI image layout tar of Debian's busybox-static (/bin/busybox and a
 * symlink per applet: sh, sleep, echo, cat, nc, ip, ifconfig, ping, wget, …), one uncompressed layer, fixed mtimes
 * and owners, so the same busybox always gives the same digests. Reference `kukeon.local/busybox:test`. Used by the
 * integration and e2e tests, the benchmarks and the README.
 *
 * Usage: node tools/run.mjs tools/build-test-image.ts [out.tar]     (default .tmp/images/busybox.tar)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeOciLayout } from '../src/runtime/containerd/oci-layout.js';
import type { TarEntry } from '../src/runtime/containerd/tar.js';

/** The test image's reference. */
export const TEST_IMAGE = 'kukeon.local/busybox:test';
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the tar is cached by default. */
export const DEFAULT_TEST_IMAGE_TAR = join(repo, '.tmp', 'images', 'busybox.tar');
const BUSYBOX = '/bin/busybox';

/** The layer's entries: a minimal root filesystem around busybox. */
export function testImageEntries(): TarEntry[] {
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => /^[a-z0-9][a-z0-9._-]*$/.test(a) && a !== 'busybox')
    .sort();
  return [
    ...['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'run', 'root', 'var', 'var/tmp'].map((path) => ({ type: 'dir' as const, path, mode: path.endsWith('tmp') ? 0o1777 : 0o755 })),
    { type: 'file', path: 'bin/busybox', mode: 0o755, fromFile: BUSYBOX },
    ...applets.map((a) => ({ type: 'symlink' as const, path: `bin/${a}`, target: 'busybox' })),
    { type: 'file', path: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n') },
    { type: 'file', path: 'etc/group', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
  ];
}

/** The reference of the test image variant that runs as a named user (`app`, uid 1000) of its own /etc/passwd. */
export const USER_TEST_IMAGE = 'kukeon.local/busybox-user:test';
/** Where its tar is cached. */
export const DEFAULT_USER_TEST_IMAGE_TAR = join(repo, '.tmp', 'images', 'busybox-user.tar');

/**
 * The same root filesystem with its own users: `app` (uid 1000, gid 1000, also in `staff`, gid 50) as the config's
 * `User`, gzip-compressed as registries serve layers. For the security tests (issue 11): names resolved in the image.
 */
export function buildUserTestImage(out: string = DEFAULT_USER_TEST_IMAGE_TAR): { path: string; ref: string } {
  const entries = testImageEntries().map((e) => {
    if (e.path === 'etc/passwd') return { ...e, data: Buffer.from('root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n') };
    if (e.path === 'etc/group') return { ...e, data: Buffer.from('root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n') };
    return e;
  }) as TarEntry[];
  return writeCached(out, (tmp) => writeOciLayout(tmp, entries, { ref: USER_TEST_IMAGE, cmd: ['/bin/sh'], env: ['PATH=/bin'], user: 'app', gzip: true }), USER_TEST_IMAGE);
}

/** Writes a tar through `write` and puts it at `out` unless the same bytes are there already (same inode kept). */
function writeCached(out: string, write: (tmp: string) => void, ref: string): { path: string; ref: string } {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install busybox-static (apt-get install busybox-static)`);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    write(tmp);
    if (existsSync(out) && readFileSync(out).equals(readFileSync(tmp))) rmSync(tmp);
    else renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { path: out, ref };
}

/**
 * Builds the test image tar at `out` (default {@link DEFAULT_TEST_IMAGE_TAR}) and returns its path and reference.
 * Building takes about 50 ms; an existing tar with the same bytes is kept as is (same inode), and a different one is
 * replaced atomically, so concurrent readers never see a partial file.
 */
export function buildTestImage(out: string = DEFAULT_TEST_IMAGE_TAR): { path: string; ref: string } {
  return writeCached(out, (tmp) => writeOciLayout(tmp, testImageEntries(), { ref: TEST_IMAGE, cmd: ['/bin/sh'], env: ['PATH=/bin'] }), TEST_IMAGE);
}

if (process.argv[1] && /build-test-image\.ts$/.test(process.argv[1])) {
  const { path, ref } = buildTestImage(process.argv[2] ? resolve(process.argv[2]) : undefined);
  process.stdout.write(`${path} (${ref})\n`);
}
