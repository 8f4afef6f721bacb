import { describe, expect, it } from 'vitest';
import { cgroupSegments, sharesToWeight } from '../../../src/runtime/cgroups/cgroupfs.js';
import { hierarchyFor, parseMountinfo } from '../../../src/runtime/cgroups/mounts.js';
import { isKukeError } from '../../../src/errors.js';

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate`;
const UNIFIED = `30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;
const CONTAINER_VIEW = `1000 999 0:26 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw`;

describe('cgroup layout detection', () => {
  it('reads a hybrid host as v1, with every controller hierarchy and the unified mount', () => {
    const layout = parseMountinfo(HYBRID);
    expect(layout.mode).toBe('v1');
    expect(layout.hierarchies.map((h) => h.mountPoint)).toEqual(['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/memory', '/sys/fs/cgroup/pids', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified']);
    expect(hierarchyFor(layout, 'cpuacct')?.mountPoint).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(hierarchyFor(layout, 'freezer')).toBeUndefined();
  });

  it('reads a unified host as v2', () => {
    const layout = parseMountinfo(UNIFIED);
    expect(layout).toEqual({ mode: 'v2', hierarchies: [{ mountPoint: '/sys/fs/cgroup', controllers: ['unified'], version: 2 }] });
    expect(hierarchyFor(layout, 'memory')?.mountPoint).toBe('/sys/fs/cgroup');
  });

  it('ignores a sub-hierarchy bind-mounted into a container', () => {
    expect(parseMountinfo(CONTAINER_VIEW).hierarchies).toEqual([]);
  });

  it('converts cpu shares to v2 weights as runc does', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
  });

  it.each(['kukeon', '/kukeon/../etc', '/kukeon//x', '/kukeon/./x', '/', '/kukeon/a b', '/kukeon/\0'])('rejects the path %j', (path) => {
    let error: unknown;
    try {
      cgroupSegments(path);
    } catch (err) {
      error = err;
    }
    expect(isKukeError(error, 'InvalidArgument')).toBe(true);
  });
});

describe('cgroup paths through symlinks', () => {
  it('refuses to create or read through a symlink planted in the tree', async () => {
    const { mkdtempSync, mkdirSync, symlinkSync, rmSync, existsSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { createCgroups } = await import('../../../src/runtime/cgroups/cgroupfs.js');
    const root = mkdtempSync(join(tmpdir(), 'kukeon-cgfake-'));
    const outside = mkdtempSync(join(tmpdir(), 'kukeon-outside-'));
    try {
      const cg = await createCgroups({ mountinfo: `41 31 0:38 / ${root} rw - cgroup2 cgroup2 rw` });
      mkdirSync(join(root, 'kukeon'));
      symlinkSync(outside, join(root, 'kukeon', 'evil'));
      const err = await cg.ensure('/kukeon/evil/cell').catch((e) => e);
      expect(isKukeError(err, 'InvalidArgument')).toBe(true);
      expect(existsSync(join(outside, 'cell'))).toBe(false);
      expect(await cg.ensure('/kukeon/fine/cell')).toEqual({ created: true });
      expect(await cg.children('/kukeon')).toEqual(['fine']);
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
