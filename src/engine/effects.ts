/**
 * Effect implementations: what each effect request does through the runtime ports, and the fact it reports.
 * Every effect is idempotent (it finds resources by their deterministic names), so reconcile can re-issue it
 * after a crash at any point. Cell effects coordinate several aggregates and live in sagas.ts.
 *
 * Retry policies are data (EFFECT_POLICIES): transient failures (Unavailable, DeadlineExceeded) are retried with
 * backoff; anything else fails the effect at once and becomes an EffectFailed event.
 */
import type { NetworkMode } from '../../machines/container.js';
import type { ContainerTemplate, Network } from '../../events/specs.js';
import { ErrorKind, KukeError, isKukeError } from '../errors.js';
import type { Logger } from '../log.js';
import { cgroupPath } from '../model/names.js';
import type { Runtime } from '../runtime/ports.js';
import type { EngineConfig } from './config.js';
import { buildContainerSpec, type ContainerPlacement } from './container-spec.js';
import type { EffectRunner, Engine } from './engine.js';
import { ensureIsolation } from './isolation.js';
import { rootNetns, runCellEffect } from './sagas.js';
import { resolveSecrets, SECRETS_DIR, withSecrets } from './secrets.js';

/** How an effect is retried. */
export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

const DEFAULT_POLICY: RetryPolicy = { attempts: 3, backoffMs: 200 };

/** Retry policy per effect; effects not listed use {@link DEFAULT_POLICY}. */
export const EFFECT_POLICIES: Record<string, RetryPolicy> = {
  // Sagas coordinate other aggregates, whose own effects retry; retrying the saga would double that.
  startCell: { attempts: 1, backoffMs: 0 },
  stopCell: { attempts: 2, backoffMs: 500 },
  deleteCell: { attempts: 2, backoffMs: 500 },
};

const RETRYABLE = new Set<string>([ErrorKind.Unavailable, ErrorKind.DeadlineExceeded]);

type Fact = { type: string; data: unknown };

interface ScopeParams {
  realm: string;
  space?: string;
  stack?: string;
  attributes: { namespace?: string; network?: Network };
  labels: Record<string, string>;
}

/** Builds the engine's effect runner over the runtime ports. */
export function createEffectRunner(runtime: Runtime): EffectRunner {
  return async (effect, ctx) => {
    const policy = EFFECT_POLICIES[effect.type] ?? DEFAULT_POLICY;
    for (let attempt = 1; ; attempt++) {
      try {
        return await runOnce(runtime, ctx.engine.config, effect.type, effect.params, ctx);
      } catch (err) {
        const retryable = isKukeError(err) && RETRYABLE.has(err.kind);
        if (!retryable || attempt >= policy.attempts || ctx.signal.aborted) throw err;
        ctx.engine.logger.warn({ err, effect: effect.type, attempt }, 'effect failed; retrying');
        await new Promise((r) => setTimeout(r, policy.backoffMs * attempt));
      }
    }
  };
}

async function runOnce(
  runtime: Runtime,
  config: EngineConfig,
  type: string,
  params: Record<string, unknown>,
  ctx: Parameters<EffectRunner>[1],
): Promise<Fact[]> {
  switch (type) {
    case 'provisionRealm':
    case 'provisionSpace':
    case 'provisionStack':
      return provisionScope(runtime, ctx.engine, type, params as unknown as ScopeParams);
    case 'deprovisionRealm':
    case 'deprovisionSpace':
    case 'deprovisionStack':
      return deprovisionScope(runtime, ctx.engine, type, params as unknown as ScopeParams);
    case 'createContainer':
      return createContainer(runtime, config, params as unknown as ContainerPlacement & { template: ContainerTemplate });
    case 'startContainer':
      return startContainer(
        runtime,
        config,
        params as unknown as ContainerPlacement & { template: ContainerTemplate; network: NetworkMode },
        ctx.engine.logger,
        ctx.engine,
      );
    case 'stopContainer':
      return stopContainer(runtime, params as unknown as ContainerPlacement & { signal: string; graceMs: number });
    case 'deleteContainer':
      return deleteContainer(runtime, params as unknown as ContainerPlacement);
    case 'startCell':
    case 'stopCell':
    case 'deleteCell':
      return runCellEffect(runtime, type, params, ctx);
    default:
      throw new KukeError(ErrorKind.Unimplemented, `no implementation for effect "${type}"`);
  }
}

