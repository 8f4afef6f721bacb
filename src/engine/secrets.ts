/**
 * Secrets (issue 11): what the API offers for the Secret kind, and what a container's start reads of them.
 *
 * A secret's values go to the root-only store (src/runtime/secrets/store.ts) before its command is appended, and the
 * command records only the keys and the store's digest (events/secret.ts), so the log, history, the read model and
 * the daemon's log never hold a value. A container names secrets of its own space (`secretEnv`, `secrets` in its
 * template); the values are read when it starts and go to containerd in its spec (the environment, as Docker
 * does) or as files on a tmpfs in the container, never into an event.
 */
import { randomUUID } from 'node:crypto';
import type { SecretContext } from '../../machines/secret.js';
import { isGone } from '../../machines/index.js';
import { SecretKeySchema } from '../../events/secret.js';
import type { CellTemplate, ContainerTemplate } from '../../events/specs.js';
import { ErrorKind, KukeError } from '../errors.js';
import { validateName } from '../model/names.js';
import type { SecretView } from '../model/resources.js';
import { describeKey, streamOf, type AggregateKey } from '../model/streams.js';
import { validateLabels } from '../model/template-check.js';
import type { ContainerSpec, MountSpec, SecretData, SecretFile, SecretRef, SecretStore } from '../runtime/ports.js';
import type { Aggregate, DispatchMeta, Engine } from './engine.js';
import type { OpOptions } from './operations.js';

/** Where a container finds its secrets' files: `/run/secrets/<secret>/<key>`, as Docker and Podman place them. */
export const SECRETS_DIR = '/run/secrets';
/** Largest total size of one secret's data, as Kubernetes allows (1 MiB). */
export const MAX_SECRET_BYTES = 1 << 20;
/** Most keys in one secret. */
export const MAX_SECRET_KEYS = 256;

/** A secret to create or apply. */
export interface SecretInput extends SecretRef {
  data: SecretData;
  labels?: Record<string, string>;
}

/** What a create or apply did. */
export interface SecretOutcome {
  view: SecretView;
  action: 'created' | 'updated' | 'unchanged';
}

function keyOf(ref: SecretRef): AggregateKey {
  return { kind: 'secret', realm: ref.realm, space: ref.space, secret: ref.name };
}

/** The view of a secret aggregate: names, keys and digest, never a value. */
export function secretView(agg: Aggregate): SecretView {
  const c = agg.snapshot.context as SecretContext;
  return {
    kind: 'Secret',
    realm: c.identity.realm,
    space: c.identity.space,
    name: c.identity.name,
    keys: c.keys,
    digest: c.digest ?? '',
    state: String(agg.snapshot.value),
    labels: c.labels,
    createdAt: agg.createdAt,
    updatedAt: agg.updatedAt,
    version: agg.version,
    seq: agg.seq,
    error: c.error,
  };
}

/** The names of the secrets a container's template uses, each once. */
export function secretsOfContainer(template: ContainerTemplate): string[] {
  return [...new Set([...(template.secretEnv ?? []).map((e) => e.secretKeyRef.name), ...(template.secrets ?? []).map((s) => s.name)])];
}

/** Checks a secret's name, place, labels and data; InvalidArgument naming the first problem. Changes nothing. */
export function checkSecret(input: SecretInput): void {
  validateName('realm', input.realm);
  validateName('space', input.space);
  validateName('secret', input.name);
  validateLabels(input.labels ?? {}, `secret ${JSON.stringify(input.name)}`);
  const keys = Object.keys(input.data);
  if (keys.length === 0) {
    throw new KukeError(ErrorKind.InvalidArgument, `secret "${input.name}" has no data`, { hint: 'give at least one key: --from-literal key=value or --from-file key=path' });
  }
  if (keys.length > MAX_SECRET_KEYS) throw new KukeError(ErrorKind.InvalidArgument, `secret "${input.name}" has ${keys.length} keys (at most ${MAX_SECRET_KEYS})`);
  for (const key of keys) {
    if (!SecretKeySchema.safeParse(key).success) {
      throw new KukeError(ErrorKind.InvalidArgument, `secret "${input.name}": invalid key ${JSON.stringify(key.slice(0, 80))}`, {
        hint: 'keys are letters, digits, "-", "_" and "." (not "." or ".."), at most 253 characters, as in Kubernetes',
      });
    }
  }
  const bytes = keys.reduce((n, k) => n + input.data[k]!.length, 0);
  if (bytes > MAX_SECRET_BYTES) {
    throw new KukeError(ErrorKind.InvalidArgument, `secret "${input.name}" holds ${bytes} bytes (at most ${MAX_SECRET_BYTES}, as Kubernetes)`, {
      hint: 'store large files elsewhere (a bind mount) and keep only credentials in secrets',
    });
  }
}

