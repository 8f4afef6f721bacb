/**
 * Runtime ports that refuse some calls: each call of a port method is first shown to `refuse`, and when it returns an
 * error the call fails with it (asynchronously, as the real adapters do) instead of reaching the wrapped port. For
 * tests of what the engine does when the runtime refuses one aggregate's resources (a namespace containerd rejects,
 * a cgroup that cannot be made).
 *
 * @example
 * const runtime = refusing(world.runtime(), (port, method, args) => (args[0] === 'Bad NS!' ? badNamespace('Bad NS!') : undefined));
 */
import { ErrorKind, KukeError } from '../../src/errors.js';
import type { Runtime } from '../../src/runtime/ports.js';

export type Refusal = (port: keyof Runtime, method: string, args: unknown[]) => KukeError | undefined;

export function refusing(runtime: Runtime, refuse: Refusal): Runtime {
  const wrap = <T extends object>(port: keyof Runtime, target: T): T =>
    new Proxy(target, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver) as unknown;
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        return (...args: unknown[]) => {
          const error = refuse(port, prop, args);
          if (error) return Promise.reject(error);
          return (value as (...a: unknown[]) => unknown).apply(obj, args);
        };
      },
    });
  return {
    containers: wrap('containers', runtime.containers),
    cgroups: wrap('cgroups', runtime.cgroups),
    networks: wrap('networks', runtime.networks),
    logs: wrap('logs', runtime.logs),
    cellFiles: wrap('cellFiles', runtime.cellFiles),
    secrets: wrap('secrets', runtime.secrets),
  };
}

/** The error containerd gives for a namespace its validation refuses (InvalidArgument). */
export function badNamespace(namespace: string): KukeError {
  return new KukeError(ErrorKind.InvalidArgument, `namespace validation: ${JSON.stringify(namespace)}: invalid namespace name`);
}

/** Refuses every containerd call made in `namespace` (its first argument), as containerd does for an invalid name. */
export function refuseNamespace(namespace: string): Refusal {
  return (port, _method, args) => (port === 'containers' && args[0] === namespace ? badNamespace(namespace) : undefined);
}
