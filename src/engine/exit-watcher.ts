/**
 * Turns the runtime's task exits and OOM kills into facts (actor `runtime`), and relists after every reconnect:
 * exits that happened while the event stream was down are only found that way.
 */
import type { Runtime, Subscription } from '../runtime/ports.js';
import type { ContainerContext } from '../../machines/container.js';
import { exitData } from './effects.js';
import type { Engine } from './engine.js';
import { reconcile } from './reconcile.js';

/**
 * Starts watching; `close()` the returned subscription on shutdown. With `skipFirstResync`, the relist when the
 * watcher first goes live is left out: for a caller that reconciles later on purpose (an in-process teardown of the
 * daemon's cell records the operator's command before any relist may record the exit on its own).
 */
export function watchExits(engine: Engine, runtime: Runtime, options: { skipFirstResync?: boolean } = {}): Subscription {
  let resyncing: Promise<unknown> | undefined;
  let skip = options.skipFirstResync === true;
  const record = (namespace: string, id: string, type: string, data: unknown) => {
    for (const agg of engine.all()) {
      if (agg.kind !== 'container') continue;
      const c = agg.snapshot.context as ContainerContext;
      if (c.containerdId !== id || c.namespace !== namespace) continue;
      void engine.dispatch(agg.stream, type, data, { actor: { type: 'runtime' } }).catch((err) => {
        if (!engine.isClosed) engine.logger.error({ err, stream: agg.stream, event: type }, 'could not record a runtime event');
      });
      return;
    }
  };
  return runtime.containers.watchExits({
    onExit: (exit) => record(exit.namespace, exit.id, 'TaskExited', exitData(exit.pid, exit.exitCode, exit.exitedAt)),
    onOom: (task) => record(task.namespace, task.id, 'TaskOomKilled', {}),
    onResync: () => {
      if (skip) {
        skip = false;
        return;
      }
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