async function provisionScope(runtime: Runtime, engine: Engine, type: string, p: ScopeParams): Promise<Fact[]> {
  const path = cgroupPath({ realm: p.realm, ...(p.space ? { space: p.space } : {}), ...(p.stack ? { stack: p.stack } : {}) }, engine.config.cgroupRoot);
  if (type === 'provisionRealm') {
    await runtime.containers.ensureNamespace(p.attributes.namespace!, { 'kukeon.io/realm': p.realm, ...p.labels });
    await runtime.cgroups.ensure(path);
    return [{ type: 'RealmProvisioned', data: { cgroupPath: path } }];
  }
  if (type === 'provisionSpace') {
    await runtime.cgroups.ensure(path);
    await runtime.networks.ensureNetwork(p.attributes.network!);
    // The rules of every space at once: this one's bridge is isolated before its first cell can attach.
    await ensureIsolation(engine, runtime);
    return [{ type: 'SpaceProvisioned', data: { cgroupPath: path } }];
  }
  await runtime.cgroups.ensure(path);
  return [{ type: 'StackProvisioned', data: { cgroupPath: path } }];
}

async function deprovisionScope(runtime: Runtime, engine: Engine, type: string, p: ScopeParams): Promise<Fact[]> {
  const path = cgroupPath({ realm: p.realm, ...(p.space ? { space: p.space } : {}), ...(p.stack ? { stack: p.stack } : {}) }, engine.config.cgroupRoot);
  if (type === 'deprovisionRealm') {
    await runtime.cgroups.remove(path);
    await runtime.containers.deleteNamespace(p.attributes.namespace!);
    return [{ type: 'RealmDeprovisioned', data: {} }];
  }
  if (type === 'deprovisionSpace') {
    await runtime.networks.deleteNetwork(p.attributes.network!.name);
    // A space being deleted has no rules any more; the last one's going removes the chains.
    await ensureIsolation(engine, runtime);
    await runtime.cgroups.remove(path);
    return [{ type: 'SpaceDeprovisioned', data: {} }];
  }
  await runtime.cgroups.remove(path);
  return [{ type: 'StackDeprovisioned', data: {} }];
}

async function createContainer(
  runtime: Runtime,
  config: EngineConfig,
  p: ContainerPlacement & { template: ContainerTemplate },
): Promise<Fact[]> {
  await runtime.containers.resolveImage(p.namespace, p.template.image);
  // The network is decided at start (a non-root container joins the root's current netns); 'new' until then.
  const network: NetworkMode = p.template.hostNetwork ? { mode: 'host' } : { mode: 'new' };
  await runtime.containers.createContainer(buildContainerSpec(config, p, p.template, network));
  return [{ type: 'ContainerCreated', data: {} }];
}

/**
 * Network before the process (DESIGN §8, issue 10): the task is created (runc create: its namespaces exist, its
 * process waits), its new network namespace is attached when the start asks for it, and only then is it started, so
 * the process starts with eth0 up and addressed. Idempotent at every step, for reconcile: a running task was attached
 * before it started (attach returns the same address); a task left created by an interrupted start is replaced.
 */
