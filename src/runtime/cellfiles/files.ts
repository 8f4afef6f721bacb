/**
 * The cells' `/etc` files on the host's filesystem:
 *
 *   <run path>/etc/
 *   └── <realm>/<space>/<stack>/<cell>/    one directory per cell (the same four levels as the logs)
 *       ├── hosts                          bind-mounted read-only at /etc/hosts (containers on the cell's network)
 *       ├── hostname                       … at /etc/hostname
 *       ├── resolv.conf                    … at /etc/resolv.conf
 *       ├── host.hosts                     the host's, at /etc/hosts (containers on the host's network)
 *       └── host.resolv.conf               the host's, at /etc/resolv.conf
 *
 * runc bind-mounts each file by its inode when a container starts, so a file is never replaced: it is rewritten in
 * place (new bytes from offset 0, then cut to their length), through O_NOFOLLOW so that a link planted in the
 * directory is never written through. The run path is shared with kukeond's own container (bound at the same path),
 * so what the daemon writes here is what runc on the host mounts.
 *
 * Writes and removals take turns (one at a time per instance), so a write never re-creates a file inside a directory
 * that is being removed.
 */
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { toKukeError } from '../../errors.js';
import { cellDirs, removeCellDir } from '../logs/files.js';
import { cellDirUnder } from '../logs/paths.js';
import { CELL_ETC_FILES } from './paths.js';
import type { CellEtcFiles, CellFiles, CellLogRef, HostResolverFiles } from '../ports.js';

/** Opened for a rewrite in place: created if missing, never truncated before the new bytes are there. */
const OPEN_REWRITE = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW;

/** Where the host's resolver files are read. */
export interface HostResolverPaths {
  /** Default `/etc/hosts`. */
  hosts: string;
  /** Default `/etc/resolv.conf`. */
  resolvConf: string;
  /** Default `/run/systemd/resolve/resolv.conf`. */
  systemdResolvConf: string;
  /**
   * Tried first, before each path: the root of the host's init. kukeond runs in a container of its own with the
   * host's PID namespace, where `/proc/1/root` is the host's filesystem (its own /etc is the image's); on the host
   * it is `/` itself. Unreadable (where the host's init holds capabilities the caller lacks, ptrace rules refuse
   * it) → the plain path, which the daemon's cell binds from the host (src/daemon/cell-template.ts).
   */
  hostRoot: string;
}

/** Options of {@link HostCellFiles}. */
export interface HostCellFilesOptions {
  resolver?: Partial<HostResolverPaths>;
}

/** {@link CellFiles} over the directory `root` (`<run path>/etc`). */
export class HostCellFiles implements CellFiles {
  private turn: Promise<unknown> = Promise.resolve();
  private readonly resolver: HostResolverPaths;

  constructor(
    /** The cell files' root; required, fixed. */
    readonly root: string,
    options: HostCellFilesOptions = {},
  ) {
    this.resolver = { hosts: '/etc/hosts', resolvConf: '/etc/resolv.conf', systemdResolvConf: '/run/systemd/resolve/resolv.conf', hostRoot: '/proc/1/root', ...options.resolver };
  }

  async write(cell: CellLogRef, files: Partial<CellEtcFiles>): Promise<void> {
    const dir = cellDirUnder(this.root, cell, 'cell files directory');
    return this.exclusive(async () => {
      try {
        await mkdir(dir, { recursive: true, mode: 0o755 });
        for (const name of CELL_ETC_FILES) {
          const content = files[name];
          if (content !== undefined) await rewriteInPlace(join(dir, name), content);
        }
      } catch (err) {
        throw toKukeError(err, `writing the /etc files of cell "${cell.cell}" (${dir})`);
      }
    });
  }

  async removeCell(cell: CellLogRef): Promise<void> {
    const dir = cellDirUnder(this.root, cell, 'cell files directory');
    return this.exclusive(async () => {
      try {
        await removeCellDir(this.root, dir);
      } catch (err) {
        throw toKukeError(err, `removing the /etc files of cell "${cell.cell}" (${dir})`);
      }
    });
  }

  async listCells(): Promise<CellLogRef[]> {
    return (await cellDirs(this.root)).map((dir) => {
      const [realm, space, stack, cell] = relative(this.root, dir).split(sep) as [string, string, string, string];
      return { realm, space, stack, cell };
    });
  }

  async hostResolverFiles(): Promise<HostResolverFiles> {
    const out: HostResolverFiles = {};
    for (const key of ['hosts', 'resolvConf', 'systemdResolvConf'] as const) {
      const content = await this.readHostFile(this.resolver[key]);
      if (content !== undefined) out[key] = content;
    }
    return out;
  }

  private async readHostFile(path: string): Promise<string | undefined> {
    for (const candidate of [join(this.resolver.hostRoot, path), path]) {
      try {
        return await readFile(candidate, 'utf8');
      } catch {
        // Missing, unreadable, or a link that only resolves from another root: try the next place.
      }
    }
    return undefined;
  }

  private exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = this.turn.then(job, job);
    this.turn = run.catch(() => undefined);
    return run;
  }
}

/** Writes `content` over the file's bytes from offset 0, then cuts the file to its length: the inode stays. */
async function rewriteInPlace(path: string, content: string): Promise<void> {
  const bytes = Buffer.from(content, 'utf8');
  const handle = await open(path, OPEN_REWRITE, 0o644);
  try {
    await handle.write(bytes, 0, bytes.length, 0);
    await handle.truncate(bytes.length);
    // Readable by any user in the container, whatever the umask of the writer.
    await handle.chmod(0o644);
  } finally {
    await handle.close();
  }
}