/** The secret operations over one engine (its runtime's secret store holds the values). */
export class SecretOperations {
  constructor(readonly engine: Engine) {}

  private get store(): SecretStore {
    const store = this.engine.runtime?.secrets;
    if (!store) throw new KukeError(ErrorKind.Internal, 'this engine has no secret store (opened read-only)');
    return store;
  }

  /** Live secrets, optionally of one realm, space, or one by name (NotFound when that one is missing). */
  list(filter: { realm?: string; space?: string; name?: string } = {}): SecretView[] {
    const prefix = `secret/${filter.realm !== undefined ? `${filter.realm}/${filter.space !== undefined ? `${filter.space}/` : ''}` : ''}`;
    const views = this.engine
      .list(prefix, { live: true })
      .map(secretView)
      .filter((v) => filter.name === undefined || v.name === filter.name);
    if (filter.name !== undefined && views.length === 0) {
      const where = filter.realm !== undefined && filter.space !== undefined ? ` in realm "${filter.realm}", space "${filter.space}"` : '';
      throw new KukeError(ErrorKind.NotFound, `secret "${filter.name}" not found${where}`, {
        hint: `list secrets with: kuke get secrets${filter.realm !== undefined ? ` --realm ${filter.realm}` : ''}${filter.space !== undefined ? ` --space ${filter.space}` : ''}`,
      });
    }
    return views;
  }

  /**
   * Creates a secret (`mode: 'create'`: one that exists with other data is AlreadyExists, as `kubectl create`), or
   * makes it hold `data` (`mode: 'apply'`: an update when the data or labels differ). The realm and space must exist.
   */
  async put(input: SecretInput, options: OpOptions, mode: 'create' | 'apply'): Promise<SecretOutcome> {
    checkSecret(input);
    this.requireSpace(input);
    const key = keyOf(input);
    const stream = streamOf(key);
    const labels = input.labels ?? {};
    const before = this.engine.get(stream);
    const live = before !== undefined && !isGone(String(before.snapshot.value));
    const digest = await this.store.digest(input.data);
    const current = before?.snapshot.context as SecretContext | undefined;
    if (live && current!.digest === digest && JSON.stringify(current!.labels) === JSON.stringify(labels) && String(before.snapshot.value) === 'Ready') {
      return { view: secretView(before), action: 'unchanged' };
    }
    if (live && mode === 'create') {
      throw new KukeError(ErrorKind.AlreadyExists, `${describeKey(key)} already exists with other data`, {
        hint: `apply a manifest to change it (kuke apply -f), or delete it first: kuke delete secret ${input.name} --realm ${input.realm} --space ${input.space}`,
      });
    }
    // The data first: the event may only name a digest the store holds (src/runtime/secrets/store.ts).
    await this.store.put(input, input.data);
    const payload = { keys: Object.keys(input.data).sort(), digest, labels };
    const outcome = await this.engine.dispatch(stream, live ? 'UpdateSecret' : 'CreateSecret', payload, meta(options));
    if (!outcome.accepted) throw new KukeError(ErrorKind.FailedPrecondition, outcome.rejection.message, outcome.rejection.hint ? { hint: outcome.rejection.hint } : {});
    await this.pruneQuietly(input, digest);
    return { view: secretView(outcome.aggregate), action: live ? 'updated' : 'created' };
  }

