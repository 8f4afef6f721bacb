/**
 * The test image (busybox-static as an OCI layout tar, `kukeon.local/busybox:test`), built once per process and
 * cached under .tmp/images (rebuilt only when the result would differ).
 */
import { buildTestImage, TEST_IMAGE } from '../../tools/build-test-image.js';

let built: { path: string; ref: string } | undefined;

/** The test image's tar path and reference. */
export function testImage(): { path: string; ref: string } {
  built ??= buildTestImage();
  return built;
}

export { TEST_IMAGE };
