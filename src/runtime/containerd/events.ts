/**
 * Task exits from containerd's event stream. The stream is live only and not scoped by namespace: we filter on
 * our namespaces' suffix and the exit/oom topics, reconnect with backoff when it ends (containerd restarted), and
 * call onResync after every (re)connection, because exits during the gap are never pushed: the caller relists.
 */
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Logger } from '../../log.js';
import type { Subscription, TaskExit } from '../ports.js';
import type { Connection } from './connection.js';
import { TaskExit as TaskExitMessage, TaskOOM } from './gen/containerd/events/task.js';
import type { Envelope } from './gen/containerd/services/events/v1/events.js';

/** Subscribes; the subscription reconnects until closed. */
export function watchTaskExits(
  conn: Connection,
  namespaceSuffix: string,
  handlers: { onExit: (exit: TaskExit) => void; onResync: () => void; onOom?: (task: { namespace: string; id: string }) => void },
  logger?: Logger,
): Subscription {
  let closed = false;
  let stream: ClientReadableStream<Envelope> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let backoff = 100;
  // Filter by topic on the server; the namespace suffix is checked here (regex escapes in filters are fragile).
  const filters = ['topic=="/tasks/exit"', 'topic=="/tasks/oom"'];
  const ours = (namespace: string) => namespace.endsWith(`.${namespaceSuffix}`);

  const connect = () => {
    if (closed) return;
    let announced = false;
    const s = conn.events.subscribe({ filters }, conn.meta());
    stream = s;
    // containerd sends no headers until the first event, so "subscribed" cannot be observed: give the call a
    // moment to reach the server, then ask the caller to relist (anything that exits from then on is pushed).
    const announce = () => {
      if (announced || closed || stream !== s) return;
      announced = true;
      backoff = 100;
      handlers.onResync();
    };
    const settle = setTimeout(announce, 150);
    s.on('data', (envelope: Envelope) => {
      announce();
      if (!envelope.event || !ours(envelope.namespace)) return;
      if (envelope.topic === '/tasks/oom') {
        handlers.onOom?.({ namespace: envelope.namespace, id: TaskOOM.decode(envelope.event.value).containerId });
        return;
      }
      if (envelope.topic !== '/tasks/exit') return;
      const e = TaskExitMessage.decode(envelope.event.value);
      // Exits of exec'd processes carry their exec id; only a container's init process ends its task.
      if (e.id && e.id !== e.containerId) return;
      const at = e.exitedAt && e.exitedAt.seconds > 0 ? new Date(e.exitedAt.seconds * 1000 + Math.floor(e.exitedAt.nanos / 1e6)).toISOString() : new Date().toISOString();
      handlers.onExit({ namespace: envelope.namespace, id: e.containerId, pid: e.pid, exitCode: e.exitStatus, exitedAt: at });
    });
    const reconnect = (why: string) => {
      clearTimeout(settle);
      if (closed || stream !== s) return;
      stream = undefined;
      logger?.warn({ why, retryInMs: backoff }, 'containerd event stream ended; reconnecting');
      retry = setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 5_000);
    };
    s.on('error', (err: Error) => reconnect(err.message));
    s.on('end', () => reconnect('end'));
  };
  connect();
  return {
    close() {
      closed = true;
      if (retry) clearTimeout(retry);
      stream?.cancel();
    },
  };
}
