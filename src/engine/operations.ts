/**
 * Operations: what the API offers, in terms of engine commands. Each operation checks what spans aggregates
 * (parents exist, children counted, subnets free), dispatches commands, waits for the aggregate to settle and
 * returns views. The gRPC server and the in-process client both call these, which is how both paths behave the
 * same.
 */
import { randomUUID } from 'node:crypto';
import type { Actor } from '../../events/record.js';
import { CellTemplateSchema, type CellTemplate } from '../../events/specs.js';
import { isGone, isTransient, type AggregateKind } from '../../machines/index.js';
import { isRunningCell } from '../../machines/cell.js';
import { ErrorKind, KukeError } from '../errors.js';
import { bridgeName, containerdId, networkName, networkNameProblem, realmNamespace, validateIdPart, validateName, validateNamespaceOverride } from '../model/names.js';
import type { CellView, RealmView, ResourceView, SpaceView, StackView } from '../model/resources.js';
import { validateCellTemplate, validateLabels } from '../model/template-check.js';
import { childPrefix, describeKey, streamOf, type AggregateKey } from '../model/streams.js';
import type { Aggregate, DispatchMeta, DispatchOutcome, Engine } from './engine.js';
import { firstFreeAddress, heldAddresses, addressProblem, nextAddress, onHostNetwork, releasedAddresses, spaceSubnetOf } from './cell-network.js';
import { FORCE_SETTLE_MS, forceDelete } from './force-delete.js';
import { checkCellPorts } from './port-check.js';
import { allowFromKey, isSystemRealm } from './isolation.js';
import { allocateSubnet } from './subnets.js';
import { ViewQueries, type Query } from './queries.js';
import { viewsOf } from './read-model.js';
import { cellView, realmView, spaceView, stackView } from './views.js';
import { deleteSecretsOf } from './secrets.js';

/** Scope of a space/stack/cell. */
export interface SpaceRef {
  realm: string;
  space: string;
}
export interface StackRef extends SpaceRef {
  stack: string;
}
export interface CellRef extends StackRef {
  cell: string;
}

/** Options of a scope's delete: `cascade` deletes what it contains first; `keepLogs` keeps its cells' logs. */
export interface CascadeOptions {
  cascade?: boolean;
  keepLogs?: boolean;
  /** Delete whatever state it is in (force-delete.ts). */
  force?: boolean;
}

/** What a delete left behind on the host (only a forced delete records leftovers; see force-delete.ts). */
export interface DeleteResult {
  leftovers: { stream: string; resource: string; error: { kind: string; message: string } }[];
}

const NOTHING_LEFT: DeleteResult = { leftovers: [] };

/** How a create went. */
export type CreateOutcome<V> = { view: V; created: boolean };

/** Options common to mutating operations. */
export interface OpOptions {
  actor: Actor;
  /** Groups the events of one user operation; generated when absent. */
  correlation?: string;
  /** How long to wait for the resource to settle (default 120 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** The operations over one engine. */
export class Operations {
  /**
   * Per space, the tail of the operations that choose a cell's address and record it: two creates at once must not
   * both see an address free and take it.
   */
  private readonly addressLocks = new Map<string, Promise<unknown>>();
  /** Per space, static addresses a manifest being applied asks for (address → `stack/cell`): see reserveAddresses. */
  private readonly reservedAddresses = new Map<string, Map<string, string>>();

  constructor(readonly engine: Engine) {}

  // ------------------------------------------------------------------------------------------------ reads

  /** Views selected by a query (one by name, or all in scope), with NotFound naming the first missing scope. */
  query(query: Query): ResourceView[] {
    return new ViewQueries(viewsOf(this.engine)).find(query);
  }
  listRealms(): RealmView[] {
    return this.query({ kind: 'realm' }) as RealmView[];
  }
  getCell(ref: CellRef): CellView {
    return this.query({ kind: 'cell', realm: ref.realm, space: ref.space, stack: ref.stack, name: ref.cell })[0] as CellView;
  }

  // ------------------------------------------------------------------------------------------------ scopes

  // ------------------------------------------------------------------------------------------------ checks

  /*
   * What createRealm, createSpace, createStack and createCell/applyCell check before they append anything, callable
   * on their own: `kuke apply` runs them for every document before it applies the first (engine/apply.ts), so a
   * manifest that one of them would refuse is refused whole instead of half-applied. They change nothing.
   */

  /** A realm's name, labels and namespace (returned: the override, or `<realm>.<suffix>`). */
  checkRealm(input: { name: string; namespace?: string; labels?: Record<string, string> }): string {
    validateName('realm', input.name);
    validateLabels(input.labels ?? {}, `realm ${JSON.stringify(input.name)}`);
    return this.realmNamespaceFor(input.name, input.namespace);
  }

