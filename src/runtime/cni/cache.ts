/**
 * The attachment result cache, laid out as libcni lays it out so CNI tools can read it:
 * `<cacheDir>/results/<network>-<containerId>-<ifname>` holding `{kind: "cniCacheV1", containerId, config (the
 * conflist, base64), ifName, networkName, capabilityArgs (the published ports; absent when none), result}`. Two fields are kukeon's own (libcni ignores unknown fields):
 * `netns`, the path the result was made for, and `netnsId`, that namespace's identity (`<dev>:<inode>` of the nsfs
 * file), so a `/proc/<pid>/ns/net` whose pid now belongs to another process is never taken for the old one.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorKind, KukeError } from '../../errors.js';
import { CNI_NAME, MAX_CONTAINERD_ID_LENGTH } from '../../model/names.js';
import type { CapabilityArgs } from './conflist.js';

/** A CNI result, as far as kukeon reads it (the rest is kept as is for CHECK and DEL). */
export type CniResult = { ips?: { address: string; gateway?: string }[] } & Record<string, unknown>;

/** One cached attachment. */
export interface CachedAttachment {
  kind: 'cniCacheV1';
  containerId: string;
  /** The conflist the result was made with, base64 (libcni's field). */
  config: string;
  ifName: string;
  networkName: string;
  /** libcni's field: what the plugins with capabilities were given at ADD (port mappings), for CHECK and DEL. */
  capabilityArgs?: CapabilityArgs;
  result: CniResult;
  /** kukeon: the netns path of the ADD. */
  netns: string;
  /** kukeon: `<dev>:<inode>` of that netns at ADD time; empty if unknown. */
  netnsId: string;
}

/**
 * Throws InvalidArgument unless `id` is a CNI container id (CNI's rule) that fits in the cache entry's file name
 * (`<space>_<stack>_<cell>_root`, a containerd id, so at most 76 characters).
 */
export function checkContainerId(id: string): void {
  if (!CNI_NAME.test(id) || id.length > MAX_CONTAINERD_ID_LENGTH) throw new KukeError(ErrorKind.InvalidArgument, `invalid container id "${id}": CNI takes letters, digits, "_", "." and "-", at most ${MAX_CONTAINERD_ID_LENGTH} here`);
}

/** `<dev>:<inode>` of a network namespace file, or undefined if it does not exist (the process is gone). */
export function netnsIdentity(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Writes `text` to `path` atomically (a unique temp file, then rename), mode 0600. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The result cache under `<cacheDir>/results`. */
export class ResultCache {
  readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'results');
  }

  /** The file of one attachment (libcni's name). */
  path(network: string, containerId: string, ifname: string): string {
    checkContainerId(containerId);
    return join(this.dir, `${network}-${containerId}-${ifname}`);
  }

  /** The cached attachment, or undefined when there is none or it is unreadable (then it is as good as absent). */
  read(network: string, containerId: string, ifname: string): CachedAttachment | undefined {
    const path = this.path(network, containerId, ifname);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const entry = JSON.parse(text) as Partial<CachedAttachment>;
      if (entry.containerId !== containerId || typeof entry.result !== 'object' || entry.result === null) return undefined;
      return { kind: 'cniCacheV1', config: '', ifName: ifname, networkName: network, netns: '', netnsId: '', ...entry } as CachedAttachment;
    } catch {
      return undefined;
    }
  }

  write(entry: CachedAttachment): void {
    writeFileAtomic(this.path(entry.networkName, entry.containerId, entry.ifName), JSON.stringify(entry));
  }

  remove(network: string, containerId: string, ifname: string): void {
    rmSync(this.path(network, containerId, ifname), { force: true });
  }

  /** Every cached attachment (any network), read back; unreadable files are skipped. */
  list(): CachedAttachment[] {
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: CachedAttachment[] = [];
    for (const file of files) {
      if (file.endsWith('.tmp')) continue;
      try {
        const entry = JSON.parse(readFileSync(join(this.dir, file), 'utf8')) as Partial<CachedAttachment>;
        if (typeof entry.networkName === 'string' && typeof entry.containerId === 'string' && typeof entry.ifName === 'string' && entry.result) {
          if (file === `${entry.networkName}-${entry.containerId}-${entry.ifName}`) out.push(entry as CachedAttachment);
        }
      } catch {
        // a half-written or foreign file: not an attachment
      }
    }
    return out;
  }
}
