/**
 * The containers' log files on the host's filesystem (layout in paths.ts): removed with their cell, rotated by
 * size with copy + truncate.
 *
 * Why copy + truncate: the writer is containerd's shim, which opens `<container>.log` once, when the task is created,
 * with O_WRONLY|O_APPEND (containerd `pkg/process/io.go`, the `file://` stdio scheme), and keeps that descriptor
 * until the task exits. A renamed file would keep receiving the lines, so the live file stays where it is: its
 * content is copied to `<container>.log.1` and the live file is truncated. Because the shim appends, its next write
 * lands at the new end of the file (offset 0), never past a hole.
 *
 * The window in which lines are lost: whatever the shim appends after the copy's last read and before the truncate.
 * The bulk of the copy is asynchronous; its tail and the truncate run in one synchronous stretch, so the window is
 * a few system calls long (logrotate's `copytruncate` has the same window, and says so). A line that straddles
 * the cut is split between `.log.1` and the live file. Both are acceptable for container logs: nothing is
 * acknowledged to the writer, and the alternative (the writer reopening the file) is not something the shim offers.
 *
 * Removal and rotation take turns (one at a time per instance), so a rotation never re-creates a file inside a
 * directory that is being removed.
 */
import type { Dirent } from 'node:fs';
import { constants as fsConstants, ftruncateSync, readSync, writeSync } from 'node:fs';
import { lstat, open, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoOf } from '../cgroups/errors.js';
import { toKukeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { nameProblem } from '../../model/names.js';
import type { CellLogRef, ContainerLogs, LogRotationPolicy, LogRotationReport } from '../ports.js';
import { CELL_DIR_DEPTH, cellLogDir, rotatedLogFile } from './paths.js';
import { planRotation, type RotationStep } from './rotation.js';

const LIVE = /^(.+)\.log$/;
const ROTATED = /^(.+\.log)\.([1-9][0-9]{0,5})$/;
/** The copy being written; renamed to `.log.1` once complete, removed if a crash left it. */
const PARTIAL_SUFFIX = '.rotating';
const COPY_CHUNK = 1 << 20;
// Never through a symlink: a link planted in place of a log would have the rotation truncate or overwrite its target.
/** The live file, read and truncated (never written: no O_APPEND needed). */
const OPEN_LIVE = fsConstants.O_RDWR | fsConstants.O_NOFOLLOW;
/** The copy, created or emptied. */
const OPEN_COPY = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW;
/** Chunks read after the bulk of the copy, right before the truncate (bounds the synchronous stretch to 8 MiB). */
const TAIL_CHUNKS = 8;

/** Options of {@link FileLogs}. */
export interface FileLogsOptions {
  logger?: Logger;
}

/** {@link ContainerLogs} over the directory `root` (`<run path>/logs`). */
export class FileLogs implements ContainerLogs {
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    /** The logs root; required, fixed. */
    readonly root: string,
    private readonly options: FileLogsOptions = {},
  ) {}

  async removeCell(cell: CellLogRef): Promise<void> {
    const dir = cellLogDir(this.root, cell);
    await this.exclusive(async () => {
      try {
        // Another cell's directory (or logs kept with --keep-logs) keeps the stack, space and realm directories.
        await removeCellDir(this.root, dir);
      } catch (err) {
        throw toKukeError(err, `removing the logs of cell "${cell.cell}" (${dir})`);
      }
    });
  }

  rotate(policy: LogRotationPolicy): Promise<LogRotationReport> {
    return this.exclusive(async () => {
      const report: LogRotationReport = { rotated: [], removed: [] };
      for (const dir of await cellDirs(this.root)) {
        for (const file of await logFiles(dir)) {
          try {
            await this.rotateOne(file, policy, report);
          } catch (err) {
            // A cell deleted meanwhile takes its files with it; anything else is worth a line, not a stop.
            if (errnoOf(err) !== 'ENOENT') this.options.logger?.warn({ err, file: file.live }, 'could not rotate a container log');
          }
        }
      }
      return report;
    });
  }

  private async rotateOne(file: LogFiles, policy: LogRotationPolicy, report: LogRotationReport): Promise<void> {
    // A partial copy is left only by a crash in the middle of a pass (or planted): never reused, never followed.
    await rm(file.live + PARTIAL_SUFFIX, { force: true });
    const size = (await lstat(file.live)).size;
    for (const step of planRotation(size, file.rotated, policy)) {
      await this.apply(file.live, step, report);
    }
  }

  private async apply(live: string, step: RotationStep, report: LogRotationReport): Promise<void> {
    switch (step.op) {
      case 'remove':
      case 'rename':
        return applyCopyStep(live, step, report);
      case 'copyTruncate':
        try {
          await copyThenTruncate(live, live + PARTIAL_SUFFIX, step.skip);
        } catch (err) {
          // A full disk fails the copy: give its space back at once, and leave the live file whole for the next pass.
          await rm(live + PARTIAL_SUFFIX, { force: true });
          throw err;
        }
        await rename(live + PARTIAL_SUFFIX, rotatedLogFile(live, 1));
        report.rotated.push(live);
        return;
      case 'truncate': {
        const handle = await open(live, OPEN_LIVE);
        try {
          await handle.truncate(0);
        } finally {
          await handle.close();
        }
        report.rotated.push(live);
        return;
      }
    }
  }

  /** Runs `fn` after every earlier call of this instance has finished. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn, fn);
    this.turn = run.catch(() => undefined);
    return run;
  }
}

/** Carries out a step of a rotation plan on the rotated copies of `live` (the steps that leave the live file alone). */
export async function applyCopyStep(live: string, step: Extract<RotationStep, { op: 'remove' | 'rename' }>, report: LogRotationReport): Promise<void> {
  if (step.op === 'rename') return rename(rotatedLogFile(live, step.from), rotatedLogFile(live, step.to));
  await rm(rotatedLogFile(live, step.index), { force: true });
  report.removed.push(rotatedLogFile(live, step.index));
}

/** A container's live log and its rotated copies' indices. */
interface LogFiles {
  live: string;
  rotated: number[];
}

/** Removes a cell's directory under `root`, then the stack, space and realm directories it leaves empty. */
export async function removeCellDir(root: string, dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  for (let parent = dirname(dir); parent.length > root.length; parent = dirname(parent)) {
    if (!(await removeIfEmpty(parent))) break;
  }
}

/** rmdir that reports whether the directory is gone (true) or still holds something (false). */
async function removeIfEmpty(dir: string): Promise<boolean> {
  try {
    await rmdir(dir);
    return true;
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT') return true;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw err;
  }
}

/** The entries of a directory; none when it does not exist (its cell was deleted meanwhile). */
async function entriesOf(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Directories (not symlinks) with valid names, `depth` levels below `root`: the cells' directories (of logs, or of
 * any per-cell tree with the same layout).
 */
export async function cellDirs(root: string, depth = CELL_DIR_DEPTH): Promise<string[]> {
  const entries = await entriesOf(root);
  const dirs = entries.filter((e) => e.isDirectory() && nameProblem(e.name) === undefined).map((e) => join(root, e.name));
  if (depth === 1) return dirs;
  const below = await Promise.all(dirs.map((d) => cellDirs(d, depth - 1)));
  return below.flat();
}

/** The containers' logs in a cell's directory (regular files only). */
async function logFiles(dir: string): Promise<LogFiles[]> {
  const entries = await entriesOf(dir);
  const files = new Map<string, LogFiles>();
  const of = (name: string) => {
    const live = join(dir, name);
    let f = files.get(live);
    if (!f) files.set(live, (f = { live, rotated: [] }));
    return f;
  };
  const names = entries.filter((e) => e.isFile()).map((e) => e.name);
  for (const name of names) {
    if (LIVE.test(name)) of(name);
  }
  for (const name of names) {
    const rotated = ROTATED.exec(name);
    if (rotated && files.has(join(dir, rotated[1]!))) of(rotated[1]!).rotated.push(Number(rotated[2]));
  }
  return [...files.values()];
}

/**
 * Copies `live` from byte `skip` to its end into `copy` (created, 0640), then truncates `live` to zero. The bytes
 * present at the start are read asynchronously; what was appended since is read, and the file truncated, without
 * yielding, so the lost window (see the header) is as short as a few system calls. That last stretch reads at most
 * {@link TAIL_CHUNKS} chunks, so a writer faster than the copy cannot keep it going: past that, the rest is cut.
 */
async function copyThenTruncate(live: string, copy: string, skip: number): Promise<void> {
  const src = await open(live, OPEN_LIVE);
  try {
    const dst = await open(copy, OPEN_COPY, 0o600);
    try {
      const buffer = Buffer.allocUnsafe(COPY_CHUNK);
      const end = (await src.stat()).size;
      let position = skip;
      while (position < end) {
        const { bytesRead } = await src.read(buffer, 0, Math.min(buffer.length, end - position), position);
        if (bytesRead === 0) break;
        // A write can be short (the disk filled up): go on until every byte is written, or the write fails.
        for (let done = 0; done < bytesRead; ) done += (await dst.write(buffer, done, bytesRead - done)).bytesWritten;
        position += bytesRead;
      }
      for (let chunk = 0; chunk < TAIL_CHUNKS; chunk++) {
        const bytesRead = readSync(src.fd, buffer, 0, buffer.length, position);
        if (bytesRead === 0) break;
        for (let done = 0; done < bytesRead; ) done += writeSync(dst.fd, buffer, done, bytesRead - done);
        position += bytesRead;
      }
      ftruncateSync(src.fd, 0);
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}
