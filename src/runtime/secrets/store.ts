/**
 * The secret store: secrets' values, root-only, beside the event log (which records only their keys and digest).
 *
 *   <run path>/secrets/                        0700
 *   ├── digest.key                             0600  32 random bytes: the HMAC key of every digest
 *   └── <realm>/<space>/<secret>/              0700
 *       └── <64 hex>.json                      0600  one version of the data: {"v":1,"data":{"<key>":"<base64>"}}
 *
 * A version is named by its digest, so the event that names a digest always reads the data it was appended for: the
 * data is written first (temp file, fsync, rename, fsync of the directory), then the event is appended, then older
 * versions are pruned. A crash between two steps leaves a version no event names, which reconcile prunes.
 *
 * Digests are HMAC-SHA256 under `digest.key`, not a plain hash: `kuke history` shows them to every reader of the
 * log (group kukeon-view included), and a plain hash of a short password can be tested against guesses offline.
 * Losing the key (or the whole directory) makes every stored secret fail its check: reconcile marks them Failed and
 * re-applying each one heals it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, chown, link, mkdir, open, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorKind, KukeError, toKukeError } from '../../errors.js';
import type { SecretData, SecretFile, SecretRef, SecretStore } from '../ports.js';

const DIGEST_PREFIX = 'hmac-sha256:';
const KEY_FILE = 'digest.key';
const KEY_BYTES = 32;

/**
 * The digest of a secret's data under `key`: HMAC-SHA256 over every key and value, sorted by key, each
 * length-prefixed (so no two different data sets encode alike).
 *
 * @example
 * secretDigest(key, { password: Buffer.from('s3cret') }) // 'hmac-sha256:4f…'
 */
export function secretDigest(key: Buffer, data: SecretData): string {
  const mac = createHmac('sha256', key);
  const length = Buffer.alloc(4);
  for (const name of Object.keys(data).sort()) {
    for (const part of [Buffer.from(name, 'utf8'), data[name]!]) {
      length.writeUInt32BE(part.length);
      mac.update(length);
      mac.update(part);
    }
  }
  return `${DIGEST_PREFIX}${mac.digest('hex')}`;
}

function hexOf(digest: string): string {
  if (!/^hmac-sha256:[0-9a-f]{64}$/.test(digest)) throw new KukeError(ErrorKind.InvalidArgument, `malformed secret digest ${JSON.stringify(digest)}`);
  return digest.slice(DIGEST_PREFIX.length);
}

