/**
 * The daemon's own record (stream `daemon/kukeond`): kukeond appends DaemonStarted when it serves and
 * DaemonStopped when it drains. A start without a stop before it is an unclean shutdown (kill -9, crash).
 *
 *   Stopped ─DaemonStarted→ Running ─DaemonStopped→ Stopped        Running ─DaemonStarted→ Running (after a crash)
 *
 * LogRepaired (the log was cut back to its good prefix while the daemon was down) and AccessDenied (a request
 * refused for its caller's role) are counted in either state.
 */
import { assign, setup } from 'xstate';
import type { z } from 'zod';
import type * as E from '../events/daemon.js';

/** Bumped whenever a transition or an assignment changes: invalidates stored snapshots. */
export const MACHINE_VERSION = 3;

export interface DaemonContext {
  pid: number | null;
  version: string | null;
  starts: number;
  uncleanShutdowns: number;
  /** Repairs of the log (`kuke history repair`). */
  repairs?: number;
  /** Requests refused (AccessDenied). */
  denials?: number;
}

export type DaemonEvent =
  | ({ type: 'DaemonStarted' } & z.infer<typeof E.DaemonStartedV1>)
  | ({ type: 'DaemonStopped' } & z.infer<typeof E.DaemonStoppedV1>)
  | ({ type: 'LogRepaired' } & z.infer<typeof E.LogRepairedV1>)
  | ({ type: 'AccessDenied' } & z.infer<typeof E.AccessDeniedV1>);

export const DAEMON_STATES = ['Stopped', 'Running'] as const;

export const daemonMachine = setup({
  types: { context: {} as DaemonContext, events: {} as DaemonEvent },
  actions: {
    recordStart: assign(({ context, event }) => {
      const e = event as Extract<DaemonEvent, { type: 'DaemonStarted' }>;
      return {
        pid: e.pid,
        version: e.version,
        starts: context.starts + 1,
        uncleanShutdowns: context.uncleanShutdowns + (e.uncleanShutdown ? 1 : 0),
      };
    }),
    recordStop: assign({ pid: null }),
    recordRepair: assign({ repairs: ({ context }) => (context.repairs ?? 0) + 1 }),
    recordDenial: assign({ denials: ({ context }) => (context.denials ?? 0) + 1 }),
  },
}).createMachine({
  id: 'daemon',
  initial: 'Stopped',
  context: { pid: null, version: null, starts: 0, uncleanShutdowns: 0, repairs: 0, denials: 0 },
  on: { LogRepaired: { actions: 'recordRepair' }, AccessDenied: { actions: 'recordDenial' } },
  states: {
    Stopped: { on: { DaemonStarted: { target: 'Running', actions: 'recordStart' } } },
    Running: {
      on: {
        DaemonStarted: { target: 'Running', actions: 'recordStart', reenter: true },
        DaemonStopped: { target: 'Stopped', actions: 'recordStop' },
      },
    },
  },
});