  /**
   * A space's names and labels, the network identity a new space would get, and its `allowFrom` (see
   * {@link checkAllowFrom}); `declared` lists the spaces (`<realm>/<space>`) the same manifest declares.
   */
  checkSpace(input: SpaceRef & { labels?: Record<string, string>; allowFrom?: string[] }, declared: string[] = []): void {
    validateName('realm', input.realm);
    validateIdPart('space', input.space);
    validateLabels(input.labels ?? {}, `space ${JSON.stringify(input.space)}`);
    const existing = this.engine.get(streamOf({ kind: 'space', realm: input.realm, space: input.space }));
    if ((!existing || isGone(String(existing.snapshot.value))) && this.engine.runtime) {
      this.newNetworkIdentity(input, this.engine.list('space/', { live: true }).map((a) => spaceView(a)));
    }
    this.checkAllowFrom(input, declared);
  }

  /**
   * Each `allowFrom` entry is a space of the same realm or `<realm>/<space>`, names a live space or one `declared`
   * by the same manifest, once, and not the space itself (its cells always reach each other); a space of the
   * system realm admits no space of a workload realm.
   */
  private checkAllowFrom(input: SpaceRef & { allowFrom?: string[] }, declared: string[]): void {
    const what = `allowFrom of space "${input.space}" in realm "${input.realm}"`;
    const live = new Set(this.engine.list('space/', { live: true }).map((a) => { const k = a.key as SpaceRef; return `${k.realm}/${k.space}`; }));
    const seen = new Set<string>();
    for (const entry of input.allowFrom ?? []) {
      const parts = entry.split('/');
      if (parts.length > 2) throw new KukeError(ErrorKind.InvalidArgument, `${what}: "${entry}" is neither a space name nor <realm>/<space>`);
      if (parts.length === 2) validateName('realm', parts[0]!);
      validateName('space', parts[parts.length - 1]!);
      const key = allowFromKey(input.realm, entry);
      if (key === `${input.realm}/${input.space}`) {
        throw new KukeError(ErrorKind.InvalidArgument, `${what} names the space itself; its cells always reach each other`, { hint: `remove "${entry}" from allowFrom` });
      }
      if (seen.has(key)) throw new KukeError(ErrorKind.InvalidArgument, `${what} names space ${key} twice`, { hint: `keep one "${entry}"` });
      seen.add(key);
      const realm = key.split('/')[0]!;
      if (isSystemRealm(this.engine, input.realm) && !isSystemRealm(this.engine, realm)) {
        throw new KukeError(ErrorKind.InvalidArgument, `${what} names space ${key} of a workload realm; nothing from a workload realm reaches the system realm`, { hint: `remove "${entry}" from allowFrom` });
      }
      if (!live.has(key) && !declared.includes(key)) {
        throw new KukeError(ErrorKind.InvalidArgument, `${what} names space ${key}, which does not exist`, {
          hint: `create it first or declare it in the same manifest; list spaces with: kuke get spaces --realm ${realm}`,
        });
      }
    }
  }

  /** A stack's names and labels. */
  checkStack(input: StackRef & { labels?: Record<string, string> }): void {
    validateName('realm', input.realm);
    validateName('space', input.space);
    validateIdPart('stack', input.stack);
    validateLabels(input.labels ?? {}, `stack ${JSON.stringify(input.stack)}`);
  }

  /** A cell's names, its template (model/template-check.ts) and its containers' containerd ids. */
  checkCell(input: CellRef & { template: CellTemplate }): void {
    this.validateCellRef(input);
    validateCellTemplate(input.template, `cell ${JSON.stringify(input.cell)}`);
    checkContainerIds(input, input.template);
    if (input.template.ip !== undefined) this.checkStaticAddress(input, input.template.ip);
  }

  /**
   * Refuses a static address its space cannot give the cell: outside the space's subnet, its network, gateway or
   * broadcast address, or held by another live cell of the space. Nothing is checked against a space that does not
   * exist yet (kuke apply creates it first; its subnet is chosen then).
   */
  private checkStaticAddress(ref: CellRef, ip: string): void {
    const subnet = spaceSubnetOf(this.engine, ref.realm, ref.space);
    if (subnet === undefined) return;
    const where = `cell "${ref.cell}"`;
    const problem = addressProblem(subnet, ip);
    if (problem) {
      throw new KukeError(ErrorKind.InvalidArgument, `${where}: ip ${ip} cannot be used: ${problem}`, {
        hint: `choose an address from ${firstFreeAddress(subnet, []) ?? subnet} up in ${subnet}, or leave ip out to get a free one`,
      });
    }
    const holder = heldAddresses(this.engine, ref.realm, ref.space, streamOf({ kind: 'cell', ...pickCell(ref) })).get(ip);
    if (holder) {
      const [stack, cell] = holder.split('/');
      throw new KukeError(ErrorKind.AlreadyExists, `${where}: ip ${ip} is already held by cell "${cell}" (stack "${stack}") in space "${ref.space}"`, {
        hint: 'choose another address, or leave ip out to get a free one',
      });
    }
  }

