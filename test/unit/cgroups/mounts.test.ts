import { describe, expect, it } from 'vitest';
import { hierarchyFor, layoutFromMounts, parseMountTable, unifiedHierarchy, v1Controllers } from '../../../src/runtime/cgroups/mounts.js';
import { HYBRID_MOUNTINFO, LEGACY_MOUNTINFO, V2_MOUNTINFO } from './fake-cgroupfs.js';

const layoutOf = (text: string, unifiedControllers: string[] = []) => layoutFromMounts(parseMountTable(text), { unifiedControllers });

describe('mount table parsing', () => {
  it('keeps only cgroup and cgroup2 mounts, with root, device and superblock options', () => {
    const entries = parseMountTable(HYBRID_MOUNTINFO);
    expect(entries).toHaveLength(10);
    expect(entries[0]).toEqual({ fstype: 'cgroup', device: '0:29', root: '/', mountPoint: '/sys/fs/cgroup/cpu', options: ['rw', 'cpu'] });
    expect(entries[9]).toEqual({ fstype: 'cgroup2', device: '0:38', root: '/', mountPoint: '/sys/fs/cgroup/unified', options: ['rw'] });
  });

  it('reads past optional fields such as shared:N before the separator', () => {
    expect(parseMountTable(V2_MOUNTINFO)).toEqual([
      { fstype: 'cgroup2', device: '0:26', root: '/', mountPoint: '/sys/fs/cgroup', options: ['rw', 'nsdelegate', 'memory_recursiveprot'] },
    ]);
  });

  it('decodes octal escapes in mount points', () => {
    const [entry] = parseMountTable('40 31 0:37 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw');
    expect(entry?.mountPoint).toBe('/mnt/my cgroups');
  });

  it('reads the /proc/mounts format as well', () => {
    const text = 'sysfs /sys sysfs rw 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0';
    const layout = layoutFromMounts(parseMountTable(text));
    expect(layout.mode).toBe('v1');
    expect(layout.hierarchies.map((h) => [h.id, h.mountPoint])).toEqual([
      ['memory', '/sys/fs/cgroup/memory'],
      ['unified', '/sys/fs/cgroup/unified'],
    ]);
  });

  it('tells controllers from mount flags and names', () => {
    expect(v1Controllers(['rw', 'nosuid', 'relatime', 'xattr', 'release_agent=/x', 'name=systemd'])).toEqual({ controllers: [], name: 'systemd' });
    expect(v1Controllers(['rw', 'cpu', 'cpuacct', 'clone_children'])).toEqual({ controllers: ['cpu', 'cpuacct'] });
  });
});

describe('layout detection', () => {
  it('reads a hybrid host as v1 with every controller hierarchy, name=systemd and the unified mirror', () => {
    const layout = layoutOf(HYBRID_MOUNTINFO, ['hugetlb']);
    expect(layout.mode).toBe('v1');
    expect(layout.hierarchies.map((h) => h.id)).toEqual(['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'name=systemd', 'unified']);
    expect(layout.hierarchies.find((h) => h.id === 'name=systemd')).toMatchObject({ version: 1, name: 'systemd', controllers: [] });
    expect(hierarchyFor(layout, 'memory')?.mountPoint).toBe('/sys/fs/cgroup/memory');
    // A controller no v1 mount holds lives on the cgroup2 mount when its root offers it.
    expect(hierarchyFor(layout, 'hugetlb')?.id).toBe('unified');
    expect(hierarchyFor(layout, 'rdma')).toBeUndefined();
  });

  it('reads a legacy host with co-mounted controllers as v1 without a unified mount', () => {
    const layout = layoutOf(LEGACY_MOUNTINFO);
    expect(layout.mode).toBe('v1');
    expect(unifiedHierarchy(layout)).toBeUndefined();
    expect(hierarchyFor(layout, 'cpu')).toBe(hierarchyFor(layout, 'cpuacct'));
    expect(hierarchyFor(layout, 'cpu')?.mountPoint).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(hierarchyFor(layout, 'net_prio')?.id).toBe('net_cls,net_prio');
    expect(layout.hierarchies).toHaveLength(6);
  });

  it('reads a unified host as v2 whose one hierarchy carries what its root offers', () => {
    const layout = layoutOf(V2_MOUNTINFO, ['cpu', 'memory', 'pids']);
    expect(layout).toEqual({
      mode: 'v2',
      hierarchies: [{ id: 'unified', mountPoint: '/sys/fs/cgroup', dir: '/sys/fs/cgroup', version: 2, controllers: ['cpu', 'memory', 'pids'], root: '/' }],
    });
    expect(hierarchyFor(layout, 'memory')?.mountPoint).toBe('/sys/fs/cgroup');
    expect(hierarchyFor(layout, 'io')).toBeUndefined();
  });

  it('ignores a leftover name=systemd v1 mount on a v2 host', () => {
    const layout = layoutOf(`${V2_MOUNTINFO}\n50 26 0:44 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd`, ['memory']);
    expect(layout.mode).toBe('v2');
    expect(layout.hierarchies.map((h) => h.mountPoint)).toEqual(['/sys/fs/cgroup']);
  });

  it('counts a hierarchy mounted twice once, preferring the mount of its root', () => {
    const text = `90 80 0:27 /docker/abc /var/lib/x/memory ro - cgroup cgroup rw,memory\n${LEGACY_MOUNTINFO}`;
    const layout = layoutOf(text);
    const memory = layout.hierarchies.filter((h) => h.controllers.includes('memory'));
    expect(memory).toEqual([expect.objectContaining({ mountPoint: '/sys/fs/cgroup/memory', root: '/' })]);
  });

  it('keeps a sub-hierarchy bind-mounted into a container, recording its root (runc joins paths to it the same way)', () => {
    const layout = layoutOf('1000 999 0:26 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw', ['memory']);
    expect(layout.hierarchies).toEqual([expect.objectContaining({ mountPoint: '/sys/fs/cgroup', root: '/kubepods/pod1' })]);
  });

  it('finds nothing when no cgroupfs is mounted', () => {
    expect(layoutOf('25 30 0:23 / /sys rw - sysfs sysfs rw').hierarchies).toEqual([]);
  });

  it('places every mount point under the mount root it is given', () => {
    const layout = layoutFromMounts(parseMountTable(HYBRID_MOUNTINFO), { mountRoot: '/tmp/fake' });
    expect(hierarchyFor(layout, 'pids')).toMatchObject({ mountPoint: '/sys/fs/cgroup/pids', dir: '/tmp/fake/sys/fs/cgroup/pids' });
  });
});
