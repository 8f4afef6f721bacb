/**
 * Builds the test image without a registry: an OCI layout tar of Debian's busybox-static (/bin/busybox and a
 * symlink per applet), one uncompressed layer, deterministic (same busybox → same digest). Reference
 * `kukeon.local/busybox:test`. Used by the integration and e2e tests, the README and the benchmarks.
 *
 * Usage: node tools/run.mjs tools/build-test-image.ts [out.tar]     (default .tmp/images/busybox.tar)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeOciLayout } from '../src/runtime/containerd/oci-layout.js';
import type { TarEntry } from '../src/runtime/containerd/tar.js';

/** The test image's reference. */
export const TEST_IMAGE = 'kukeon.local/busybox:test';
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_TEST_IMAGE_TAR = join(repo, '.tmp', 'images', 'busybox.tar');

/** Builds (or reuses, when newer than busybox) the test image tar; returns its path and reference. */
export function buildTestImage(out = DEFAULT_TEST_IMAGE_TAR): { path: string; ref: string } {
  const busybox = '/bin/busybox';
  if (!existsSync(busybox)) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  if (existsSync(out) && statSync(out).mtimeMs > statSync(busybox).mtimeMs) return { path: out, ref: TEST_IMAGE };
  mkdirSync(dirname(out), { recursive: true });
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => /^[a-z0-9][a-z0-9._-]*$/.test(a) && a !== 'busybox');
  const entries: TarEntry[] = [
    ...['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'run', 'root', 'var', 'var/tmp'].map((path) => ({ type: 'dir' as const, path, mode: path.endsWith('tmp') ? 0o1777 : 0o755 })),
    { type: 'file', path: 'bin/busybox', mode: 0o755, fromFile: busybox },
    ...applets.sort().map((a) => ({ type: 'symlink' as const, path: `bin/${a}`, target: 'busybox' })),
    { type: 'file', path: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n') },
    { type: 'file', path: 'etc/group', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
  ];
  writeOciLayout(out, entries, { ref: TEST_IMAGE, cmd: ['/bin/sh'], env: ['PATH=/bin'] });
  return { path: out, ref: TEST_IMAGE };
}

if (process.argv[1] && /build-test-image\.ts$/.test(process.argv[1])) {
  const { path, ref } = buildTestImage(process.argv[2] ? resolve(process.argv[2]) : undefined);
  process.stdout.write(`${path} (${ref})\n`);
}
