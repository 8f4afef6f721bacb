/**
 * A cgroup root of its own for a test (`/kukeon-test-<random>`), and its removal from every mounted hierarchy: the
 * v1 controllers under /sys/fs/cgroup/<controller>, the hybrid cgroup2 mount at /sys/fs/cgroup/unified (runc mirrors
 * paths there), or a unified v2 host's /sys/fs/cgroup. runc removes a task's leaf cgroup on delete, never the parents.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A fresh, unique cgroup root path such as `/kukeon-test-3f9a2c1b`. */
export function testCgroupRoot(prefix = 'kukeon-test'): string {
  return `/${prefix}-${randomBytes(4).toString('hex')}`;
}

/** The mount points of every cgroup hierarchy (v1 and v2), without duplicates (cpu and cpuacct share one). */
export function cgroupMounts(): string[] {
  const seen = new Set<string>();
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, mountPoint, type] = line.split(' ');
    if (mountPoint && (type === 'cgroup' || type === 'cgroup2')) seen.add(mountPoint);
  }
  return [...seen].sort();
}

/** The directories of `path` that exist, one per hierarchy. */
export function cgroupDirs(path: string): string[] {
  return cgroupMounts().map((m) => join(m, path)).filter((d) => existsSync(d));
}

/**
 * Removes `root` and everything below it in every hierarchy, bottom-up (cgroup directories go with rmdir only).
 * Throws if a directory stays (a process still in it), naming it.
 */
export function removeCgroupTree(root: string): void {
  if (!root.startsWith('/') || root === '/' || root.includes('..')) throw new Error(`refusing to remove cgroup tree ${root}`);
  const failures: string[] = [];
  const remove = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const child = join(dir, entry);
      if (statSync(child).isDirectory()) remove(child);
    }
    try {
      rmdirSync(dir);
    } catch (err) {
      failures.push(`${dir}: ${(err as Error).message}`);
    }
  };
  for (const dir of cgroupDirs(root)) remove(dir);
  if (failures.length > 0) throw new Error(`cgroups left behind:\n${failures.join('\n')}`);
}
