import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as pb from '../../../src/api/gen/kukeon/v1/kukeon.js';
import { checkRequestSize, cutMarker, fitMessage, MAX_REQUEST_BYTES, PartJoiner, partsOf } from '../../../src/api/limits.js';
import { ErrorKind, KukeError } from '../../../src/errors.js';

describe('API message limits', () => {
  it('joins the parts of any JSON back to the same value, UTF-8 sequences cut between parts included', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer({ min: 1, max: 64 }), (value, size) => {
        const parts = partsOf(JSON.stringify(value), size);
        expect(parts.every((p) => p.json.length <= size)).toBe(true);
        expect(parts.map((p) => p.last)).toEqual(parts.map((_, i) => i === parts.length - 1));
        const joiner = new PartJoiner();
        const items = parts.map((p) => joiner.add(p));
        expect(items.at(-1)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(joiner.pending).toBe(false);
      }),
    );
  });

  it('accepts a request at the limit and refuses one byte more, naming the size, the limit and what to do', () => {
    expect(() => checkRequestSize('applyManifest', MAX_REQUEST_BYTES)).not.toThrow();
    let err: unknown;
    try {
      checkRequestSize('applyManifest', MAX_REQUEST_BYTES + (1 << 20));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KukeError);
    expect((err as KukeError).kind).toBe(ErrorKind.InvalidArgument);
    expect((err as KukeError).message).toBe('request too large: the manifest is 5 MiB (limit 4 MiB)');
  });

  it('leaves a message that fits alone, and cuts the longest strings of one that does not, with a marker', () => {
    const size = (m: pb.ContainerTemplate) => pb.ContainerTemplate.encode(m).finish().length;
    const small = pb.ContainerTemplate.fromPartial({ name: 'main', env: ['A=1'] });
    expect(fitMessage(small, size, 1000)).toBe(small);
    const large = pb.ContainerTemplate.fromPartial({ name: 'main', image: 'busybox', env: ['A=1', `B=${'x'.repeat(5000)}`], args: ['y'.repeat(3000)] });
    const fitted = fitMessage(large, size, 1000);
    expect(size(fitted)).toBeLessThanOrEqual(1000);
    expect(fitted).toMatchObject({ name: 'main', image: 'busybox', env: ['A=1', expect.stringMatching(/^B=x*… \[cut by kukeon: 5002 characters/)] });
    expect(fitted.args[0]!.endsWith(cutMarker(3000))).toBe(true);
  });
});
