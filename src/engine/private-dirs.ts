/**
 * The run path's directories that only root may read (issue 11 item 4): the event log, the read model, the
 * container and daemon logs, and the secret store. Each is 0700 and everything in it 0600 (directories 0700), so a
 * member of `kukeon-view` reads through the daemon, which decides what it may see, never through the files.
 *
 * Writers create with those modes where they can (the read model, the daemon's log); what others create (LevelDB's
 * files, the shims' container logs) lands inside a 0700 directory, which is what keeps it private, and is tightened
 * at the next daemon start, which also fixes installs made before these modes.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The private directories under a run path. `events` is made (0700) by the log that creates it, and `secrets` by the
 * secret store: a directory there says that they exist, so they are only tightened here.
 */
export const PRIVATE_DIRS = ['events', 'model', 'logs', 'secrets'] as const;

/** Makes `dir` (and missing parents) a 0700 directory; tightens it if it exists. For writers of a private directory. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Takes group and other bits off everything under `path`; returns how many entries it changed. */
function tighten(path: string): number {
  let changed = 0;
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return 0;
  }
  if (stat.isSymbolicLink()) return 0;
  if ((stat.mode & 0o077) !== 0) {
    chmodSync(path, stat.isDirectory() ? 0o700 : stat.mode & 0o700);
    changed++;
  }
  if (stat.isDirectory()) for (const name of readdirSync(path)) changed += tighten(join(path, name));
  return changed;
}

/**
 * Makes the run path's private directories 0700 (`model` and `logs` are made when missing) and takes group and other
 * access off everything in them. Returns how many entries it changed.
 */
export function ensurePrivateDirs(runPath: string): number {
  let changed = 0;
  for (const name of PRIVATE_DIRS) {
    const dir = join(runPath, name);
    if (name === 'model' || name === 'logs') mkdirSync(dir, { recursive: true, mode: 0o700 });
    changed += tighten(dir);
  }
  return changed;
}
