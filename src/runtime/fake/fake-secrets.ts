/**
 * An in-memory {@link SecretStore} for the fake runtime: the same digests as the file store (under a fixed key), the
 * same NotFound and DataLoss, and the files a start installs recorded per pid.
 */
import { ErrorKind, KukeError } from '../../errors.js';
import type { SecretData, SecretFile, SecretRef, SecretStore } from '../ports.js';
import { secretDigest } from '../secrets/store.js';

const KEY = Buffer.alloc(32, 7);

function refKey(ref: SecretRef): string {
  return `${ref.realm}/${ref.space}/${ref.name}`;
}

/** The fake store. `versions` and `installed` are open for tests to inspect and to damage. */
export class FakeSecretStore implements SecretStore {
  /** `<realm>/<space>/<name>` → digest → data. */
  readonly versions = new Map<string, Map<string, SecretData>>();
  /** pid → files installed in that task, with the directory they went to. */
  readonly installed = new Map<number, { dir: string; files: SecretFile[] }>();

  async digest(data: SecretData): Promise<string> {
    return secretDigest(KEY, data);
  }

  async put(ref: SecretRef, data: SecretData): Promise<string> {
    const digest = secretDigest(KEY, data);
    const versions = this.versions.get(refKey(ref)) ?? new Map<string, SecretData>();
    versions.set(digest, { ...data });
    this.versions.set(refKey(ref), versions);
    return digest;
  }

  async get(ref: SecretRef, digest: string): Promise<SecretData> {
    const data = this.versions.get(refKey(ref))?.get(digest);
    if (!data) throw new KukeError(ErrorKind.NotFound, `the secret store has no data for secret "${ref.name}"`);
    if (secretDigest(KEY, data) !== digest) throw new KukeError(ErrorKind.DataLoss, `the stored data of secret "${ref.name}" does not match its digest`);
    return data;
  }

  async prune(ref: SecretRef, keep?: string): Promise<void> {
    const versions = this.versions.get(refKey(ref));
    if (!versions) return;
    for (const digest of [...versions.keys()]) if (digest !== keep) versions.delete(digest);
    if (versions.size === 0) this.versions.delete(refKey(ref));
  }

  async list(): Promise<SecretRef[]> {
    return [...this.versions.keys()].map((k) => {
      const [realm, space, name] = k.split('/') as [string, string, string];
      return { realm, space, name };
    });
  }

  async install(pid: number, dir: string, files: SecretFile[]): Promise<void> {
    this.installed.set(pid, { dir, files });
  }
}