/** Writes `bytes` to `path` atomically and durably: a 0600 temp file beside it, fsync, rename, fsync of the directory. */
async function writeDurably(path: string, bytes: Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const file = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
  try {
    await file.writeFile(bytes);
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await file.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dir = await open(dirname(path), fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** {@link SecretStore} over the directory `root` (`<run path>/secrets`), which it keeps 0700. */
export class FileSecretStore implements SecretStore {
  private key: Promise<Buffer> | undefined;

  constructor(
    /** The store's root; required, fixed. */
    readonly root: string,
  ) {}

  async digest(data: SecretData): Promise<string> {
    return secretDigest(await this.digestKey(), data);
  }

  async put(ref: SecretRef, data: SecretData): Promise<string> {
    const digest = await this.digest(data);
    const dir = this.dirOf(ref);
    try {
      await this.ensureDir(dir);
      const encoded = Object.fromEntries(Object.keys(data).sort().map((k) => [k, data[k]!.toString('base64')]));
      await writeDurably(join(dir, `${hexOf(digest)}.json`), Buffer.from(JSON.stringify({ v: 1, data: encoded })));
    } catch (err) {
      throw toKukeError(err, `storing secret "${ref.name}" (${dir})`);
    }
    return digest;
  }

  async get(ref: SecretRef, digest: string): Promise<SecretData> {
    const path = join(this.dirOf(ref), `${hexOf(digest)}.json`);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new KukeError(ErrorKind.NotFound, `the secret store has no data for secret "${ref.name}" (${path} is missing)`, {
          hint: `create it again: kuke apply -f <file>, or kuke delete secret ${ref.name} and kuke create secret`,
        });
      }
      throw toKukeError(err, `reading secret "${ref.name}"`);
    }
    let data: SecretData;
    try {
      const parsed = JSON.parse(text) as { v?: unknown; data?: Record<string, unknown> };
      if (parsed.v !== 1 || typeof parsed.data !== 'object' || parsed.data === null) throw new Error('not a version 1 document');
      data = Object.fromEntries(Object.entries(parsed.data).map(([k, v]) => [k, Buffer.from(String(v), 'base64')]));
    } catch {
      throw damaged(ref, path);
    }
    const actual = Buffer.from(hexOf(await this.digest(data)), 'hex');
    if (!timingSafeEqual(actual, Buffer.from(hexOf(digest), 'hex'))) throw damaged(ref, path);
    return data;
  }

  async prune(ref: SecretRef, keep?: string): Promise<void> {
    const dir = this.dirOf(ref);
    const kept = keep === undefined ? undefined : `${hexOf(keep)}.json`;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw toKukeError(err, `pruning secret "${ref.name}"`);
    }
    for (const name of names) if (name !== kept) await rm(join(dir, name), { force: true });
    if (kept === undefined) {
      // The space's and realm's directories go with their last secret.
      for (const d of [dir, dirname(dir), dirname(dirname(dir))]) {
        if (!(await rmdir(d).then(() => true, () => false))) break;
      }
    }
  }

  async list(): Promise<SecretRef[]> {
    const out: SecretRef[] = [];
    const dirs = async (path: string) => (await readdir(path, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => e.name);
    for (const realm of await dirs(this.root)) {
      for (const space of await dirs(join(this.root, realm))) {
        for (const name of await dirs(join(this.root, realm, space))) out.push({ realm, space, name });
      }
    }
    return out;
  }

  async install(pid: number, dir: string, files: SecretFile[]): Promise<void> {
    const root = `/proc/${pid}/root`;
    try {
      const { uid, gid } = await ownerOf(pid);
      for (const f of files) {
        if (f.path.split('/').some((p) => p === '' || p === '.' || p === '..')) throw new KukeError(ErrorKind.InvalidArgument, `bad secret file path ${JSON.stringify(f.path)}`);
        const path = join(root, dir, f.path);
        await mkdir(dirname(path), { recursive: true, mode: 0o755 });
        // O_NOFOLLOW|O_EXCL: the tmpfs is new and nothing in the container has run yet, but never write through a link.
        const file = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o400);
        try {
          await file.writeFile(f.data);
          await file.chown(uid, gid);
          await file.chmod(0o400);
        } finally {
          await file.close();
        }
      }
    } catch (err) {
      throw toKukeError(err, `placing secret files in the container (pid ${pid})`);
    }
  }

  private dirOf(ref: SecretRef): string {
    return join(this.root, ref.realm, ref.space, ref.name);
  }

  /** Makes `dir` and its parents up to the root, each 0700 (an existing root is tightened to 0700 and root-owned). */
  private async ensureDir(dir: string): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await chmod(this.root, 0o700);
    if (process.getuid?.() === 0) await chown(this.root, 0, 0);
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }

  private digestKey(): Promise<Buffer> {
    this.key ??= this.loadKey().catch((err: unknown) => {
      this.key = undefined;
      throw toKukeError(err, `the secret store's digest key (${join(this.root, KEY_FILE)})`);
    });
    return this.key;
  }

  private async loadKey(): Promise<Buffer> {
    const path = join(this.root, KEY_FILE);
    try {
      const key = await readFile(path);
      if (key.length !== KEY_BYTES) throw new KukeError(ErrorKind.DataLoss, `${path} is ${key.length} bytes, not ${KEY_BYTES}`, { hint: 'remove it (every secret must then be applied again)' });
      return key;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await this.ensureDir(this.root);
    const key = randomBytes(KEY_BYTES);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeDurably(tmp, key);
    try {
      // link, not rename: of two processes making a key at once, the first one's stays and the other reads it.
      await link(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await rm(tmp, { force: true });
    }
    return readFile(path);
  }
}

/** The real uid and gid of a process (`Uid:` and `Gid:` of /proc/<pid>/status). */
async function ownerOf(pid: number): Promise<{ uid: number; gid: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  const uid = field('Uid');
  const gid = field('Gid');
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new KukeError(ErrorKind.Internal, `no Uid/Gid in /proc/${pid}/status`);
  return { uid, gid };
}

function damaged(ref: SecretRef, path: string): KukeError {
  return new KukeError(ErrorKind.DataLoss, `the stored data of secret "${ref.name}" does not match the digest its events record (${path})`, {
    hint: `apply the secret again, or delete it: kuke delete secret ${ref.name}`,
  });
}
