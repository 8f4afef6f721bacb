/**
 * A minimal ustar writer and reader: what an OCI image layout needs (regular files, directories, symlinks), no
 * more. Written to stream large files (the daemon image carries a 100 MB node binary) without holding them in
 * memory. Deterministic: fixed mtime, uid/gid 0, so the same inputs always give the same digest.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';

const BLOCK = 512;

/** One entry to write. */
export type TarEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'file'; path: string; mode?: number; data: Buffer }
  | { type: 'file'; path: string; mode?: number; fromFile: string };

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, size: number, mode: number, typeflag: string, linkname = ''): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 154);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar: path too long: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  h.write(base, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii');
  h.write(octal(0, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(0, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write(typeflag, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(octal(sum, 7) + ' ', 148, 8, 'ascii');
  return h;
}

/** Streams a tar to a file descriptor, hashing (sha256) and counting what it writes. */
export class TarWriter {
  private readonly hash: Hash = createHash('sha256');
  size = 0;

  constructor(private readonly fd: number) {}

  private write(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
    this.hash.update(buf);
    this.size += buf.length;
  }

  private pad(size: number): void {
    const rest = size % BLOCK;
    if (rest) this.write(Buffer.alloc(BLOCK - rest));
  }

  /** Appends an entry (file contents streamed from `fromFile` in 1 MiB chunks). */
  add(entry: TarEntry): void {
    const path = entry.path.replace(/^\/+/, '');
    switch (entry.type) {
      case 'dir':
        this.write(header(path.endsWith('/') ? path : `${path}/`, 0, entry.mode ?? 0o755, '5'));
        return;
      case 'symlink':
        this.write(header(path, 0, 0o777, '2', entry.target));
        return;
      case 'file': {
        if ('data' in entry) {
          this.write(header(path, entry.data.length, entry.mode ?? 0o644, '0'));
          this.write(entry.data);
          this.pad(entry.data.length);
          return;
        }
        const src = openSync(entry.fromFile, 'r');
        try {
          const size = fstatSync(src).size;
          this.write(header(path, size, entry.mode ?? 0o644, '0'));
          const chunk = Buffer.alloc(1 << 20);
          let left = size;
          while (left > 0) {
            const n = readSync(src, chunk, 0, Math.min(chunk.length, left), null);
            if (n === 0) throw new Error(`tar: ${entry.fromFile} shrank while being read`);
            this.write(chunk.subarray(0, n));
            left -= n;
          }
          this.pad(size);
        } finally {
          closeSync(src);
        }
      }
    }
  }

  /** Writes the end-of-archive blocks; returns `sha256:<hex>` and the size. */
  finish(): { digest: string; size: number } {
    this.write(Buffer.alloc(BLOCK * 2));
    return { digest: `sha256:${this.hash.digest('hex')}`, size: this.size };
  }
}

/** Where a member lives in a tar file. */
export interface TarMember {
  name: string;
  type: string;
  offset: number;
  size: number;
  /** Target of a symlink ('2') or hard link ('1'); empty for other types. */
  linkname: string;
}

/** Lists the members of a tar file (regular files and others) with their data offsets. */
export function listTar(path: string): Map<string, TarMember> {
  const fd = openSync(path, 'r');
  try {
    return listTarFrom(fstatSync(fd).size, (buf, pos) => void readSync(fd, buf, 0, buf.length, pos));
  } finally {
    closeSync(fd);
  }
}

/**
 * Lists the members of a tar of `total` bytes read through `read` (fills `buf` from offset `pos`): a file, or a layer
 * blob in memory ({@link listTarBuffer}). A later member of the same name replaces an earlier one, as extraction does.
 */
export function listTarFrom(total: number, read: (buf: Buffer, pos: number) => void): Map<string, TarMember> {
  const members = new Map<string, TarMember>();
  const h = Buffer.alloc(BLOCK);
  let pos = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  while (pos + BLOCK <= total) {
    read(h, pos);
    if (h.every((b) => b === 0)) break;
    const field = (start: number, len: number) => h.toString('utf8', start, start + len).replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const prefix = h.toString('ascii', 257, 262) === 'ustar' ? field(345, 155) : '';
    let name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const linkname = longLink ?? field(157, 100);
    longName = undefined;
    longLink = undefined;
    const offset = pos + BLOCK;
    const data = () => {
      const buf = Buffer.alloc(size);
      read(buf, offset);
      return buf.toString('utf8');
    };
    if (type === 'L') {
      // GNU long name: the next member's name is this member's data.
      longName = data().replace(/\0.*$/s, '');
    } else if (type === 'K') {
      longLink = data().replace(/\0.*$/s, '');
    } else if (type === 'x') {
      // PAX extended header: records "<len> <key>=<value>\n"; `path` names the next member, `linkpath` its target.
      const records = data();
      longName = paxRecord(records, 'path');
      longLink = paxRecord(records, 'linkpath');
    } else if (type === 'g') {
      // PAX global header: nothing we use.
    } else {
      name = name.replace(/^\.\//, '');
      members.set(name, { name, type, offset, size, linkname });
    }
    pos = offset + Math.ceil(size / BLOCK) * BLOCK;
  }
  return members;
}

/** {@link listTarFrom} over a tar held in memory. */
export function listTarBuffer(tar: Buffer): Map<string, TarMember> {
  return listTarFrom(tar.length, (buf, pos) => void tar.copy(buf, 0, pos, pos + buf.length));
}

/** A record (`path`, `linkpath`) of a PAX extended header, if any. */
function paxRecord(records: string, wanted: string): string | undefined {
  let rest = records;
  let path: string | undefined;
  while (rest.length > 0) {
    const space = rest.indexOf(' ');
    const length = Number(rest.slice(0, space));
    if (space <= 0 || !Number.isInteger(length) || length <= 0) break;
    const record = Buffer.from(rest).subarray(0, length).toString('utf8');
    const [key, ...value] = record.slice(space + 1, -1).split('=');
    if (key === wanted) path = value.join('=');
    rest = Buffer.from(rest).subarray(length).toString('utf8');
  }
  return path;
}

/** Reads `size` bytes at `offset` of a file. */
export function readRange(path: string, offset: number, size: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buf, done, size - done, offset + done);
      if (n === 0) throw new Error(`unexpected end of ${path}`);
      done += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}