  /**
   * The template a cell is recorded with, carrying its address: a static one (checked), the one the existing cell
   * already has when none is asked for, else the first free one of its space. A cell whose root is on the host's
   * network has none. In the log's key order (the schema's), so that it compares equal to a recorded template.
   * Call under {@link withAddressLock}.
   */
  private addressed(ref: CellRef, template: CellTemplate, current: CellTemplate | null): CellTemplate {
    const { ip: asked, ...rest } = template;
    let ip: string | undefined;
    if (onHostNetwork(template)) ip = asked;
    else if (asked !== undefined) {
      this.checkStaticAddress(ref, asked);
      ip = asked;
    } else if (current) ip = onHostNetwork(current) ? undefined : current.ip;
    else ip = this.freeAddress(ref);
    return CellTemplateSchema.parse(ip === undefined ? rest : { ...rest, ip });
  }

  /**
   * Keeps `ip` of each entry from the cells that get the first free address until the returned function is called
   * (kuke apply: a later document's static address is not handed to an earlier document's cell). A cell's own
   * reservation does not keep the address from it.
   */
  reserveAddresses(entries: (CellRef & { ip: string })[]): () => void {
    const added: [Map<string, string>, string][] = [];
    for (const e of entries) {
      const key = `${e.realm}/${e.space}`;
      const space = this.reservedAddresses.get(key) ?? new Map<string, string>();
      this.reservedAddresses.set(key, space);
      if (space.has(e.ip)) continue;
      space.set(e.ip, `${e.stack}/${e.cell}`);
      added.push([space, e.ip]);
    }
    return () => {
      for (const [space, ip] of added) space.delete(ip);
    };
  }

  /**
   * A free address of the cell's space ({@link nextAddress}: never used before, else released longest ago) that no
   * other live cell holds and no manifest being applied reserves; undefined for a space without a subnet.
   */
  private freeAddress(ref: CellRef): string | undefined {
    const subnet = spaceSubnetOf(this.engine, ref.realm, ref.space);
    if (subnet === undefined) return undefined;
    const reserved = [...(this.reservedAddresses.get(`${ref.realm}/${ref.space}`) ?? [])].filter(([, cell]) => cell !== `${ref.stack}/${ref.cell}`).map(([ip]) => ip);
    const held = [...heldAddresses(this.engine, ref.realm, ref.space, streamOf({ kind: 'cell', ...pickCell(ref) })).keys(), ...reserved];
    const ip = nextAddress(subnet, held, releasedAddresses(this.engine, ref.realm, ref.space));
    if (ip === undefined) {
      throw new KukeError(ErrorKind.FailedPrecondition, `space "${ref.space}" has no free address left in ${subnet} for cell "${ref.cell}"`, {
        hint: 'delete cells of the space you no longer need, or create the cell in another space',
      });
    }
    return ip;
  }

  /** Runs `fn` after every earlier address choice of the space has been recorded (see addressLocks). */
  private withAddressLock<T>(ref: SpaceRef, fn: () => Promise<T>): Promise<T> {
    const key = `${ref.realm}/${ref.space}`;
    const next = (this.addressLocks.get(key) ?? Promise.resolve()).catch(() => undefined).then(fn);
    this.addressLocks.set(key, next);
    void next
      .finally(() => {
        if (this.addressLocks.get(key) === next) this.addressLocks.delete(key);
      })
      .catch(() => undefined);
    return next;
  }

  /** Creates a realm (namespace + cgroup); idempotent. */
  async createRealm(
    input: { name: string; namespace?: string; labels?: Record<string, string>; system?: boolean },
    options: OpOptions,
  ): Promise<CreateOutcome<RealmView>> {
    const namespace = this.checkRealm(input);
    const key: AggregateKey = { kind: 'realm', realm: input.name };
    const outcome = await this.ensureCreated(key, 'CreateRealm', { namespace, labels: input.labels ?? {}, system: input.system ?? false }, options);
    return { view: realmView(outcome.aggregate), created: outcome.created };
  }

  /**
   * The namespace a new realm gets: the override (a Realm manifest's `spec.namespace`) or `<realm>.<suffix>`, checked
   * against containerd's rule here, before anything is appended: a namespace containerd refuses would leave a realm
   * that every later start of the daemon trips over. An override must end with the suffix too, because the exit
   * watcher only follows namespaces that do, and must not be another live realm's.
   */
  private realmNamespaceFor(realm: string, override: string | undefined): string {
    const suffix = this.engine.config.namespaceSuffix;
    if (override === undefined) return realmNamespace(realm, suffix);
    validateNamespaceOverride(realm, override);
    if (!override.endsWith(`.${suffix}`)) {
      throw new KukeError(ErrorKind.InvalidArgument, `invalid namespace "${override}" for realm "${realm}": it must end with ".${suffix}", the namespaces kukeon watches`, {
        resource: { kind: 'realm', name: realm },
        hint: `use e.g. "${realm}.${suffix}", or leave spec.namespace out`,
      });
    }
    const holder = this.engine
      .list('realm/', { live: true })
      .find((a) => a.key.kind === 'realm' && a.key.realm !== realm && realmView(a).namespace === override);
    if (holder) {
      throw new KukeError(ErrorKind.AlreadyExists, `namespace "${override}" already belongs to ${describeKey(holder.key)}`, {
        resource: { kind: 'realm', name: realm },
        hint: 'give the realm a namespace of its own, or leave spec.namespace out',
      });
    }
    return override;
  }

