/**
 * Task exits and OOM kills from containerd's event stream, for every namespace with kukeon's suffix.
 *
 * The stream is live only and not scoped by the namespace header, so the subscription filters on topic and
 * namespace, and reconnects with backoff when it ends (containerd restarted). Exits that happen while disconnected
 * are never pushed: after every (re)connection `onResync` is called and the caller relists.
 *
 * When is a subscription live? containerd sends no response headers until the first event. So each connection
 * subscribes to a probe topic of its own too, publishes one probe event, and calls `onResync` when the probe comes
 * back: from then on every exit is either pushed or visible to the relist. Without that, a relist could run before
 * the subscription is registered and an exit in between would be lost.
 */
import { randomBytes } from 'node:crypto';
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Logger } from '../../log.js';
import type { Subscription, TaskExit } from '../ports.js';
import { isoTime, type Connection } from './connection.js';
import { TaskExit as TaskExitEvent, TaskOOM } from './gen/containerd/events/task.js';
import type { Envelope } from './gen/containerd/services/events/v1/events.js';

/** Topics we watch. */
export const TOPICS = { exit: '/tasks/exit', oom: '/tasks/oom' } as const;
/** First and longest pause between reconnection attempts. */
const BACKOFF_MS = { first: 100, max: 2_000 };
/** Namespace the probe is published in (any valid name; the probe filter does not look at it). */
const PROBE_NAMESPACE = 'kukeon-probe';

/** What the watcher reports. */
export interface ExitHandlers {
  onExit: (exit: TaskExit) => void;
  /** After every (re)connection, once the subscription is live: relist now. */
  onResync: () => void;
  onOom?: (task: { namespace: string; id: string }) => void;
}

/**
 * The subscription filters: exit and OOM topics in namespaces ending in `.<suffix>`, and this connection's probe.
 * The suffix only holds [A-Za-z0-9._-]; each character that is special in a regexp is put in a bracket class, so the
 * filter needs no backslash escapes.
 */
export function exitFilters(namespaceSuffix: string, probeTopic: string): string[] {
  if (!/^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/.test(namespaceSuffix)) throw new Error(`invalid namespace suffix ${namespaceSuffix}`);
  const pattern = `[.]${namespaceSuffix.replace(/[.-]/g, (c) => `[${c}]`)}$`;
  return [...Object.values(TOPICS).map((topic) => `topic=="${topic}",namespace~="${pattern}"`), `topic=="${probeTopic}"`];
}

/** Subscribes; the subscription reconnects until closed. */
export function watchTaskExits(conn: Connection, namespaceSuffix: string, handlers: ExitHandlers, logger?: Logger): Subscription {
  let closed = false;
  let stream: ClientReadableStream<Envelope> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let backoff = BACKOFF_MS.first;
  const ours = (namespace: string) => namespace.endsWith(`.${namespaceSuffix}`);

  // A handler's bug must not end the subscription, nor surface as an uncaught exception of the stream.
  const safely = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      logger?.error({ err }, `exit watcher: ${what} handler failed`);
    }
  };

  const connect = () => {
    if (closed) return;
    const probeTopic = `/kukeon/probe/${randomBytes(8).toString('hex')}`;
    let live = false;
    const goLive = () => {
      if (live) return;
      live = true;
      backoff = BACKOFF_MS.first;
      logger?.debug('containerd event stream live');
      safely('resync', handlers.onResync);
    };
    const dispatch = (envelope: Envelope) => {
      if (envelope.topic === probeTopic) return goLive();
      if (!envelope.event || !ours(envelope.namespace)) return;
      if (envelope.topic === TOPICS.oom) {
        const id = TaskOOM.decode(envelope.event.value).containerId;
        return safely('oom', () => handlers.onOom?.({ namespace: envelope.namespace, id }));
      }
      if (envelope.topic !== TOPICS.exit) return;
      const e = TaskExitEvent.decode(envelope.event.value);
      // Exits of exec'd processes carry their exec id; only the init process's exit ends the task.
      if (e.id && e.id !== e.containerId) return;
      const exit: TaskExit = { namespace: envelope.namespace, id: e.containerId, pid: e.pid, exitCode: e.exitStatus, exitedAt: isoTime(e.exitedAt) ?? new Date().toISOString() };
      safely('exit', () => handlers.onExit(exit));
    };

    const s = conn.events.subscribe({ filters: exitFilters(namespaceSuffix, probeTopic) }, conn.metadata(), conn.callOptions({ timeoutMs: null }));
    stream = s;
    const reconnect = (why: string) => {
      if (closed || stream !== s) return;
      stream = undefined;
      s.cancel();
      logger?.warn({ why, retryInMs: backoff }, 'containerd event stream ended; reconnecting');
      retry = setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, BACKOFF_MS.max);
    };
    s.on('data', (envelope: Envelope) => {
      if (!closed && stream === s) dispatch(envelope);
    });
    s.on('error', (err: Error) => reconnect(err.message));
    s.on('end', () => reconnect('the stream ended'));

    // The subscription cannot have reached the server when subscribe() returns, but probes are cheap: publish until
    // one comes back (normally the first).
    const probe = (attempt: number) => {
      if (closed || stream !== s || live) return;
      const event = { typeUrl: 'kukeon.events.Probe', value: Buffer.alloc(0) };
      conn.unary(conn.events, 'publish', { topic: probeTopic, event }, 'publishing the event-stream probe', { namespace: PROBE_NAMESPACE, timeoutMs: 5_000 }).then(
        () => setTimeout(() => probe(attempt + 1), Math.min(50 * 2 ** attempt, 1_000)),
        (err: unknown) => {
          // containerd is down: the stream fails too, and reconnects. Otherwise (a containerd without Publish?) assume
          // the stream is live after a moment.
          logger?.debug({ err }, 'event-stream probe failed');
          setTimeout(() => {
            if (!closed && stream === s) goLive();
          }, 200);
        },
      );
    };
    probe(0);
  };
  connect();
  return {
    close() {
      closed = true;
      if (retry) clearTimeout(retry);
      stream?.cancel();
      stream = undefined;
    },
  };
}
