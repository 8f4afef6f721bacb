import { describe, expect, it } from 'vitest';
import { chainIds } from '../../../src/runtime/containerd/unpack.js';

describe('chain ids', () => {
  it('are the diff id for one layer, then sha256 of "<parent chain> <diff id>" (vectors computed with sha256sum)', () => {
    const [a, b, c] = ['a', 'b', 'c'].map((x) => `sha256:${x.repeat(64)}`) as [string, string, string];
    expect(chainIds([a])).toEqual([a]);
    expect(chainIds([a, b, c])).toEqual([
      a,
      'sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c',
      'sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588',
    ]);
    expect(chainIds([])).toEqual([]);
  });
});
