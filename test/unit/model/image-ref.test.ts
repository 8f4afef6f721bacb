import { describe, expect, it } from 'vitest';
import { imageRefProblem, parseImageRef } from '../../../src/model/image-ref.js';
import { isKukeError } from '../../../src/errors.js';

const HEX64 = 'a'.repeat(64);

describe('image references', () => {
  it.each([
    ['a name alone', 'busybox', { path: 'busybox' }],
    ['a local registry and a tag', 'kukeon.local/busybox:test', { domain: 'kukeon.local', path: 'busybox', tag: 'test' }],
    ['a registry with a port and a nested path', 'localhost:5000/a/b:1.0', { domain: 'localhost:5000', path: 'a/b', tag: '1.0' }],
    ['a digest', `nginx@sha256:${HEX64}`, { path: 'nginx', digest: `sha256:${HEX64}` }],
    ['a tag and a digest', `docker.io/library/nginx:1.27@sha256:${HEX64}`, { domain: 'docker.io', path: 'library/nginx', tag: '1.27', digest: `sha256:${HEX64}` }],
    ['an IPv6 registry', '[::1]:5000/x:y', { domain: '[::1]:5000', path: 'x', tag: 'y' }],
    ['localhost without a port', 'localhost/x', { domain: 'localhost', path: 'x' }],
    ['a first component without a dot (a path, as docker pull reads it)', 'library/nginx', { path: 'library/nginx' }],
    ['separators in the path', 'x/a.b_c__d---e/f', { path: 'x/a.b_c__d---e/f' }],
    ['a name that looks like a port (a tag)', 'busybox:5000', { path: 'busybox', tag: '5000' }],
    ['the daemon image', 'kukeon.local/kukeond:0.1.0-0123456789ab', { domain: 'kukeon.local', path: 'kukeond', tag: '0.1.0-0123456789ab' }],
    ['a sha512 digest', `x@sha512:${'0'.repeat(128)}`, { path: 'x', digest: `sha512:${'0'.repeat(128)}` }],
  ])('accepts %s: %s', (_what, ref, parts) => {
    expect(imageRefProblem(ref)).toBeUndefined();
    expect(parseImageRef(ref)).toEqual(parts);
  });

  it.each([
    ['a shell command in the tag', 'busybox:test;rm -rf /', /whitespace/],
    ['a shell command without spaces', 'busybox:test;rm', /invalid tag "test;rm"/],
    ['a path traversal', '../../etc/passwd', /"\." and "\.\." are not allowed/],
    ['an upper-case repository', 'Busybox', /must be lowercase/],
    ['an upper-case path after a registry', 'docker.io/Library/nginx', /must be lowercase/],
    ['a newline', 'busybox\n:latest', /whitespace or a control character/],
    ['a NUL', 'busybox\0', /control character/],
    ['an empty reference', '', /is empty/],
    ['an empty tag', 'busybox:', /empty tag/],
    ['a tag starting with a dot', 'busybox:.x', /invalid tag/],
    ['a tag of 129 characters', `busybox:${'t'.repeat(129)}`, /invalid tag/],
    ['a short digest', 'busybox@sha256:abc', /invalid digest/],
    ['a digest of the wrong length', `busybox@sha256:${'a'.repeat(40)}`, /64 lower-case hex digits/],
    ['an upper-case digest', `busybox@sha256:${'A'.repeat(64)}`, /lower-case hex/],
    ['an unknown digest algorithm', `busybox@md5:${'a'.repeat(32)}`, /unsupported digest algorithm "md5"/],
    ['two digests', `busybox@sha256:${HEX64}@sha256:${HEX64}`, /more than one "@"/],
    ['an empty path component', 'a//b', /empty path component/],
    ['a trailing slash', 'a/', /empty path component/],
    ['no repository', ':tag', /no repository name/],
    ['a bad registry host', 'bad_host.io:5000/x', /invalid registry host/],
    ['a registry port out of range', 'localhost:70000/x', /out of range/],
    ['a non-numeric port', 'localhost:ab/x', /invalid registry port/],
    ['a path component with a leading separator', 'docker.io/-x', /invalid path component "-x"/],
    ['a path longer than 255 characters', `x/${'a'.repeat(255)}`, /longer than 255/],
    ['a unicode letter', 'bусybox', /invalid path component/],
  ])('refuses %s', (_what, ref, problem) => {
    expect(imageRefProblem(ref)).toMatch(problem);
    let thrown: unknown;
    try {
      parseImageRef(ref);
    } catch (err) {
      thrown = err;
    }
    expect(isKukeError(thrown, 'InvalidArgument')).toBe(true);
    expect((thrown as Error).message).toMatch(/^invalid image reference ".*": .+; use name\[:tag\]\[@digest\], e\.g\. docker\.io\/library\/nginx:1\.27$/);
    expect((thrown as Error).message).not.toContain('\n');
  });
});
