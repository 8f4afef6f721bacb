/**
 * Where a cell's `/etc` files live under the run path (the layout is drawn in files.ts). Pure: the spec builder uses
 * it to name the sources of the bind mounts.
 */
import { join } from 'node:path';
import { cellDirUnder } from '../logs/paths.js';
import type { CellEtcFiles, CellLogRef } from '../ports.js';

/** The files of a cell, by their name in the cell's directory. */
export const CELL_ETC_FILES = ['hosts', 'hostname', 'resolv.conf', 'host.hosts', 'host.resolv.conf'] as const satisfies readonly (keyof CellEtcFiles)[];

/** Where each file is mounted in a container on the cell's network. */
export const CELL_NETWORK_MOUNTS: Readonly<Partial<Record<keyof CellEtcFiles, string>>> = {
  hosts: '/etc/hosts',
  hostname: '/etc/hostname',
  'resolv.conf': '/etc/resolv.conf',
};

/** Where each file is mounted in a container on the host's network (which keeps the host's hostname). */
export const HOST_NETWORK_MOUNTS: Readonly<Partial<Record<keyof CellEtcFiles, string>>> = {
  'host.hosts': '/etc/hosts',
  'host.resolv.conf': '/etc/resolv.conf',
};

/**
 * One of a cell's `/etc` files under `root` (`<run path>/etc`). InvalidArgument for a name that is not a DNS-1123
 * label.
 *
 * @example
 * cellEtcFile('/opt/kukeon/etc', { realm: 'default', space: 'default', stack: 'default', cell: 'web' }, 'hosts')
 * // '/opt/kukeon/etc/default/default/default/web/hosts'
 */
export function cellEtcFile(root: string, cell: CellLogRef, file: keyof CellEtcFiles): string {
  return join(cellDirUnder(root, cell, 'cell files directory'), file);
}