  /**
   * Creates a space (cgroup + CNI network on the first free /24, isolated from the others but those `allowFrom`
   * names); idempotent: an existing space is left as it is (applySpace updates it). The realm must be Ready.
   */
  async createSpace(input: SpaceRef & { labels?: Record<string, string>; allowFrom?: string[] }, options: OpOptions, declared: string[] = []): Promise<CreateOutcome<SpaceView>> {
    this.checkSpace(input, declared);
    this.requireReady({ kind: 'realm', realm: input.realm });
    const key: AggregateKey = { kind: 'space', realm: input.realm, space: input.space };
    const existing = this.engine.get(streamOf(key));
    let network = (existing?.snapshot.context as { attributes?: { network?: unknown } } | undefined)?.attributes?.network;
    if (!network || isGone(String(existing!.snapshot.value))) {
      const live = this.engine.list('space/', { live: true }).map((a) => spaceView(a));
      const identity = this.newNetworkIdentity(input, live);
      const taken = [...live.map((v) => v.network.subnet), ...(await this.engine.runtime!.networks.hostSubnets())];
      network = { ...identity, subnet: allocateSubnet(this.engine.config.podSubnet, taken), ipMasq: this.engine.config.ipMasq };
    }
    const outcome = await this.ensureCreated(key, 'CreateSpace', { network, labels: input.labels ?? {}, ...(input.allowFrom?.length ? { allowFrom: input.allowFrom } : {}) }, options);
    return { view: spaceView(outcome.aggregate), created: outcome.created };
  }

  /**
   * Makes a space match a Space manifest: creates it, or changes its `allowFrom` in place (the space goes Updating
   * while the isolation rules of the install are rewritten). Labels of an existing space are left as they are.
   */
  async applySpace(
    input: SpaceRef & { labels?: Record<string, string>; allowFrom: string[] },
    options: OpOptions,
    declared: string[] = [],
  ): Promise<{ view: SpaceView; action: 'created' | 'updated' | 'unchanged'; changes: string[] }> {
    this.checkSpace(input, declared);
    const key: AggregateKey = { kind: 'space', realm: input.realm, space: input.space };
    const stream = streamOf(key);
    await this.settled(stream, options);
    if (this.engine.stateOf(stream) !== 'Ready') {
      const { view, created } = await this.createSpace(input, options, declared);
      return { view, action: created ? 'created' : 'unchanged', changes: [] };
    }
    const agg = this.engine.get(stream)!;
    const context = agg.snapshot.context as { labels: Record<string, string>; attributes: { allowFrom?: string[] } | null };
    const before = context.attributes?.allowFrom ?? [];
    if (JSON.stringify(before) === JSON.stringify(input.allowFrom)) return { view: spaceView(agg), action: 'unchanged', changes: [] };
    this.ok(await this.engine.dispatch(stream, 'UpdateSpace', { labels: context.labels, allowFrom: input.allowFrom }, this.meta(options)));
    const after = await this.settled(stream, options);
    this.failIfFailed(after, key, 'update');
    return { view: spaceView(after), action: 'updated', changes: [`allowFrom: [${before.join(', ')}] → [${input.allowFrom.join(', ')}]`] };
  }

  /**
   * The CNI network name and bridge of a new space: named with this install's identity (the networks adapter's
   * instance id), so that another install on the host with the same realm and space names never shares them.
   * A bridge hash that collides with a live space's is refused rather than shared.
   */
  private newNetworkIdentity(ref: SpaceRef, live: SpaceView[]): { name: string; bridge: string } {
    const instance = this.engine.runtime?.networks.instance;
    if (!instance) throw new KukeError(ErrorKind.Internal, 'creating a space needs the runtime (its networks adapter names the install)');
    const name = networkName(ref.realm, ref.space, instance);
    const problem = networkNameProblem(name);
    if (problem !== undefined) throw new KukeError(ErrorKind.InvalidArgument, `space "${ref.space}" in realm "${ref.realm}" makes the CNI network name "${name}", which ${problem}`);
    const bridge = bridgeName(name);
    const clash = live.find((v) => v.network.bridge === bridge && (v.realm !== ref.realm || v.name !== ref.space));
    if (clash) {
      throw new KukeError(ErrorKind.AlreadyExists, `space "${ref.space}" in realm "${ref.realm}" would get bridge ${bridge}, which space "${clash.name}" in realm "${clash.realm}" already has`, {
        hint: 'choose another space name (bridge names are an 8-digit hash)',
      });
    }
    return { name, bridge };
  }

  /** Creates a stack (cgroup); idempotent. The space must be Ready. */
  async createStack(input: StackRef & { labels?: Record<string, string> }, options: OpOptions): Promise<CreateOutcome<StackView>> {
    this.checkStack(input);
    this.requireReady({ kind: 'space', realm: input.realm, space: input.space });
    const outcome = await this.ensureCreated({ kind: 'stack', ...input }, 'CreateStack', { labels: input.labels ?? {} }, options);
    return { view: stackView(outcome.aggregate), created: outcome.created };
  }

