/**
 * A container's user resolved in its image's own /etc/passwd and /etc/group, by containerd's rules (pkg/oci
 * spec_opts.go `WithUser`, `WithUserID`, `WithUsername`, `WithAdditionalGIDs`):
 * - `uid` alone: the gid of its passwd entry, or 0 when there is none (not an error);
 * - `name` alone: its passwd entry's uid and gid; no such entry is an error;
 * - `user:group`: each part numeric as is, or looked up by name (an unknown name is an error);
 * - supplementary groups: for a user given without a group, the groups of /etc/group that list its name;
 * - `additionalGids` starts with the primary gid (containerd's ensureAdditionalGids).
 * Empty, `root` and numeric `uid:gid` are resolved without the files (./oci-spec.ts `processUser`), which spares
 * reading the image's layers for the common case; the supplementary groups of root are then not looked up.
 *
 * The files are read from the image's layer blobs through the content API (not from a mounted snapshot: the daemon
 * runs in a container that does not see containerd's root), top layer first, honouring whiteouts.
 */
import { gunzipSync } from 'node:zlib';
import { ErrorKind, KukeError } from '../../errors.js';
import { MAX_ID } from '../../model/security.js';
import type { Connection } from './connection.js';
import { readBlob } from './content.js';
import type { ProcessUser } from './oci-spec.js';
import { listTarBuffer, type TarMember } from './tar.js';

/** The user database of an image; a file the image lacks is undefined. */
export interface UserFiles {
  passwd?: string;
  group?: string;
}

/** An entry of /etc/passwd. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

/** An entry of /etc/group. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** A non-negative id, or undefined (libcontainer skips entries it cannot parse). */
function id(text: string | undefined): number | undefined {
  return text !== undefined && /^\d+$/.test(text) && Number(text) <= MAX_ID ? Number(text) : undefined;
}

/** The entries of a passwd file: `name:password:uid:gid:gecos:home:shell`, comments and bad lines skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  return lines(text).flatMap((f) => {
    const uid = id(f[2]);
    const gid = id(f[3]);
    return f[0] && uid !== undefined && gid !== undefined ? [{ name: f[0], uid, gid }] : [];
  });
}

/** The entries of a group file: `name:password:gid:member,member`. */
export function parseGroup(text: string): GroupEntry[] {
  return lines(text).flatMap((f) => {
    const gid = id(f[2]);
    return f[0] && gid !== undefined ? [{ name: f[0], gid, members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) }] : [];
  });
}

function lines(text: string): string[][] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

/** Whether {@link resolveUser} needs the image's files for `user` (else ./oci-spec.ts `processUser` answers). */
export function needsUserFiles(user: string): boolean {
  const value = user.trim();
  return !(value === '' || value === 'root' || value === 'root:root' || /^\d+:\d+$/.test(value));
}

/**
 * Resolves `user` in the image's files. InvalidArgument naming the user and the image when a name is not there.
 *
 * @example
 * resolveUser('www-data', { passwd: 'www-data:x:33:33::/var/www:/bin/false\n' }, 'nginx:1'); // { uid: 33, gid: 33, additionalGids: [33] }
 */
