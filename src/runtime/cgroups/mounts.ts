/**
 * Where the cgroup hierarchies are, from the mount table (/proc/self/mountinfo, or /proc/mounts). Detected, never
 * assumed:
 * - v2 (unified): one cgroup2 mount, usually /sys/fs/cgroup; its root's `cgroup.controllers` says which controllers
 *   it offers.
 * - v1 (legacy): one cgroup mount per controller set (`cpu`, `cpu,cpuacct`, `memory`, `pids`, …) and named ones
 *   without controllers (`name=systemd`).
 * - hybrid: v1 as above plus a cgroup2 mount (/sys/fs/cgroup/unified) that carries no controller the v1 mounts
 *   hold; runc mirrors every task cgroup into it, so the manager creates and removes paths there too.
 *
 * Everything here is pure: the text comes from the caller, so tests feed v2, hybrid and legacy tables.
 */
import { join } from 'node:path';

/** One cgroup mount as the mount table lists it. */
export interface MountEntry {
  fstype: 'cgroup' | 'cgroup2';
  /** Mount point (escapes like `\040` decoded). */
  mountPoint: string;
  /** The directory of the hierarchy that is mounted there (`/` for the host's view); `/` when the table does not say. */
  root: string;
  /** `major:minor` of the superblock (mountinfo only): two mounts of one hierarchy share it. */
  device?: string;
  /** Superblock options (mountinfo) or all options (/proc/mounts), e.g. `rw`, `memory`, `name=systemd`. */
  options: string[];
}

/** One mounted hierarchy the manager works in. Immutable once detected. */
export interface Hierarchy {
  /** A label for logs and messages: the controllers (`cpu,cpuacct`), `name=systemd`, or `unified`. */
  id: string;
  /** Mount point as the mount table names it, e.g. /sys/fs/cgroup/memory. */
  mountPoint: string;
  /** The same directory on this filesystem: `mountRoot` + `mountPoint` (they differ only in tests). */
  dir: string;
  version: 1 | 2;
  /**
   * v1: the controllers this hierarchy carries (empty for a named one). v2: the controllers its root offers
   * (`cgroup.controllers`), which on a hybrid host excludes every controller bound to a v1 mount.
   */
  controllers: string[];
  /** v1 named hierarchy, e.g. `systemd` for `name=systemd`. */
  name?: string;
  /** The hierarchy directory mounted there (`/` for the host's view). Paths are joined to the mount point as runc does. */
  root: string;
}

/** The hierarchies of a host, in mount-table order. */
export interface CgroupLayout {
  /** 'v1' as soon as one v1 mount carries a controller (legacy or hybrid); 'v2' when only cgroup2 does. */
  mode: 'v1' | 'v2';
  /** Every hierarchy a cgroup path is created in and removed from. */
  hierarchies: Hierarchy[];
}

/** Mount flags that can appear among v1 options and are not controllers. */
const MOUNT_FLAGS = new Set([
  'rw', 'ro', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'relatime', 'norelatime', 'noatime', 'atime',
  'nodiratime', 'diratime', 'strictatime', 'lazytime', 'sync', 'async', 'dirsync', 'mand', 'nomand', 'silent',
  'loud', 'defaults', 'xattr', 'noprefix', 'clone_children', 'cpuset_v2_mode', 'favordynmods', 'none', 'all',
]);

/** Decodes the octal escapes the kernel uses for spaces, tabs, newlines and backslashes in mount fields. */
function unescapeField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function parseMountinfoLine(line: string): MountEntry | undefined {
  // `36 35 98:0 /root /mnt rw,noatime shared:1 - cgroup cgroup rw,memory`: optional fields end at the lone `-`.
  const fields = line.split(' ');
  const dash = fields.indexOf('-', 6);
  if (dash < 0) return undefined;
  const fstype = fields[dash + 1];
  if (fstype !== 'cgroup' && fstype !== 'cgroup2') return undefined;
  const [, , device, root, mountPoint] = fields;
  if (!device || !root || !mountPoint) return undefined;
  return { fstype, device, root: unescapeField(root), mountPoint: unescapeField(mountPoint), options: (fields[dash + 3] ?? '').split(',').filter(Boolean) };
}

