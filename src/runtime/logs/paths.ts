/**
 * Where container logs live under the run path, built from validated names only:
 *
 *   <run path>/logs/
 *   ├── kukeond.log                        the daemon's own log (not a container's: rotated by own-log.ts)
 *   └── <realm>/<space>/<stack>/<cell>/    one directory per cell
 *       ├── <container>.log                the live file the shim appends to (O_APPEND)
 *       ├── <container>.log.1              the newest rotated copy
 *       └── <container>.log.<n>            older copies, up to max-file - 1 of them
 *
 * A cell's directory is exactly four levels below the logs root. Removing one must never reach another cell's
 * files, so every path is checked twice: each segment is a DNS-1123 name, and the joined path is re-derived and
 * compared with the root.
 */
import { join, relative, sep } from 'node:path';
import { ErrorKind, KukeError } from '../../errors.js';
import { nameProblem, validateName } from '../../model/names.js';
import type { CellLogRef } from '../ports.js';

/** How many directory levels a cell's log directory sits below the logs root. */
export const CELL_DIR_DEPTH = 4;

/**
 * The log directory of a cell. Throws InvalidArgument for any name that is not a DNS-1123 label, and Internal
 * if the result is not exactly four levels under `root` (which validated names make impossible).
 *
 * @example
 * cellLogDir('/opt/kukeon/logs', { realm: 'default', space: 'default', stack: 'default', cell: 'web' })
 * // '/opt/kukeon/logs/default/default/default/web'
 */
export function cellLogDir(root: string, ref: CellLogRef): string {
  return cellDirUnder(root, ref, 'log directory');
}

/**
 * The directory of a cell exactly four levels under `root` (`<root>/<realm>/<space>/<stack>/<cell>`), for every
 * per-cell tree under the run path (logs, the cell's /etc files). `what` names the tree in errors.
 */
export function cellDirUnder(root: string, ref: CellLogRef, what: string): string {
  validateName('realm', ref.realm);
  validateName('space', ref.space);
  validateName('stack', ref.stack);
  validateName('cell', ref.cell);
  const dir = join(root, ref.realm, ref.space, ref.stack, ref.cell);
  const parts = relative(root, dir).split(sep);
  if (parts.length !== CELL_DIR_DEPTH || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new KukeError(ErrorKind.Internal, `${what} ${dir} is not a cell's directory under ${root}`);
  }
  return dir;
}

/**
 * The live log file of a container: `<cell dir>/<name>.log`. `name` is the user-visible name: a DNS-1123 label,
 * or `<cell>_root` for the cell's root container.
 */
export function containerLogFile(root: string, ref: CellLogRef, name: string): string {
  const plain = name.endsWith('_root') ? name.slice(0, -'_root'.length) : name;
  if (nameProblem(plain) !== undefined) validateName('container', name);
  return join(cellLogDir(root, ref), `${name}.log`);
}

/** The rotated copy number `index` (1 = newest) of a live log file. */
export function rotatedLogFile(live: string, index: number): string {
  return `${live}.${index}`;
}
