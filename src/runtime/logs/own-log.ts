/**
 * Rotation of a log file whose writer is this process (kukeond's own `kukeond.log`), by the same policy as the
 * containers' logs (rotation.ts: `max-size`, `max-file` counting the live file). Unlike a shim's descriptor, this
 * writer can reopen its file, so the live file is renamed to `.1` and reopened instead of copied and truncated:
 * lines written between the rename and the reopen land in `.1`, none is lost, and no copy needs free space.
 */
import { lstat, readdir, rename, truncate } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { errnoOf } from '../cgroups/errors.js';
import type { LogRotationPolicy, LogRotationReport } from '../ports.js';
import { applyCopyStep } from './files.js';
import { rotatedLogFile } from './paths.js';
import { planRotation } from './rotation.js';

/**
 * Rotates `live` if it has reached `policy.maxBytes` (and removes copies beyond `policy.maxFiles` in any case).
 * `reopen` makes the writer open `live` again (it creates the file); it is called after the rename. A missing live
 * file is nothing to rotate.
 *
 * @example
 * const file = pino.destination({ dest: '/opt/kukeon/logs/kukeond.log' });
 * await rotateOwnLog('/opt/kukeon/logs/kukeond.log', { maxBytes: 10 << 20, maxFiles: 3 }, () => file.reopen());
 */
export async function rotateOwnLog(live: string, policy: LogRotationPolicy, reopen: () => void): Promise<LogRotationReport> {
  const report: LogRotationReport = { rotated: [], removed: [] };
  let size: number;
  try {
    size = (await lstat(live)).size;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return report;
    throw err;
  }
  const prefix = `${basename(live)}.`;
  const existing = (await readdir(dirname(live)))
    .filter((name) => name.startsWith(prefix) && /^[1-9][0-9]{0,5}$/.test(name.slice(prefix.length)))
    .map((name) => Number(name.slice(prefix.length)));
  for (const step of planRotation(size, existing, policy)) {
    switch (step.op) {
      case 'remove':
      case 'rename':
        await applyCopyStep(live, step, report);
        break;
      case 'copyTruncate':
        // The whole file moves (the plan's `skip` only bounds a copy's size): nothing is copied here.
        await rename(live, rotatedLogFile(live, 1));
        reopen();
        report.rotated.push(live);
        break;
      case 'truncate':
        // max-file 1 keeps no copy; the writer appends, so its next line lands at the new end.
        await truncate(live, 0);
        report.rotated.push(live);
        break;
    }
  }
  return report;
}
