/**
 * The cgroup manager over cgroupfs, for v2 (unified) and v1/hybrid hosts. A path like
 * `/kukeon/default/default/default/web` is created in every mounted hierarchy (v1: each controller's, plus
 * name=systemd and the hybrid unified mount, where runc mirrors task cgroups), so that limits apply and removal
 * leaves nothing behind in any of them.
 *
 * Paths are accepted only if every segment is a plain name (no `.`, `..`, empty or odd characters), and every
 * directory on the way must be a real directory, not a symlink.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorKind, KukeError, toKukeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { CgroupUsage, Cgroups, ResourceLimits } from '../ports.js';
import { hierarchyFor, parseMountinfo, type CgroupLayout, type Hierarchy } from './mounts.js';

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Splits and checks a cgroup path; throws InvalidArgument for anything that could escape. */
export function cgroupSegments(path: string): string[] {
  const segments = path.split('/').slice(1);
  if (!path.startsWith('/') || segments.length === 0 || segments.some((s) => !SEGMENT.test(s) || s === '..' || s === '.' || s.includes('\0'))) {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid cgroup path ${JSON.stringify(path)}`, { hint: 'cgroup paths are built from validated names, e.g. /kukeon/default' });
  }
  return segments;
}

/** cgroup v2 weight for a v1 cpu.shares value (runc's conversion). */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

async function readTrim(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes a knob without following a symlink at its path. */
async function writeKnob(path: string, value: string): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_NOFOLLOW);
  try {
    await handle.writeFile(value);
  } finally {
    await handle.close();
  }
}

/** Options of {@link createCgroups}. */
export interface CgroupsOptions {
  /** mountinfo text (default: /proc/self/mountinfo). */
  mountinfo?: string;
  logger?: Logger;
}

/** Detects the host's layout and returns the manager. */
export async function createCgroups(options: CgroupsOptions = {}): Promise<CgroupFs> {
  const text = options.mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8'));
  const layout = parseMountinfo(text);
  if (layout.hierarchies.length === 0) {
    throw new KukeError(ErrorKind.FailedPrecondition, 'no cgroup hierarchy is mounted', { hint: 'mount cgroupfs (cgroup2 at /sys/fs/cgroup, or the v1 controllers)' });
  }
  return new CgroupFs(layout, options.logger);
}

/** The manager. */
export class CgroupFs implements Cgroups {
  readonly mode: 'v1' | 'v2';

  constructor(
    readonly layout: CgroupLayout,
    private readonly logger?: Logger,
  ) {
    this.mode = layout.mode;
  }

  /** The hierarchy used for reading membership and listing (memory's on v1, the unified one on v2). */
  private get primary(): Hierarchy {
    return hierarchyFor(this.layout, 'memory') ?? hierarchyFor(this.layout, 'pids') ?? this.layout.hierarchies[0]!;
  }

  /** Checks that no directory on the way to `path` in `h` is a symlink; returns the directory path. */
  private async resolve(h: Hierarchy, path: string, mustExist: boolean): Promise<string | undefined> {
    const segments = cgroupSegments(path);
    let dir = h.mountPoint;
    for (const segment of segments) {
      dir = join(dir, segment);
      let st;
      try {
        st = await lstat(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          if (mustExist) return undefined;
          return join(h.mountPoint, ...segments);
        }
        throw toKukeError(err, `cgroup ${path}`);
      }
      if (!st.isDirectory() || st.isSymbolicLink()) {
        throw new KukeError(ErrorKind.InvalidArgument, `cgroup path ${path} goes through ${dir}, which is not a plain directory`, { hint: 'someone placed a symlink in the cgroup tree; remove it' });
      }
    }
    return dir;
  }

  async ensure(path: string, limits: ResourceLimits = {}): Promise<{ created: boolean }> {
    const segments = cgroupSegments(path);
    let created = false;
    for (const h of this.layout.hierarchies) {
      await this.resolve(h, path, false);
      let dir = h.mountPoint;
      for (const segment of segments) {
        const parent = dir;
        dir = join(dir, segment);
        try {
          await mkdir(dir);
          if (h === this.primary) created = true;
          await this.initialise(h, parent, dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw toKukeError(err, `cgroup ${path} in ${h.mountPoint}`);
        }
      }
    }
    await this.applyLimits(path, limits);
    return { created };
  }

  /** What a new cgroup needs before tasks can join it. */
  private async initialise(h: Hierarchy, parent: string, dir: string): Promise<void> {
    if (h.version === 1 && h.controllers.includes('cpuset')) {
      // v1 cpuset groups start empty and refuse tasks until cpus and mems are set: inherit the parent's.
      for (const knob of ['cpuset.cpus', 'cpuset.mems']) {
        const value = await readTrim(join(parent, knob));
        if (value) await writeKnob(join(dir, knob), value);
      }
    }
    if (h.version === 2 && this.layout.mode === 'v2') {
      // Let the new group's children use the controllers: enable in the parent what it offers.
      const available = (await readTrim(join(parent, 'cgroup.controllers')))?.split(/\s+/).filter(Boolean) ?? [];
      const wanted = ['cpu', 'memory', 'pids', 'io'].filter((c) => available.includes(c));
      const enabled = (await readTrim(join(parent, 'cgroup.subtree_control')))?.split(/\s+/) ?? [];
      const missing = wanted.filter((c) => !enabled.includes(c));
      if (missing.length) {
        await writeKnob(join(parent, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' ')).catch((err) =>
          this.logger?.warn({ err, parent, missing }, 'could not enable cgroup controllers'),
        );
      }
    }
  }

  private async applyLimits(path: string, limits: ResourceLimits): Promise<void> {
    const set = async (controller: string, file: string, value: string) => {
      const h = hierarchyFor(this.layout, controller);
      if (!h) return;
      const dir = await this.resolve(h, path, true);
      if (dir) await writeKnob(join(dir, file), value);
    };
    if (this.mode === 'v1') {
      if (limits.memoryBytes !== undefined) await set('memory', 'memory.limit_in_bytes', String(limits.memoryBytes));
      if (limits.cpuShares !== undefined) await set('cpu', 'cpu.shares', String(limits.cpuShares));
      if (limits.cpuPeriodUs !== undefined) await set('cpu', 'cpu.cfs_period_us', String(limits.cpuPeriodUs));
      if (limits.cpuQuotaUs !== undefined) await set('cpu', 'cpu.cfs_quota_us', String(limits.cpuQuotaUs));
      if (limits.pidsMax !== undefined) await set('pids', 'pids.max', String(limits.pidsMax));
    } else {
      if (limits.memoryBytes !== undefined) await set('memory', 'memory.max', String(limits.memoryBytes));
      if (limits.cpuShares !== undefined) await set('cpu', 'cpu.weight', String(sharesToWeight(limits.cpuShares)));
      if (limits.cpuQuotaUs !== undefined) await set('cpu', 'cpu.max', `${limits.cpuQuotaUs} ${limits.cpuPeriodUs ?? 100000}`);
      if (limits.pidsMax !== undefined) await set('pids', 'pids.max', String(limits.pidsMax));
    }
  }

  async exists(path: string): Promise<boolean> {
    return (await this.resolve(this.primary, path, true)) !== undefined;
  }

  async children(path: string): Promise<string[]> {
    const dir = await this.resolve(this.primary, path, true);
    if (!dir) return [];
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  }

  async pids(path: string, options: { recursive?: boolean } = {}): Promise<number[]> {
    const dir = await this.resolve(this.primary, path, true);
    if (!dir) return [];
    return this.pidsIn(dir, options.recursive ?? false);
  }

  private async pidsIn(dir: string, recursive: boolean): Promise<number[]> {
    const own = ((await readTrim(join(dir, 'cgroup.procs'))) ?? '').split('\n').filter(Boolean).map(Number);
    if (!recursive) return own;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) own.push(...(await this.pidsIn(join(dir, e.name), true)));
    return own;
  }

  async usage(path: string): Promise<CgroupUsage> {
    const read = async (controller: string, file: string) => {
      const h = hierarchyFor(this.layout, controller);
      if (!h) return undefined;
      const dir = await this.resolve(h, path, true);
      return dir ? readTrim(join(dir, file)) : undefined;
    };
    if (!(await this.exists(path))) throw new KukeError(ErrorKind.NotFound, `cgroup ${path} does not exist`);
    if (this.mode === 'v1') {
      const cpu = await read('cpuacct', 'cpuacct.usage');
      // usage_in_bytes counts page cache too; it is what the kernel charges, and what limits apply to.
      const memory = await read('memory', 'memory.usage_in_bytes');
      const peak = await read('memory', 'memory.max_usage_in_bytes');
      const pids = await read('pids', 'pids.current');
      return {
        cpuNanos: Number(cpu ?? 0),
        memoryBytes: Number(memory ?? 0),
        ...(peak !== undefined ? { memoryPeakBytes: Number(peak) } : {}),
        ...(pids !== undefined ? { pids: Number(pids) } : {}),
      };
    }
    const stat = (await read('cpu', 'cpu.stat')) ?? '';
    const usec = /usage_usec (\d+)/.exec(stat)?.[1];
    const memory = await read('memory', 'memory.current');
    const peak = await read('memory', 'memory.peak');
    const pids = await read('pids', 'pids.current');
    return {
      cpuNanos: Number(usec ?? 0) * 1000,
      memoryBytes: Number(memory ?? 0),
      ...(peak !== undefined ? { memoryPeakBytes: Number(peak) } : {}),
      ...(pids !== undefined ? { pids: Number(pids) } : {}),
    };
  }

  async remove(path: string): Promise<void> {
    cgroupSegments(path);
    // Refuse before touching anything if a process remains anywhere below, in any hierarchy.
    for (const h of this.layout.hierarchies) {
      const dir = await this.resolve(h, path, true);
      if (!dir) continue;
      const pids = await this.pidsIn(dir, true);
      if (pids.length > 0) {
        throw new KukeError(ErrorKind.FailedPrecondition, `cgroup ${path} is busy: ${pids.length} process(es) remain (pids ${pids.slice(0, 5).join(', ')}${pids.length > 5 ? ', …' : ''})`, {
          hint: 'stop the cells that run there first',
        });
      }
    }
    for (const h of this.layout.hierarchies) {
      const dir = await this.resolve(h, path, true);
      if (dir) await this.removeTree(dir, path);
    }
  }

  private async removeTree(dir: string, path: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory() && !e.isSymbolicLink()) await this.removeTree(join(dir, e.name), path);
    try {
      await rmdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code === 'EBUSY') throw new KukeError(ErrorKind.FailedPrecondition, `cgroup ${path} is busy (${dir})`, { hint: 'a process is still inside; stop it first', cause: err });
      throw toKukeError(err, `removing cgroup ${dir}`);
    }
  }
}