async function startContainer(
  runtime: Runtime,
  config: EngineConfig,
  p: ContainerPlacement & { template: ContainerTemplate; network: NetworkMode },
  logger: Logger,
  engine: Engine,
): Promise<Fact[]> {
  const attach = p.network.mode === 'new' ? p.network.attach : undefined;
  const attachTo = async (pid: number) => (attach ? (await runtime.networks.attach(attach.network, p.containerdId, rootNetns(pid), attach.options)).address : undefined);
  const task = await runtime.containers.getTask(p.namespace, p.containerdId);
  if (task?.status === 'running' || task?.status === 'paused') return [taskStarted(task.pid, await attachTo(task.pid))];
  // A task left created by an interrupted start may carry an older spec: it goes, and the start begins afresh.
  if (task) await runtime.containers.deleteTask(p.namespace, p.containerdId);
  // Create-or-update: the spec (network namespace to join, template changes, secrets' values) is refreshed before every start.
  const secrets = await resolveSecrets(engine, runtime.secrets, p, p.template);
  const spec = withSecrets(buildContainerSpec(config, p, p.template, p.network.mode === 'new' ? { mode: 'new' } : p.network), p.template, secrets);
  await runtime.containers.createContainer(spec);
  const created = await runtime.containers.createTask(p.namespace, p.containerdId);
  if (secrets.files.length > 0) {
    await runtime.secrets.install(created.pid, SECRETS_DIR, secrets.files).catch(async (err: unknown) => {
      await removeTask(runtime, p).catch((cleanupErr: unknown) => logger.warn({ err: cleanupErr, containerdId: p.containerdId }, 'could not remove the task of a start whose secret files failed'));
      throw err;
    });
  }
  let address: string | undefined;
  try {
    address = await attachTo(created.pid);
  } catch (err) {
    // Nothing half-made stays: the waiting process goes, and so does whatever the attach reserved.
    if (created.status === 'created') {
      await discardTask(runtime, p, attach!.network).catch((cleanupErr: unknown) =>
        logger.warn({ err: cleanupErr, containerdId: p.containerdId }, 'could not remove the task of a start whose network attach failed'),
      );
    }
    throw err;
  }
  const { pid } = await runtime.containers.startTask(p.namespace, p.containerdId);
  return [taskStarted(pid, address)];
}

function taskStarted(pid: number, address: string | undefined): Fact {
  return { type: 'TaskStarted', data: { pid, ...(address ? { address } : {}) } };
}

/** Removes a created task that will not start, and releases its attachment (CNI DEL; missing → ok). */
async function discardTask(runtime: Runtime, p: ContainerPlacement, network: string): Promise<void> {
  await removeTask(runtime, p);
  await runtime.networks.detach(network, p.containerdId);
}

/** Kills and removes a task that will not start. */
async function removeTask(runtime: Runtime, p: ContainerPlacement): Promise<void> {
  await runtime.containers.stopTask(p.namespace, p.containerdId, { signal: 'SIGKILL', graceMs: 0 });
  await runtime.containers.deleteTask(p.namespace, p.containerdId);
}

async function stopContainer(runtime: Runtime, p: ContainerPlacement & { signal: string; graceMs: number }): Promise<Fact[]> {
  const exit = await runtime.containers.stopTask(p.namespace, p.containerdId, {
    signal: p.signal as NodeJS.Signals,
    graceMs: p.graceMs,
  });
  if (!exit) return [{ type: 'TaskLost', data: {} }];
  return [{ type: 'TaskExited', data: exitData(exit.pid, exit.exitCode, exit.exitedAt) }];
}

async function deleteContainer(runtime: Runtime, p: ContainerPlacement): Promise<Fact[]> {
  await removeContainer(runtime, p.namespace, p.containerdId);
  return [{ type: 'ContainerDeleted', data: {} }];
}

/** Kills the container's task (SIGKILL), then removes the task and the container. Idempotent; missing → ok. */
export async function removeContainer(runtime: Runtime, namespace: string, id: string): Promise<void> {
  await runtime.containers.stopTask(namespace, id, { signal: 'SIGKILL', graceMs: 0 });
  await runtime.containers.deleteTask(namespace, id);
  await runtime.containers.deleteContainer(namespace, id);
}

const SIGNAL_NAMES: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 6: 'SIGABRT', 9: 'SIGKILL', 15: 'SIGTERM' };

/** The TaskExited payload of an exit: the code, and the signal's name for a death by signal. */
export function exitData(pid: number, code: number, exitedAt?: string): Record<string, unknown> {
  const signal = code > 128 ? SIGNAL_NAMES[code - 128] : undefined;
  return { pid, code, ...(signal ? { signal } : {}), ...(exitedAt ? { exitedAt } : {}) };
}
