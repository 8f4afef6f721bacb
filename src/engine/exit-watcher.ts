/**
 * Turns the runtime's task exits into TaskExited facts (actor `runtime`), and relists after every reconnect:
 * exits that happened while the event stream was down are only found that way.
 */
import type { Runtime, Subscription } from '../runtime/ports.js';
import type { ContainerContext } from '../../machines/container.js';
import { exitData } from './effects.js';
import type { Engine } from './engine.js';
import { reconcile } from './reconcile.js';

/** Starts watching; `close()` the returned subscription on shutdown. */
export function watchExits(engine: Engine, runtime: Runtime): Subscription {
  let resyncing: Promise<unknown> | undefined;
  return runtime.containers.watchExits({
    onExit: (exit) => {
      for (const agg of engine.all()) {
        if (agg.kind !== 'container') continue;
        const c = agg.snapshot.context as ContainerContext;
        if (c.containerdId !== exit.id || c.namespace !== exit.namespace) continue;
        void engine
          .dispatch(agg.stream, 'TaskExited', exitData(exit.pid, exit.exitCode, exit.exitedAt), { actor: { type: 'runtime' } })
          .catch((err) => {
            if (!engine.isClosed) engine.logger.error({ err, stream: agg.stream }, 'could not record a task exit');
          });
        return;
      }
    },
    onResync: () => {
      if (resyncing || engine.isClosed) return;
      resyncing = reconcile(engine, runtime, { scope: 'tasks' })
        .catch((err) => {
          if (!engine.isClosed) engine.logger.error({ err }, 'relist after reconnect failed');
        })
        .finally(() => {
          resyncing = undefined;
        });
    },
  });
}