  /** Deletes a secret: refused while a cell of its space names it, unless `force`. Its stored data goes too. */
  async delete(ref: SecretRef & { force?: boolean }, options: OpOptions): Promise<void> {
    validateName('realm', ref.realm);
    validateName('space', ref.space);
    validateName('secret', ref.name);
    this.list({ realm: ref.realm, space: ref.space, name: ref.name }); // NotFound when it is not there
    const users = this.usersOf(ref);
    if (users.length > 0 && !ref.force) {
      throw new KukeError(ErrorKind.FailedPrecondition, `secret "${ref.name}" is used by cell(s) ${users.map((u) => `"${u.split('/')[1]}" (stack ${u.split('/')[0]})`).join(', ')}`, {
        hint: 'delete those cells first (or remove the secret from them), or use --force (they fail at their next start)',
      });
    }
    const outcome = await this.engine.dispatch(streamOf(keyOf(ref)), 'DeleteSecret', { users, force: ref.force ?? false }, meta(options));
    if (!outcome.accepted) throw new KukeError(ErrorKind.FailedPrecondition, outcome.rejection.message, outcome.rejection.hint ? { hint: outcome.rejection.hint } : {});
    await this.pruneQuietly(ref, undefined);
  }

  /** The live cells (`<stack>/<cell>`) of the secret's space whose containers name it. */
  usersOf(ref: SecretRef): string[] {
    const users: string[] = [];
    for (const agg of this.engine.list(`cell/${ref.realm}/${ref.space}/`, { live: true })) {
      const template = (agg.snapshot.context as { template?: CellTemplate | null }).template;
      if (template?.containers.some((c) => secretsOfContainer(c).includes(ref.name))) {
        const k = agg.key as Extract<AggregateKey, { kind: 'cell' }>;
        users.push(`${k.stack}/${k.cell}`);
      }
    }
    return users;
  }

  private requireSpace(ref: SecretRef): void {
    for (const k of [{ kind: 'realm', realm: ref.realm }, { kind: 'space', realm: ref.realm, space: ref.space }] as AggregateKey[]) {
      const agg = this.engine.get(streamOf(k));
      if (!agg || isGone(String(agg.snapshot.value))) {
        throw new KukeError(ErrorKind.NotFound, `${describeKey(k)} not found`, {
          hint: k.kind === 'realm' ? 'list realms with: kuke get realms' : `list spaces with: kuke get spaces --realm ${ref.realm}`,
        });
      }
    }
  }

  /** Older versions are removed after the event that replaced them; reconcile removes what a failure here leaves. */
  private async pruneQuietly(ref: SecretRef, keep: string | undefined): Promise<void> {
    await this.store.prune(ref, keep).catch((err: unknown) => this.engine.logger.warn({ err, secret: ref.name }, 'could not remove older versions of a secret; reconcile will'));
  }
}

/**
 * Deletes the live secrets whose streams start with `prefix` (a space's, `secret/<realm>/<space>/`, or a realm's) when
 * their scope goes with `cascade` or `force`, whoever names them (those cells go too, or are forced). Without either,
 * a space that holds secrets is refused: FailedPrecondition naming how many, as for a space that holds stacks.
 */
export async function deleteSecretsOf(engine: Engine, prefix: string, how: { cascade?: boolean; force?: boolean }, options: OpOptions): Promise<void> {
  const secrets = engine.list(prefix, { live: true });
  if (secrets.length === 0) return;
  const [, realm, space] = prefix.split('/') as [string, string, string];
  if (!how.cascade && !how.force) {
    throw new KukeError(ErrorKind.FailedPrecondition, `space "${space}" in realm "${realm}" has ${secrets.length} secret(s)`, {
      hint: `delete them first (kuke get secrets --realm ${realm} --space ${space}), or use --cascade`,
    });
  }
  const ops = new SecretOperations(engine);
  for (const agg of secrets) {
    const c = agg.snapshot.context as SecretContext;
    await ops.delete({ realm: c.identity.realm, space: c.identity.space, name: c.identity.name, force: true }, options);
  }
}