  // ------------------------------------------------------------------------------------------------ cells

  /**
   * Declares a cell (Pending). With `start`, starts it and waits for Ready. An existing cell with the same
   * template is left alone (`created: false`); a different template is refused (use applyCell to update).
   */
  async createCell(input: CellRef & { template: CellTemplate; start?: boolean }, options: OpOptions): Promise<CreateOutcome<CellView>> {
    this.checkCell(input);
    this.requireReady({ kind: 'stack', realm: input.realm, space: input.space, stack: input.stack });
    const key: AggregateKey = { kind: 'cell', ...pickCell(input) };
    const stream = streamOf(key);
    const meta = this.meta(options);
    const created = await this.withAddressLock(input, async () => {
      if (isGone(this.engine.stateOf(stream))) {
        await checkCellPorts(this.engine, input, input.template);
        this.ok(await this.engine.dispatch(stream, 'CreateCell', { template: this.addressed(input, input.template, null) }, meta));
        return true;
      }
      const current = this.cellTemplate(stream);
      if (JSON.stringify(current) !== JSON.stringify(this.addressed(input, input.template, current))) {
        throw new KukeError(ErrorKind.AlreadyExists, `${describeKey(key)} already exists with a different spec`, {
          hint: 'apply the manifest to update it: kuke apply -f <file>',
        });
      }
      return false;
    });
    if (input.start) await this.startCell(input, options);
    return { view: this.getCell(input), created };
  }

  /**
   * Makes a cell match `template` and run: creates it, or (when the template differs) stops it, updates it and
   * starts it again; a stopped cell with the same template is started. Returns what was done.
   */
  async applyCell(input: CellRef & { template: CellTemplate }, options: OpOptions): Promise<{ view: CellView; action: 'created' | 'updated' | 'unchanged'; changes: string[] }> {
    this.checkCell(input);
    this.requireReady({ kind: 'stack', realm: input.realm, space: input.space, stack: input.stack });
    const stream = streamOf({ kind: 'cell', ...pickCell(input) });
    const meta = this.meta(options);
    await this.settled(stream, options);
    const state = this.engine.stateOf(stream);
    if (isGone(state)) {
      await checkCellPorts(this.engine, input, input.template);
      await this.withAddressLock(input, async () => {
        this.ok(await this.engine.dispatch(stream, 'CreateCell', { template: this.addressed(input, input.template, null) }, meta));
      });
      await this.startCell(input, { ...options, correlation: meta.correlation });
      return { view: this.getCell(input), action: 'created', changes: [] };
    }
    const current = this.cellTemplate(stream)!;
    const changes = describeTemplateChanges(current, this.addressed(input, input.template, current));
    if (changes.length === 0) {
      if (isRunningCell(state)) return { view: this.getCell(input), action: 'unchanged', changes };
      await this.startCell(input, { ...options, correlation: meta.correlation });
      return { view: this.getCell(input), action: 'updated', changes: [`cell was ${state}: started`] };
    }
    await checkCellPorts(this.engine, input, input.template);
    if (isRunningCell(state)) await this.stopCell(input, { ...options, correlation: meta.correlation }, { mode: 'stop' });
    await this.withAddressLock(input, async () => {
      // Chosen again now: another cell may have taken the address while this one stopped.
      this.ok(await this.engine.dispatch(stream, 'UpdateCell', { template: this.addressed(input, input.template, this.cellTemplate(stream)) }, meta));
    });
    await this.startCell(input, { ...options, correlation: meta.correlation });
    return { view: this.getCell(input), action: 'updated', changes };
  }

  /** Starts a cell and waits until it is Ready, or Exited when its root ran to its end as it started (throws with the recorded error if it ends Failed). */
  async startCell(ref: CellRef, options: OpOptions): Promise<CellView> {
    this.validateCellRef(ref);
    const key: AggregateKey = { kind: 'cell', ...pickCell(ref) };
    const stream = streamOf(this.requireAggregate(key).key);
    await this.settled(stream, options);
    await this.stampAddress(ref, stream, options);
    this.ok(await this.engine.dispatch(stream, 'StartCell', {}, this.meta(options)));
    const agg = await this.settled(stream, options);
    this.failIfFailed(agg, key, 'start');
    return cellView(this.engine, agg);
  }

  /**
   * Gives a cell recorded before addresses were stamped (a template without `ip`) the address it starts with from
   * now on: the first free one of its space, recorded by an UpdateCell before its next start, so every later
   * start reuses it. Nothing for a cell that has one, runs, or is on the host's network.
   */
  private async stampAddress(ref: CellRef, stream: string, options: OpOptions): Promise<void> {
    const state = this.engine.stateOf(stream);
    if (!['Pending', 'Stopped', 'Exited', 'Failed'].includes(state)) return;
    await this.withAddressLock(ref, async () => {
      const template = this.cellTemplate(stream);
      if (!template || template.ip !== undefined || onHostNetwork(template)) return;
      const ip = this.freeAddress(ref);
      if (ip === undefined) return;
      this.ok(await this.engine.dispatch(stream, 'UpdateCell', { template: { ...template, ip } }, this.meta(options)));
    });
  }

