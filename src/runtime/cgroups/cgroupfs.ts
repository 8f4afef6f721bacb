/**
 * The cgroup manager over cgroupfs, for v2 (unified) and v1/hybrid hosts, implementing the `Cgroups` port.
 *
 * A path like `/kukeon/default/default/default/web` lives in every managed hierarchy: on v1 each controller's mount,
 * the named `name=systemd` one and the hybrid cgroup2 mirror (runc places a task in all of them, so removal must
 * look in all of them); on v2 the one unified tree. Limits go to the hierarchy that carries each controller, in
 * that hierarchy's dialect (see limits.ts); usage is read the same way (see formats.ts and README.md).
 *
 * Paths pass `cgroupSegments` before they become directories, and every directory on the way down is checked with
 * lstat (never a symlink); knobs are opened with O_NOFOLLOW.
 */
import { mkdirSync, rmdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorKind, KukeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { CgroupUsage, Cgroups, ResourceLimits } from '../ports.js';
import { cgroupError, errnoOf } from './errors.js';
import { parseControllers, parsePids, usageFrom, type UsageFiles } from './formats.js';
import { dirState, readKnob, subdirs, writeKnob, writeKnobSync } from './fsops.js';
import { controllersFor, limitWrites, validateLimits, type KnobWrite, type LimitController } from './limits.js';
import { hierarchyFor, layoutFromMounts, parseMountTable, unifiedHierarchy, type CgroupLayout, type Hierarchy } from './mounts.js';
import { cgroupSegments } from './paths.js';

/** Controllers kukeon delegates down a v2 tree (intersected with what each level offers). */
const V2_SUBTREE_CONTROLLERS = ['cpu', 'memory', 'pids', 'io'];
/** rmdir of a group whose last task just exited can see EBUSY for a moment: retry this many times, doubling. */
const RMDIR_RETRIES = 5;
const RMDIR_FIRST_DELAY_MS = 10;
/** How many pids a "busy" message lists. */
const PIDS_IN_MESSAGE = 10;

/** Options of {@link createCgroups}. All optional. */
export interface CgroupsOptions {
  /** The mount table: its text, or a function that loads it. Default: /proc/self/mountinfo. /proc/mounts format works too. */
  mountinfo?: string | (() => Promise<string>);
  /** Prepended to every mount point of the table (default `/`): tests point it at a temp dir that mimics the tree. */
  mountRoot?: string;
  logger?: Logger;
  /**
   * How a cgroup directory is made and removed (default `mkdirSync` and `rmdirSync`). A test seam: cgroupfs creates
   * and drops the knob files of a group itself, a plain directory tree does not, so a fake tree passes ops that do.
   */
  directoryOps?: DirectoryOps;
}

/**
 * mkdir and rmdir of one cgroup directory, synchronous like the rest of the metadata path (see fsops.ts); they throw
 * Node errno errors (EEXIST, EBUSY, ENOENT, …).
 */
export interface DirectoryOps {
  mkdir(dir: string): void;
  rmdir(dir: string): void;
}

const NODE_DIRECTORY_OPS: DirectoryOps = {
  mkdir: (dir) => mkdirSync(dir),
  rmdir: (dir) => rmdirSync(dir),
};

/** Detects the host's layout from the mount table and returns the manager. FailedPrecondition if no cgroupfs is mounted. */
export async function createCgroups(options: CgroupsOptions = {}): Promise<CgroupFs> {
  const source = options.mountinfo;
  let text: string;
  try {
    text = typeof source === 'string' ? source : source ? await source() : await readFile('/proc/self/mountinfo', 'utf8');
  } catch (err) {
    throw cgroupError(err, 'reading the mount table to find the cgroup hierarchies');
  }
  const mounts = parseMountTable(text);
  let layout = layoutFromMounts(mounts, options.mountRoot !== undefined ? { mountRoot: options.mountRoot } : {});
  const unified = unifiedHierarchy(layout);
  if (unified) {
    // What the cgroup2 root offers decides which controllers live there (all of them on v2; leftovers on hybrid).
    let offered: string[] = [];
    try {
      offered = parseControllers(readKnob(join(unified.dir, 'cgroup.controllers')));
    } catch (err) {
      options.logger?.warn({ err, dir: unified.dir }, 'cannot read the controllers of the cgroup2 root; using none there');
    }
    layout = layoutFromMounts(mounts, { ...(options.mountRoot !== undefined ? { mountRoot: options.mountRoot } : {}), unifiedControllers: offered });
  }
  if (layout.hierarchies.length === 0) {
    throw new KukeError(ErrorKind.FailedPrecondition, 'no cgroup hierarchy is mounted', {
      hint: 'mount cgroupfs: cgroup2 at /sys/fs/cgroup, or the v1 controllers under /sys/fs/cgroup/<controller>',
    });
  }
  return new CgroupFs(layout, options);
}

/** A cgroup path as a directory of one hierarchy. */
export interface HierarchyDir {
  hierarchy: Hierarchy;
  /** The directory, e.g. /sys/fs/cgroup/memory/kukeon/default. */
  dir: string;
}

/** Runs `work` for every item and waits for all of them, then throws the first failure (none is left running). */
async function forAll<T, R>(items: T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const settled = await Promise.allSettled(items.map(work));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}

/** A path resolved in one hierarchy. */
interface Resolved {
  h: Hierarchy;
  /** The directory of the whole path (whether or not it exists). */
  dir: string;
  exists: boolean;
  /** How many levels exist from the top (= segments.length when `exists`). */
  depth: number;
}

/**
 * The manager. `mode` and `layout` are fixed at creation. Beyond the port it offers {@link CgroupFs.addProcess}
 * (move a process in) and {@link CgroupFs.directories} (where a path lives), for tests and diagnostics.
 */
export class CgroupFs implements Cgroups {
  /** 'v1' on legacy and hybrid hosts, 'v2' on unified ones. */
  readonly mode: 'v1' | 'v2';
  private readonly logger: Logger | undefined;
  private readonly ops: DirectoryOps;

  constructor(
    /** The detected hierarchies; read-only. */
    readonly layout: CgroupLayout,
    options: Pick<CgroupsOptions, 'logger' | 'directoryOps'> = {},
  ) {
    this.mode = layout.mode;
    this.logger = options.logger?.child({ component: 'cgroups' });
    this.ops = options.directoryOps ?? NODE_DIRECTORY_OPS;
  }

  /** The directory of `path` in every managed hierarchy (validated; nothing is read). */
  directories(path: string): HierarchyDir[] {
    const segments = cgroupSegments(path);
    return this.layout.hierarchies.map((hierarchy) => ({ hierarchy, dir: join(hierarchy.dir, ...segments) }));
  }

  /** {@link dirState} with foreign errors translated. */
  private state(dir: string, path: string, what: string): 'dir' | 'missing' {
    try {
      return dirState(dir, path);
    } catch (err) {
      throw cgroupError(err, what);
    }
  }

  /**
   * Walks `segments` down `h` checking each level with lstat. Returns the directory and how many levels exist; stops
   * at the first missing level (everything below is missing too).
   */
  private resolve(h: Hierarchy, segments: string[], path: string): Resolved {
    let dir = h.dir;
    for (const [i, segment] of segments.entries()) {
      dir = join(dir, segment);
      if (this.state(dir, path, `resolving cgroup ${path} in ${h.mountPoint}`) === 'missing') {
        return { h, dir: join(h.dir, ...segments), exists: false, depth: i };
      }
    }
    return { h, dir, exists: true, depth: segments.length };
  }

  /** {@link resolve} in every hierarchy; all are checked before the caller changes anything in any of them. */
  private resolveAll(segments: string[], path: string): Resolved[] {
    return this.layout.hierarchies.map((h) => this.resolve(h, segments, path));
  }

  async ensure(path: string, limits: ResourceLimits = {}): Promise<{ created: boolean }> {
    const segments = cgroupSegments(path);
    validateLimits(limits, path);
    for (const controller of controllersFor(limits)) this.requireController(controller, path);
    // A symlink or file in one hierarchy must stop the call before anything is created in another.
    const found = this.resolveAll(segments, path);
    const created = found.map(({ h, depth }) => this.ensureIn(h, segments, path, depth));
    await this.applyLimits(segments, path, limits);
    const any = created.some(Boolean);
    if (any) this.logger?.debug({ path, hierarchies: this.layout.hierarchies.length }, 'cgroup created');
    return { created: any };
  }

  /**
   * Creates the levels of `segments` in `h` from `depth` (the first missing one) down; true if the target itself
   * was missing. Levels above `depth` were checked by {@link resolve}.
   */
  private ensureIn(h: Hierarchy, segments: string[], path: string, depth: number): boolean {
    const cpuset = h.version === 1 && h.controllers.includes('cpuset');
    const delegate = h.version === 2 ? V2_SUBTREE_CONTROLLERS.filter((c) => h.controllers.includes(c)) : [];
    let dir = h.dir;
    let created = false;
    for (const [i, segment] of segments.entries()) {
      const parent = dir;
      dir = join(dir, segment);
      if (i >= depth) {
        try {
          this.ops.mkdir(dir);
          if (i === segments.length - 1) created = true;
        } catch (err) {
          if (errnoOf(err) !== 'EEXIST') throw cgroupError(err, `creating cgroup ${path} in ${h.mountPoint} (${dir})`);
          // Someone else made it meanwhile: fine if it is a real directory.
          this.state(dir, path, `creating cgroup ${path} in ${h.mountPoint}`);
        }
      }
      // Checked on existing levels too, so a crash between mkdir and the copy is repaired by the next call.
      if (cpuset) this.fillCpuset(parent, dir, path);
      if (delegate.length > 0 && i < segments.length - 1) this.delegate(dir, delegate, path);
    }
    return created;
  }

  /** v1 cpuset groups start with empty cpus and mems and refuse tasks (ENOSPC) until both are set: copy the parent's. */
  private fillCpuset(parent: string, dir: string, path: string): void {
    for (const knob of ['cpuset.cpus', 'cpuset.mems']) {
      try {
        const own = readKnob(join(dir, knob));
        if (own === undefined || own.trim() !== '') continue;
        const inherited = readKnob(join(parent, knob))?.trim();
        if (inherited) writeKnobSync(join(dir, knob), inherited);
      } catch (err) {
        throw cgroupError(err, `setting ${knob} of cgroup ${path} from its parent`);
      }
    }
  }

  /**
   * v2: lets `dir`'s children use the wanted controllers it has (`cgroup.subtree_control`), so limits can be set one
   * level down. Never written on the hierarchy root (what the host delegates is its own business). A level that
   * holds processes cannot delegate (EBUSY): logged, and a limit needing that controller then fails clearly.
   */
  private delegate(dir: string, wanted: string[], path: string): void {
    const available = parseControllers(readKnob(join(dir, 'cgroup.controllers')));
    const enabled = parseControllers(readKnob(join(dir, 'cgroup.subtree_control')));
    const missing = wanted.filter((c) => available.includes(c) && !enabled.includes(c));
    if (missing.length === 0) return;
    try {
      writeKnobSync(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
    } catch (err) {
      this.logger?.warn({ err: cgroupError(err, `enabling ${missing.join(' ')} in ${dir}`), path }, 'could not delegate cgroup controllers');
    }
  }

  private requireController(controller: LimitController, path: string): Hierarchy {
    const h = hierarchyFor(this.layout, controller);
    if (!h) {
      throw new KukeError(ErrorKind.FailedPrecondition, `cannot limit ${controller} of cgroup ${path}: the ${controller} controller is not available on this host`, {
        hint: `mount the ${controller} controller (v1) or enable it in the cgroup2 root's subtree_control (v2)`,
      });
    }
    return h;
  }

  private async applyLimits(segments: string[], path: string, limits: ResourceLimits): Promise<void> {
    const needed = controllersFor(limits);
    if (needed.length === 0) return;
    const dirOf = (c: LimitController) => join(this.requireController(c, path).dir, ...segments);
    const versionOf = (c: LimitController) => this.requireController(c, path).version;
    let currentCpuMax: string | undefined;
    if (needed.includes('cpu') && versionOf('cpu') === 2 && limits.cpuPeriodUs !== undefined && limits.cpuQuotaUs === undefined) {
      currentCpuMax = readKnob(join(dirOf('cpu'), 'cpu.max'));
    }
    const writes = limitWrites(limits, versionOf, currentCpuMax);
    const write = async (w: KnobWrite) => {
      try {
        await writeKnob(join(dirOf(w.controller), w.file), w.value);
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') {
          throw new KukeError(ErrorKind.FailedPrecondition, `cannot write ${w.file} of cgroup ${path}: the ${w.controller} controller is not enabled for it`, {
            cause: err,
            hint: 'on cgroup v2 every ancestor must delegate the controller (cgroup.subtree_control) and hold no processes',
          });
        }
        throw cgroupError(err, `writing ${w.value} to ${w.file} of cgroup ${path}`);
      }
    };
    const cfs = writes.filter((w) => w.file.startsWith('cpu.cfs_'));
    for (const w of writes) if (!cfs.includes(w)) await write(w);
    try {
      for (const w of cfs) await write(w);
    } catch (err) {
      // The kernel checks quota/period against the parent after each write; the other order may pass (runc does this).
      if (!(err instanceof KukeError && err.kind === ErrorKind.InvalidArgument) || cfs.length < 2) throw err;
      for (const w of [...cfs].reverse()) await write(w);
    }
    this.logger?.debug({ path, limits }, 'cgroup limits applied');
  }

  async exists(path: string): Promise<boolean> {
    return this.resolveAll(cgroupSegments(path), path).every((f) => f.exists);
  }

  async children(path: string): Promise<string[]> {
    const names = new Set<string>();
    for (const { dir, exists } of this.resolveAll(cgroupSegments(path), path)) {
      if (exists) for (const name of subdirs(dir)) names.add(name);
    }
    return [...names].sort();
  }

  async pids(path: string, options: { recursive?: boolean } = {}): Promise<number[]> {
    const all = new Set<number>();
    for (const { dir, exists } of this.resolveAll(cgroupSegments(path), path)) {
      if (!exists) continue;
      for (const d of options.recursive ? this.subtree(dir) : [dir]) for (const pid of this.procsOf(d, path)) all.add(pid);
    }
    return [...all].sort((a, b) => a - b);
  }

  private procsOf(dir: string, path: string): number[] {
    try {
      return parsePids(readKnob(join(dir, 'cgroup.procs')));
    } catch (err) {
      throw cgroupError(err, `reading the processes of cgroup ${path} (${dir})`);
    }
  }

  /** `dir` and every real directory below it, children before parents (the order rmdir needs). */
  private subtree(dir: string): string[] {
    const out: string[] = [];
    for (const name of subdirs(dir)) out.push(...this.subtree(join(dir, name)));
    out.push(dir);
    return out;
  }

  async usage(path: string): Promise<CgroupUsage> {
    const segments = cgroupSegments(path);
    const found = this.resolveAll(segments, path);
    if (found.every((f) => !f.exists)) throw new KukeError(ErrorKind.NotFound, `cgroup ${path} does not exist`, { hint: 'kukeon creates a cgroup when it provisions the resource' });
    const locate = (h: Hierarchy | undefined): string | undefined => {
      if (!h) return undefined;
      const f = found.find((x) => x.h === h)!;
      if (!f.exists) throw new KukeError(ErrorKind.NotFound, `cgroup ${path} does not exist in ${h.mountPoint}`, { hint: 'recreate it (ensure) to complete it in every hierarchy' });
      return f.dir;
    };
    const read = (dir: string | undefined, file: string) => (dir === undefined ? undefined : readKnob(join(dir, file)));
    // CPU: cpuacct on v1; otherwise the cgroup2 tree's cpu.stat, which every v2 group has (on hybrid, runc's mirror).
    const cpuH = this.layout.hierarchies.find((h) => h.version === 1 && h.controllers.includes('cpuacct')) ?? unifiedHierarchy(this.layout);
    const memH = hierarchyFor(this.layout, 'memory');
    const pidsH = hierarchyFor(this.layout, 'pids');
    const [cpuDir, memDir, pidsDir] = [locate(cpuH), locate(memH), locate(pidsH)];
    try {
      const files: UsageFiles = {};
      if (cpuH) files.cpu = cpuH.version === 1 ? { version: 1, cpuacctUsage: read(cpuDir, 'cpuacct.usage') } : { version: 2, cpuStat: read(cpuDir, 'cpu.stat') };
      if (memH) {
        const v1 = memH.version === 1;
        files.memory = {
          version: memH.version,
          current: read(memDir, v1 ? 'memory.usage_in_bytes' : 'memory.current'),
          peak: read(memDir, v1 ? 'memory.max_usage_in_bytes' : 'memory.peak'),
          stat: read(memDir, 'memory.stat'),
        };
      }
      if (pidsH) files.pidsCurrent = read(pidsDir, 'pids.current');
      return usageFrom(files);
    } catch (err) {
      throw cgroupError(err, `reading the usage of cgroup ${path}`);
    }
  }

  async remove(path: string): Promise<void> {
    const segments = cgroupSegments(path);
    const trees = this.resolveAll(segments, path)
      .filter((f) => f.exists)
      .map(({ h, dir }) => ({ h, dirs: this.subtree(dir) }));
    if (trees.length === 0) return;
    // Refuse before touching anything if a process remains anywhere below, in any hierarchy.
    this.refuseIfBusy(path, trees.flatMap((t) => t.dirs));
    await forAll(trees, async ({ h, dirs }) => {
      for (const dir of dirs) await this.rmdirRetrying(dir, path, h);
    });
    this.logger?.debug({ path, groups: trees.reduce((n, t) => n + t.dirs.length, 0) }, 'cgroup removed');
  }

  private refuseIfBusy(path: string, dirs: string[]): void {
    const pids = new Set<number>();
    for (const dir of dirs) for (const pid of this.procsOf(dir, path)) pids.add(pid);
    if (pids.size === 0) return;
    const list = [...pids].sort((a, b) => a - b);
    const shown = list.slice(0, PIDS_IN_MESSAGE).join(', ') + (list.length > PIDS_IN_MESSAGE ? ', …' : '');
    throw new KukeError(ErrorKind.FailedPrecondition, `cgroup ${path} is busy: ${list.length} process(es) remain (pids ${shown})`, {
      hint: 'stop the containers that run there (or move the processes out), then remove it again',
    });
  }

  private async rmdirRetrying(dir: string, path: string, h: Hierarchy): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.ops.rmdir(dir);
        return;
      } catch (err) {
        const code = errnoOf(err);
        if (code === 'ENOENT') return;
        if (code === 'EBUSY') {
          // A task that has just exited can keep the group populated for a moment; give it time, then name the
          // processes if some are really there (one may have joined since the check).
          if (attempt < RMDIR_RETRIES) {
            await sleep(RMDIR_FIRST_DELAY_MS * 2 ** attempt);
            continue;
          }
          this.refuseIfBusy(path, this.subtree(dir));
        }
        throw cgroupError(err, `removing cgroup ${path} from ${h.mountPoint} (${dir})`);
      }
    }
  }

  /**
   * Moves process `pid` (all its threads) into `path` in every managed hierarchy, as runc places a task. An
   * extension beyond the port, for tests and for moving the daemon's own processes. The cgroup must exist (NotFound
   * otherwise: call `ensure` first); a pid that is gone is NotFound; on v2 a group that delegates controllers
   * refuses processes (FailedPrecondition).
   */
  async addProcess(path: string, pid: number): Promise<void> {
    const segments = cgroupSegments(path);
    if (!Number.isSafeInteger(pid) || pid <= 0) throw new KukeError(ErrorKind.InvalidArgument, `invalid pid ${pid}`);
    const found = this.resolveAll(segments, path);
    const missing = found.find((f) => !f.exists);
    if (missing) throw new KukeError(ErrorKind.NotFound, `cgroup ${path} does not exist in ${missing.h.mountPoint}`, { hint: 'create it first with ensure()' });
    await forAll(found, async ({ h, dir }) => {
      try {
        await writeKnob(join(dir, 'cgroup.procs'), String(pid));
      } catch (err) {
        throw cgroupError(err, `moving process ${pid} into cgroup ${path} in ${h.mountPoint}`);
      }
    });
  }
}
