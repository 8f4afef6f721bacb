/**
 * The test image (busybox-static as an OCI layout tar, `kukeon.local/busybox:test`), built once per process and
 * cached under .tmp/images (rebuilt only when the result would differ).
 */
import { buildTestImage, buildUserTestImage, TEST_IMAGE } from '../../tools/build-test-image.js';

let built: { path: string; ref: string } | undefined;
let builtUser: { path: string; ref: string } | undefined;

/** The variant whose config's User is `app` (uid 1000) of its own /etc/passwd (tools/build-test-image.ts). */
export function userTestImage(): { path: string; ref: string } {
  builtUser ??= buildUserTestImage();
  return builtUser;
}

/** The test image's tar path and reference. */
export function testImage(): { path: string; ref: string } {
  built ??= buildTestImage();
  return built;
}

export { TEST_IMAGE };