  /**
   * Stops (SIGTERM, grace, SIGKILL) or kills (SIGKILL) a cell and waits until it is Stopped. A cell that is not
   * running is left as it is (`changed: false`).
   */
  async stopCell(ref: CellRef, options: OpOptions, stop: { mode: 'stop' | 'kill'; graceMs?: number }): Promise<CellView & { changed?: boolean }> {
    this.validateCellRef(ref);
    const key: AggregateKey = { kind: 'cell', ...pickCell(ref) };
    const stream = streamOf(this.requireAggregate(key).key);
    await this.settled(stream, options);
    const state = this.engine.stateOf(stream);
    if (state === 'Stopped' || state === 'Exited' || state === 'Pending') return { ...this.getCell(ref), changed: false };
    this.ok(
      await this.engine.dispatch(stream, 'StopCell', { mode: stop.mode, graceMs: stop.graceMs ?? this.engine.config.stopGraceMs }, this.meta(options)),
    );
    const agg = await this.settled(stream, options);
    this.failIfFailed(agg, key, stop.mode);
    return { ...cellView(this.engine, agg), changed: true };
  }

  /** Stops the cell if it runs, then starts it. */
  async restartCell(ref: CellRef, options: OpOptions, graceMs?: number): Promise<CellView> {
    const correlation = options.correlation ?? randomUUID();
    await this.stopCell(ref, { ...options, correlation }, { mode: 'stop', ...(graceMs !== undefined ? { graceMs } : {}) });
    return this.startCell(ref, { ...options, correlation });
  }

  // ------------------------------------------------------------------------------------------------ deletes

  /**
   * Deletes a cell: containers, network attachment, cgroup, and its containers' logs unless `keepLogs`. With `force`,
   * whatever state it is in: what cannot be removed is recorded and the cell is gone all the same (force-delete.ts).
   */
  async deleteCell(ref: CellRef & { keepLogs?: boolean; force?: boolean }, options: OpOptions): Promise<DeleteResult> {
    this.validateCellRef(ref);
    const key: AggregateKey = { kind: 'cell', ...pickCell(ref) };
    if (ref.force) return this.forceDelete(key, { keepLogs: ref.keepLogs ?? false }, options);
    const stream = streamOf(this.requireAggregate(key).key);
    await this.settled(stream, options);
    this.ok(await this.engine.dispatch(stream, 'DeleteCell', { keepLogs: ref.keepLogs ?? false }, this.meta(options)));
    const agg = await this.settled(stream, options);
    this.failIfFailed(agg, key, 'delete');
    return NOTHING_LEFT;
  }

  /** Deletes a stack; with `cascade`, its cells first (and their logs, unless `keepLogs`); with `force`, whatever state they are in. */
  async deleteStack(ref: StackRef & CascadeOptions, options: OpOptions): Promise<DeleteResult> {
    const key: AggregateKey = { kind: 'stack', realm: ref.realm, space: ref.space, stack: ref.stack };
    if (ref.force) return this.forceDelete(key, ref, options);
    await this.deleteScope(key, 'DeleteStack', ref, options);
    return NOTHING_LEFT;
  }

  /** Deletes a space; with `cascade`, its stacks (and their cells) first; with `force`, whatever state they are in. */
  async deleteSpace(ref: SpaceRef & CascadeOptions, options: OpOptions): Promise<DeleteResult> {
    const key: AggregateKey = { kind: 'space', realm: ref.realm, space: ref.space };
    // Its secrets (issue 11) go with it when asked to (cascade, force), as a namespace's do in Kubernetes.
    await deleteSecretsOf(this.engine, `secret/${ref.realm}/${ref.space}/`, ref, options);
    if (ref.force) return this.forceDelete(key, ref, options);
    await this.deleteScope(key, 'DeleteSpace', ref, options);
    return NOTHING_LEFT;
  }

  /**
   * Deletes a realm; with `cascade`, everything in it first; with `force`, whatever state they are in. The system
   * realm needs `force`.
   */
  async deleteRealm(ref: { realm: string } & CascadeOptions, options: OpOptions): Promise<DeleteResult> {
    const agg = this.requireAggregate({ kind: 'realm', realm: ref.realm });
    const system = (agg.snapshot.context as { protected?: boolean }).protected === true;
    if (system && !ref.force) {
      throw new KukeError(ErrorKind.FailedPrecondition, `realm "${ref.realm}" is the system realm: it hosts kukeond and cannot be deleted`, {
        hint: 'to remove the daemon, see: kuke daemon reset',
      });
    }
    if (ref.force && ref.cascade) await deleteSecretsOf(this.engine, `secret/${ref.realm}/`, ref, options);
    if (ref.force) return this.forceDelete({ kind: 'realm', realm: ref.realm }, ref, options);
    await this.deleteScope({ kind: 'realm', realm: ref.realm }, 'DeleteRealm', ref, options);
    return NOTHING_LEFT;
  }

