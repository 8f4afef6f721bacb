/**
 * A fake cgroupfs in a temp dir, for unit tests of the manager: the mount tables of a hybrid, a legacy v1 and a
 * unified v2 host, a tree mimicking /sys/fs/cgroup under `root`, and directory ops that do what the kernel does on
 * mkdir (create the knob files of the new group; v2: give it the controllers its parent delegates, turning the
 * parent's `+x` tokens into a plain list as the kernel shows it) and on rmdir (drop the knob files; EBUSY if the group
 * holds processes or children).
 */
import { existsSync, mkdirSync, mkdtempSync, lstatSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DirectoryOps } from '../../../src/runtime/cgroups/cgroupfs.js';

/** The hybrid layout of the Debian 12 VM the project is built on (separate cpu and cpuacct mounts). */
export const HYBRID_MOUNTINFO = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

/** A legacy v1 host as systemd < 232 mounted it: co-mounted cpu,cpuacct and net_cls,net_prio, no cgroup2. */
export const LEGACY_MOUNTINFO = `24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
29 24 0:25 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpuset
30 24 0:26 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
31 24 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
32 24 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids`;

/** A unified v2 host (systemd 247+ default). */
export const V2_MOUNTINFO = `22 26 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;

type Kind = 'cpu' | 'cpuacct' | 'cpu,cpuacct' | 'cpuset' | 'memory' | 'pids' | 'plain' | 'v2';

/** Knob files of a new v1 group, by hierarchy kind. */
function v1Knobs(kind: Kind): Record<string, string> {
  const base = { 'cgroup.procs': '', tasks: '', notify_on_release: '0' };
  const cpu = { 'cpu.shares': '1024\n', 'cpu.cfs_quota_us': '-1\n', 'cpu.cfs_period_us': '100000\n' };
  const cpuacct = { 'cpuacct.usage': '0\n' };
  switch (kind) {
    case 'cpu':
      return { ...base, ...cpu };
    case 'cpuacct':
      return { ...base, ...cpuacct };
    case 'cpu,cpuacct':
      return { ...base, ...cpu, ...cpuacct };
    case 'cpuset':
      // New v1 cpuset groups start empty, as clone_children=0 makes them.
      return { ...base, 'cpuset.cpus': '\n', 'cpuset.mems': '\n' };
    case 'memory':
      return { ...base, 'memory.limit_in_bytes': '9223372036854771712\n', 'memory.usage_in_bytes': '0\n', 'memory.max_usage_in_bytes': '0\n', 'memory.stat': 'cache 0\nrss 0\ntotal_inactive_file 0\n' };
    case 'pids':
      return { ...base, 'pids.max': 'max\n', 'pids.current': '0\n' };
    default:
      return base;
  }
}

/** Knob files of a new v2 group that has `controllers`. */
function v2Knobs(controllers: string[]): Record<string, string> {
  const knobs: Record<string, string> = {
    'cgroup.procs': '',
    'cgroup.controllers': `${controllers.join(' ')}\n`,
    'cgroup.subtree_control': '\n',
    'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n',
  };
  if (controllers.includes('cpu')) Object.assign(knobs, { 'cpu.weight': '100\n', 'cpu.max': 'max 100000\n' });
  if (controllers.includes('memory')) Object.assign(knobs, { 'memory.max': 'max\n', 'memory.current': '0\n', 'memory.peak': '0\n', 'memory.stat': 'anon 0\nfile 0\ninactive_file 0\n' });
  if (controllers.includes('pids')) Object.assign(knobs, { 'pids.max': 'max\n', 'pids.current': '0\n' });
  return knobs;
}

function writeKnobs(dir: string, knobs: Record<string, string>): void {
  for (const [file, content] of Object.entries(knobs)) writeFileSync(join(dir, file), content);
}

/** The kernel's view of `cgroup.subtree_control` after writes of `+x -y` tokens (the fake stores what was written). */
export function subtreeControl(dir: string): string[] {
  const enabled = new Set<string>();
  for (const token of readFileSync(join(dir, 'cgroup.subtree_control'), 'utf8').split(/\s+/).filter(Boolean)) {
    if (token.startsWith('-')) enabled.delete(token.slice(1));
    else enabled.add(token.replace(/^\+/, ''));
  }
  return [...enabled];
}

/** A fake tree and what a test needs to drive the manager over it. */
export interface FakeCgroupfs {
  /** The temp dir standing for `/`. */
  root: string;
  mountinfo: string;
  ops: DirectoryOps;
  /** The fake directory of a mount point plus cgroup path, e.g. dir('/sys/fs/cgroup/memory', '/kukeon'). */
  dir(mountPoint: string, path?: string): string;
  cleanup(): void;
}

/**
 * Builds a fake host from one of the mount tables above. `v2Offers` is what the cgroup2 root's `cgroup.controllers`
 * lists (and delegates to its first-level children).
 */
export function fakeCgroupfs(mountinfo: string, v2Offers = ['cpuset', 'cpu', 'io', 'memory', 'pids']): FakeCgroupfs {
  const root = mkdtempSync(join(tmpdir(), 'kukeon-fake-cgroupfs-'));
  const kinds = new Map<string, Kind>();
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    const fstype = fields[dash + 1];
    const mountPoint = fields[4]!;
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const dir = join(root, mountPoint);
    mkdirSync(dir, { recursive: true });
    if (fstype === 'cgroup2') {
      kinds.set(dir, 'v2');
      writeKnobs(dir, { 'cgroup.procs': '', 'cgroup.controllers': `${v2Offers.join(' ')}\n`, 'cgroup.subtree_control': `${v2Offers.join(' ')}\n`, 'cpu.stat': 'usage_usec 0\n' });
      continue;
    }
    const options = fields[dash + 3]!.split(',');
    const kind: Kind = options.includes('cpu') && options.includes('cpuacct') ? 'cpu,cpuacct' : ((['cpu', 'cpuacct', 'cpuset', 'memory', 'pids'] as const).find((k) => options.includes(k)) ?? 'plain');
    kinds.set(dir, kind);
    writeKnobs(dir, { ...v1Knobs(kind), ...(kind === 'cpuset' ? { 'cpuset.cpus': '0-3\n', 'cpuset.mems': '0\n' } : {}) });
  }
  const kindOf = (dir: string): Kind => {
    for (let d = dir; d !== dirname(d); d = dirname(d)) {
      const kind = kinds.get(d);
      if (kind) return kind;
    }
    throw new Error(`fake cgroupfs: ${dir} is in no hierarchy`);
  };
  const ops: DirectoryOps = {
    mkdir(dir) {
      mkdirSync(dir);
      const kind = kindOf(dir);
      if (kind === 'v2') {
        const parent = dirname(dir);
        const offered = subtreeControl(parent);
        writeFileSync(join(parent, 'cgroup.subtree_control'), `${offered.join(' ')}\n`);
        writeKnobs(dir, v2Knobs(offered));
      } else {
        writeKnobs(dir, v1Knobs(kind));
      }
    },
    rmdir(dir) {
      if (!existsSync(dir)) throw Object.assign(new Error(`ENOENT: ${dir}`), { code: 'ENOENT' });
      const entries = readdirSync(dir);
      const busy = readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== '' || entries.some((e) => lstatSync(join(dir, e)).isDirectory());
      if (busy) throw Object.assign(new Error(`EBUSY: ${dir}`), { code: 'EBUSY' });
      for (const e of entries) rmSync(join(dir, e));
      rmdirSync(dir);
    },
  };
  return {
    root,
    mountinfo,
    ops,
    dir: (mountPoint, path = '') => join(root, mountPoint, path),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