function meta(options: OpOptions): DispatchMeta {
  return { actor: options.actor, correlation: options.correlation ?? randomUUID() };
}

/** What a container's start adds for its secrets: environment entries and files (never recorded anywhere). */
export interface ResolvedSecrets {
  env: string[];
  files: SecretFile[];
}

/**
 * A container's spec with its secrets: the environment entries after the template's own (a secret wins over a plain
 * entry of the same name), and a tmpfs at {@link SECRETS_DIR} (noexec, 0755) for the files when it mounts any, sized
 * to hold them (whole pages per file) and little more.
 */
export function withSecrets(spec: ContainerSpec, template: ContainerTemplate, secrets: ResolvedSecrets): ContainerSpec {
  if (secrets.env.length === 0 && !(template.secrets?.length)) return spec;
  const size = secrets.files.reduce((n, f) => n + Math.ceil(Math.max(f.data.length, 1) / 4096) * 4096, 64 * 1024);
  const tmpfs: MountSpec = { type: 'tmpfs', target: SECRETS_DIR, options: ['noexec', 'mode=755', `size=${size}`] };
  return {
    ...spec,
    env: [...(spec.env ?? []), ...secrets.env],
    ...(template.secrets?.length ? { mounts: [...(spec.mounts ?? []), tmpfs] } : {}),
  };
}

/**
 * Reads the secrets a container names from the store, for its start: FailedPrecondition naming the first secret that
 * is missing or not Ready, or key it lacks (the container, and so its cell, fails with that one line).
 */
export async function resolveSecrets(engine: Engine, store: SecretStore, place: { realm: string; space: string }, template: ContainerTemplate): Promise<ResolvedSecrets> {
  const names = secretsOfContainer(template);
  if (names.length === 0) return { env: [], files: [] };
  const data = new Map<string, SecretData>();
  for (const name of names) {
    const key = keyOf({ ...place, name });
    const agg = engine.get(streamOf(key));
    const state = agg ? String(agg.snapshot.value) : 'Absent';
    if (!agg || isGone(state)) {
      throw new KukeError(ErrorKind.FailedPrecondition, `container "${template.name}" needs secret "${name}", which does not exist in realm "${place.realm}", space "${place.space}"`, {
        hint: `create it: kuke create secret ${name} --realm ${place.realm} --space ${place.space} --from-literal key=value`,
      });
    }
    const c = agg.snapshot.context as SecretContext;
    if (state !== 'Ready') {
      throw new KukeError(ErrorKind.FailedPrecondition, `container "${template.name}" needs secret "${name}", which is ${state}: ${c.error?.message ?? 'not usable'}`, {
        hint: `apply the secret again: kuke apply -f <file>`,
      });
    }
    data.set(name, await store.get({ ...place, name }, c.digest!).catch((err: unknown) => {
      throw err instanceof KukeError ? new KukeError(ErrorKind.FailedPrecondition, `container "${template.name}" needs secret "${name}": ${err.message}`, err.hint ? { hint: err.hint } : {}) : err;
    }));
  }
  const env = (template.secretEnv ?? []).map((e) => {
    const value = data.get(e.secretKeyRef.name)![e.secretKeyRef.key];
    if (value === undefined) {
      throw new KukeError(ErrorKind.FailedPrecondition, `container "${template.name}": secret "${e.secretKeyRef.name}" has no key "${e.secretKeyRef.key}" (for ${e.name})`, {
        hint: `its keys are ${Object.keys(data.get(e.secretKeyRef.name)!).sort().join(', ')}`,
      });
    }
    return `${e.name}=${value.toString('utf8')}`;
  });
  const files = (template.secrets ?? []).flatMap((s) => Object.entries(data.get(s.name)!).map(([k, bytes]) => ({ path: `${s.name}/${k}`, data: bytes })));
  return { env, files };
}