  /** Forced delete of an aggregate (and with `cascade` its children): see force-delete.ts. */
  private async forceDelete(key: AggregateKey, cascade: CascadeOptions, options: OpOptions): Promise<DeleteResult> {
    const agg = this.requireAggregate(key);
    const settleMs = Math.min(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, FORCE_SETTLE_MS);
    const report = await forceDelete(this.engine, agg, { meta: this.meta(options), cascade: cascade.cascade ?? false, keepLogs: cascade.keepLogs ?? false, settleMs });
    // A cell's own event repeats what its containers' events record: list each leftover once, where it was recorded first.
    const seen = new Set<string>();
    const leftovers: DeleteResult['leftovers'] = [];
    for (const [stream, list] of report) {
      for (const l of list) {
        if (seen.has(l.resource)) continue;
        seen.add(l.resource);
        leftovers.push({ stream, resource: l.resource, error: l.error });
      }
    }
    return { leftovers };
  }

  private async deleteScope(key: AggregateKey, command: string, cascade: CascadeOptions, options: OpOptions): Promise<void> {
    const agg = this.requireAggregate(key);
    const stream = agg.stream;
    const correlation = options.correlation ?? randomUUID();
    const opts = { ...options, correlation };
    await this.settled(stream, opts);
    const children = this.liveChildren(key);
    if (cascade.cascade) {
      for (const child of children) await this.deleteChild(child, cascade.keepLogs ?? false, opts);
    }
    this.ok(await this.engine.dispatch(stream, command, { children: this.liveChildren(key).length }, this.meta(opts)));
    const after = await this.settled(stream, opts);
    this.failIfFailed(after, key, 'delete');
  }

  private async deleteChild(child: Aggregate, keepLogs: boolean, options: OpOptions): Promise<void> {
    const k = child.key;
    switch (k.kind) {
      case 'space':
        await this.deleteSpace({ realm: k.realm, space: k.space, cascade: true, keepLogs }, options);
        return;
      case 'stack':
        await this.deleteStack({ realm: k.realm, space: k.space, stack: k.stack, cascade: true, keepLogs }, options);
        return;
      case 'cell':
        await this.deleteCell({ realm: k.realm, space: k.space, stack: k.stack, cell: k.cell, keepLogs }, options);
        return;
      default:
        throw new KukeError(ErrorKind.Internal, `unexpected child ${child.stream}`);
    }
  }

  // ------------------------------------------------------------------------------------------------ helpers

  private liveChildren(key: AggregateKey): Aggregate[] {
    const prefix = childPrefix(key);
    return prefix ? this.engine.list(prefix, { live: true }) : [];
  }

  private meta(options: OpOptions): DispatchMeta {
    return { actor: options.actor, correlation: options.correlation ?? randomUUID() };
  }

  private ok(outcome: DispatchOutcome): asserts outcome is Extract<DispatchOutcome, { accepted: true }> {
    if (outcome.accepted) return;
    const { rejection } = outcome;
    throw new KukeError(rejection.busy ? ErrorKind.Conflict : ErrorKind.FailedPrecondition, rejection.message, {
      ...(rejection.hint ? { hint: rejection.hint } : {}),
    });
  }

  private async ensureCreated(key: AggregateKey, command: string, data: Record<string, unknown>, options: OpOptions): Promise<{ aggregate: Aggregate; created: boolean }> {
    const stream = streamOf(key);
    await this.settled(stream, options);
    const state = this.engine.stateOf(stream);
    if (state === 'Ready') return { aggregate: this.engine.get(stream)!, created: false };
    this.ok(await this.engine.dispatch(stream, command, data, this.meta(options)));
    const agg = await this.settled(stream, options);
    this.failIfFailed(agg, key, 'create');
    return { aggregate: agg, created: true };
  }

  /** Waits until the aggregate is not in a transient state. */
  private settled(stream: string, options: OpOptions): Promise<Aggregate> {
    const kind = stream.split('/')[0] as AggregateKind;
    return this.engine.waitFor(stream, (a) => !isTransient(kind, String(a.snapshot.value)), {
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      what: stream,
    });
  }

  private failIfFailed(agg: Aggregate, key: AggregateKey, verb: string): void {
    if (String(agg.snapshot.value) !== 'Failed') return;
    const error = (agg.snapshot.context as { error?: { kind: string; message: string } | null }).error;
    throw new KukeError((error?.kind as ErrorKind | undefined) ?? ErrorKind.Internal, `could not ${verb} ${describeKey(key)}: ${error?.message ?? 'it failed'}`, {
      hint: `see what happened: kuke history ${key.kind} ${nameOf(key)}`,
    });
  }