export function resolveUser(user: string, files: UserFiles, image: string): ProcessUser {
  const users = parsePasswd(files.passwd ?? '');
  const groups = parseGroup(files.group ?? '');
  const missing = (what: string, name: string, file: string) =>
    new KukeError(ErrorKind.InvalidArgument, `${what} ${JSON.stringify(name)} is not in the /etc/${file} of image ${image}`, {
      hint: `use a numeric uid[:gid], or a ${what} that the image defines`,
    });
  const parts = user.trim().split(':');
  const [userPart, groupPart] = [parts[0]!, parts[1]];
  const numericUid = id(userPart);
  const entry = numericUid !== undefined ? users.find((u) => u.uid === numericUid) : users.find((u) => u.name === userPart);
  if (numericUid === undefined && !entry) throw missing('user', userPart, 'passwd');
  const uid = numericUid ?? entry!.uid;
  let gid: number;
  let supplementary: number[] = [];
  if (groupPart === undefined) {
    gid = entry?.gid ?? 0;
    // Only the groups that list the user by name, not its own group of the same name (containerd's filter).
    if (entry) supplementary = groups.filter((g) => g.name !== entry.name && g.members.includes(entry.name)).map((g) => g.gid);
  } else {
    const numericGid = id(groupPart);
    const group = numericGid === undefined ? groups.find((g) => g.name === groupPart) : undefined;
    if (numericGid === undefined && !group) throw missing('group', groupPart, 'group');
    gid = numericGid ?? group!.gid;
  }
  return { uid, gid, additionalGids: [gid, ...supplementary.filter((g) => g !== gid)] };
}

/** How many symlinks are followed to the user files before giving up (a loop). */
const MAX_LINKS = 16;

/** A layer of an image: its blob and how it is compressed. */
export interface LayerRef {
  digest: string;
  mediaType: string;
}

/** Reads /etc/passwd and /etc/group of an image from its layers (bottom first, as a manifest lists them). */
export async function readUserFiles(conn: Connection, namespace: string, layers: readonly LayerRef[]): Promise<UserFiles> {
  const listed: { tar: Buffer; members: Map<string, TarMember> }[] = [];
  // Top first: an upper layer's file, or its whiteout, hides the lower ones.
  for (const layer of [...layers].reverse()) {
    const blob = await readBlob(conn, namespace, layer.digest);
    if (/zstd/.test(layer.mediaType)) {
      throw new KukeError(ErrorKind.Unimplemented, `layer ${layer.digest} of an image in ${namespace} is zstd-compressed, which kukeon cannot read to resolve its user`, {
        hint: 'give the user as numeric uid:gid',
      });
    }
    const tar = /gzip/.test(layer.mediaType) ? gunzipSync(blob) : blob;
    listed.push({ tar, members: listTarBuffer(tar) });
  }
  const passwd = findFile(listed, 'etc/passwd');
  const group = findFile(listed, 'etc/group');
  return { ...(passwd !== undefined ? { passwd } : {}), ...(group !== undefined ? { group } : {}) };
}

/**
 * The content of `path` (relative, no leading /) in layers listed top first, or undefined. A whiteout of the file
 * or of a parent directory, or an opaque parent, in a layer that does not hold it ends the search; symlinks are
 * followed from the top again, hard links within their layer.
 */
export function findFile(layers: readonly { tar: Buffer; members: Map<string, TarMember> }[], path: string, depth = 0): string | undefined {
  if (depth > MAX_LINKS) return undefined;
  const parents = path.split('/').slice(0, -1).map((_, i, all) => all.slice(0, i + 1).join('/'));
  for (const { tar, members } of layers) {
    let m = members.get(path);
    if (m?.type === '1') m = members.get(m.linkname.replace(/^\.?\//, ''));
    if (m && (m.type === '0' || m.type === '7')) return tar.subarray(m.offset, m.offset + m.size).toString('utf8');
    if (m?.type === '2') {
      const target = m.linkname.startsWith('/') ? m.linkname.slice(1) : [...parents.slice(-1), m.linkname].join('/');
      return findFile(layers, normalize(target), depth + 1);
    }
    if (m) return undefined;
    const base = path.split('/').pop()!;
    const dir = parents.at(-1);
    const whiteout = (d: string | undefined, name: string) => members.has(d ? `${d}/.wh.${name}` : `.wh.${name}`);
    if (whiteout(dir, base) || parents.some((p) => members.has(`${p}/.wh..wh..opq`) || whiteout(p.split('/').slice(0, -1).join('/') || undefined, p.split('/').pop()!))) return undefined;
  }
  return undefined;
}

/** `a/./b/../c` → `a/c`, never above the root. */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}