function parseMountsLine(line: string): MountEntry | undefined {
  // `cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0`
  const [, mountPoint, fstype, options = ''] = line.split(/\s+/);
  if (!mountPoint || (fstype !== 'cgroup' && fstype !== 'cgroup2')) return undefined;
  return { fstype, root: '/', mountPoint: unescapeField(mountPoint), options: options.split(',').filter(Boolean) };
}

/**
 * The cgroup mounts of a mount table, in either format: /proc/self/mountinfo (recognised by its ` - ` separator) or
 * /proc/mounts. Other filesystems are skipped.
 */
export function parseMountTable(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const entry = / - /.test(line) ? parseMountinfoLine(line) : parseMountsLine(line);
    if (entry) entries.push(entry);
  }
  return entries;
}

/** The controllers (and name) a v1 mount carries, from its options. */
export function v1Controllers(options: string[]): { controllers: string[]; name?: string } {
  const controllers: string[] = [];
  let name: string | undefined;
  for (const option of options) {
    if (option.startsWith('name=')) name = option.slice('name='.length);
    else if (!option.includes('=') && !MOUNT_FLAGS.has(option)) controllers.push(option);
  }
  return name === undefined ? { controllers } : { controllers, name };
}

/** Options of {@link layoutFromMounts}. */
export interface LayoutOptions {
  /** Prepended to every mount point (default `/`); tests point it at a temp dir that mimics the tree. */
  mountRoot?: string;
  /** What the cgroup2 root offers (its `cgroup.controllers`); empty when unknown. */
  unifiedControllers?: string[];
}

/**
 * The layout of a host from its cgroup mounts. A hierarchy mounted more than once (same superblock, e.g. a bind
 * mount) counts once, preferring the mount of its root. On a v2 host, v1 named mounts without controllers (left
 * by some container runtimes for compatibility) are ignored, as runc ignores them there.
 */
export function layoutFromMounts(entries: MountEntry[], options: LayoutOptions = {}): CgroupLayout {
  const mountRoot = options.mountRoot ?? '/';
  const byKey = new Map<string, MountEntry>();
  for (const entry of entries) {
    const parsed = entry.fstype === 'cgroup' ? v1Controllers(entry.options) : { controllers: [] };
    const key = entry.device ?? `${entry.fstype}:${[...parsed.controllers].sort().join(',')}:${'name' in parsed ? parsed.name : ''}`;
    const seen = byKey.get(key);
    if (!seen || (seen.root !== '/' && entry.root === '/')) byKey.set(key, entry);
  }
  const hierarchies: Hierarchy[] = [];
  for (const entry of byKey.values()) {
    const dir = join(mountRoot, entry.mountPoint);
    if (entry.fstype === 'cgroup2') {
      hierarchies.push({ id: 'unified', mountPoint: entry.mountPoint, dir, version: 2, controllers: [...(options.unifiedControllers ?? [])], root: entry.root });
      continue;
    }
    const { controllers, name } = v1Controllers(entry.options);
    if (controllers.length === 0 && name === undefined) continue;
    const id = controllers.length > 0 ? controllers.join(',') : `name=${name}`;
    hierarchies.push({ id, mountPoint: entry.mountPoint, dir, version: 1, controllers, ...(name !== undefined ? { name } : {}), root: entry.root });
  }
  const v1WithControllers = hierarchies.some((h) => h.version === 1 && h.controllers.length > 0);
  if (v1WithControllers) return { mode: 'v1', hierarchies };
  return { mode: 'v2', hierarchies: hierarchies.filter((h) => h.version === 2).slice(0, 1) };
}

/**
 * The hierarchy that carries `controller`: its v1 mount, or else the cgroup2 mount if its root offers it (always on
 * a v2 host; on a hybrid host only for controllers no v1 mount holds).
 */
export function hierarchyFor(layout: CgroupLayout, controller: string): Hierarchy | undefined {
  return (
    layout.hierarchies.find((h) => h.version === 1 && h.controllers.includes(controller)) ??
    layout.hierarchies.find((h) => h.version === 2 && h.controllers.includes(controller))
  );
}

/** The cgroup2 hierarchy, if one is mounted (the v2 tree, or the hybrid mirror). */
export function unifiedHierarchy(layout: CgroupLayout): Hierarchy | undefined {
  return layout.hierarchies.find((h) => h.version === 2);
}