  /** The aggregate, or NotFound naming the first missing ancestor. */
  private requireAggregate(key: AggregateKey): Aggregate {
    const chain: AggregateKey[] = [{ kind: 'realm', realm: (key as { realm: string }).realm }];
    if ('space' in key) chain.push({ kind: 'space', realm: key.realm, space: key.space });
    if ('stack' in key) chain.push({ kind: 'stack', realm: key.realm, space: key.space, stack: key.stack });
    if ('cell' in key) chain.push({ kind: 'cell', realm: key.realm, space: key.space, stack: key.stack, cell: key.cell });
    if (key.kind === 'container') chain.push(key);
    for (const k of chain) {
      for (const [field, value] of Object.entries(k)) {
        if (field !== 'kind' && field !== 'container') validateName(field as 'realm', value);
      }
      const agg = this.engine.get(streamOf(k));
      if (!agg || isGone(String(agg.snapshot.value))) {
        throw new KukeError(ErrorKind.NotFound, `${describeKey(k)} not found`, {
          resource: { kind: k.kind, name: nameOf(k) },
          hint: listHint(k),
        });
      }
    }
    return this.engine.get(streamOf(key))!;
  }

  private requireReady(key: AggregateKey): Aggregate {
    const agg = this.requireAggregate(key);
    const state = String(agg.snapshot.value);
    if (state !== 'Ready') {
      throw new KukeError(ErrorKind.FailedPrecondition, `${describeKey(key)} is ${state}, not Ready`, {
        hint: state === 'Failed' ? `see why: kuke history ${key.kind} ${nameOf(key)}` : 'wait until it is Ready',
      });
    }
    return agg;
  }

  private validateCellRef(ref: CellRef): void {
    validateName('realm', ref.realm);
    validateName('space', ref.space);
    validateName('stack', ref.stack);
    validateName('cell', ref.cell);
  }

  private cellTemplate(stream: string): CellTemplate | null {
    return (this.engine.get(stream)?.snapshot.context as { template?: CellTemplate | null } | undefined)?.template ?? null;
  }
}

/**
 * Derives every container's containerd id (`<space>_<stack>_<cell>_<container>`, the root's `…_root`), which throws
 * InvalidArgument for one containerd would refuse (over 76 characters, or `--`), before the cell is stored.
 */
function checkContainerIds(ref: CellRef, template: CellTemplate): void {
  validateIdPart('cell', ref.cell);
  for (const c of template.containers) containerdId(ref.space, ref.stack, ref.cell, c.name, c.name === template.root);
}

function pickCell(ref: CellRef): CellRef {
  return { realm: ref.realm, space: ref.space, stack: ref.stack, cell: ref.cell };
}

function nameOf(key: AggregateKey): string {
  switch (key.kind) {
    case 'realm':
      return key.realm;
    case 'space':
      return `${key.space} --realm ${key.realm}`;
    case 'stack':
      return `${key.stack} --realm ${key.realm} --space ${key.space}`;
    case 'cell':
      return `${key.cell} --realm ${key.realm} --space ${key.space} --stack ${key.stack}`;
    case 'container':
      return key.container;
    case 'daemon':
      return key.name;
    case 'secret':
      return `${key.secret} --realm ${key.realm} --space ${key.space}`;
  }
}

function listHint(key: AggregateKey): string {
  switch (key.kind) {
    case 'realm':
      return 'list realms with: kuke get realms';
    case 'space':
      return `list spaces with: kuke get spaces --realm ${key.realm}`;
    case 'stack':
      return `list stacks with: kuke get stacks --realm ${key.realm} --space ${key.space}`;
    case 'cell':
      return `list cells with: kuke get cells --realm ${key.realm} --space ${key.space} --stack ${key.stack}`;
    case 'secret':
      return `list secrets with: kuke get secrets --realm ${key.realm} --space ${key.space}`;
    default:
      return '';
  }
}

/** Human-readable differences between two templates (`container "x" added`, `container "y" updated: image`). */
export function describeTemplateChanges(before: CellTemplate, after: CellTemplate): string[] {
  const changes: string[] = [];
  if (before.root !== after.root) changes.push(`root container changed: ${before.root} → ${after.root}`);
  const old = new Map(before.containers.map((c) => [c.name, c]));
  const neu = new Map(after.containers.map((c) => [c.name, c]));
  for (const [name, c] of neu) {
    const prev = old.get(name);
    if (!prev) {
      changes.push(`container "${name}" added`);
      continue;
    }
    const fields = (Object.keys({ ...prev, ...c }) as (keyof typeof c)[]).filter((f) => JSON.stringify(prev[f]) !== JSON.stringify(c[f]));
    if (fields.length > 0) changes.push(`container "${name}" updated: ${fields.join(', ')}`);
  }
  for (const name of old.keys()) if (!neu.has(name)) changes.push(`container "${name}" removed`);
  if (JSON.stringify(before.labels) !== JSON.stringify(after.labels)) changes.push('labels updated');
  if (before.ip !== after.ip) changes.push(`address changed: ${before.ip ?? 'none'} → ${after.ip ?? 'none'}`);
  if ((before.autoDelete ?? false) !== (after.autoDelete ?? false)) changes.push(`autoDelete changed: ${before.autoDelete ?? false} → ${after.autoDelete ?? false}`);
  return changes;
}
