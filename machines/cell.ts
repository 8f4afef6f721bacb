/**
 * The cell lifecycle. A cell coordinates its containers (aggregates of their own, machines/container.ts): its
 * effects are sagas the engine runs by commanding the containers and the network, and their outcome comes back
 * as one fact (CellStarted, CellStopped, CellDeleted) or EffectFailed.
 *
 *   Absent ─CreateCell→ Pending ─StartCell→ Creating ─CellStarted→ Ready
 *   Ready ─StopCell→ Stopping ─CellStopped→ Stopped         Ready ─ContainerExited(root)→ Stopping ─CellStopped→ Exited
 *   Creating ─ContainerExited(root)→ Stopping (a root that exits as it starts, a one-shot: the cell ends Exited)
 *   Pending|Stopped|Exited|Failed ─StartCell→ Creating       settled ─DeleteCell→ Deleting ─CellDeleted→ Deleted
 *   Deleted ─CreateCell→ Pending (a new life of the same stream)
 *   Ready ─ContainerFailing→ Degraded ─ContainerRecovered (the last failing one)→ Ready   (issue 12; Degraded
 *     accepts what Ready accepts: a Degraded cell runs, its root included)
 *   Creating|Stopping|Deleting ─EffectFailed→ Failed
 *   any live state ─ReconcileFailed→ Failed          any live state ─ForceDeleted→ Deleted (machines/live.ts)
 */
import { assign, setup } from 'xstate';
import type { z } from 'zod';
import type * as E from '../events/cell.js';
import type { EffectFailed, ForceDeleted, ReconcileFailed } from '../events/common.js';
import type { CellTemplate, RecordedError } from '../events/specs.js';
import { FAILED_EXITS, LIVE_EXITS } from './live.js';

/** Bumped whenever a transition or an assignment changes: invalidates stored snapshots. */
export const MACHINE_VERSION = 5;

/** Where the cell sits; fixed for the life of the stream. */
export interface CellIdentity {
  realm: string;
  space: string;
  stack: string;
  name: string;
}

/** Why the cell is stopping: an operator's stop or kill, or its root container exited by itself. */
export type StopReason = 'stop' | 'kill' | 'exited';

export interface CellContext extends CellIdentity {
  template: CellTemplate | null;
  rootPid: number | null;
  /** The cell's address on its space's network, e.g. `10.88.0.2/24`; null when not attached or host network. */
  address: string | null;
  stop: { reason: StopReason; graceMs: number } | null;
  /** Exit codes of containers that exited by themselves since the cell's start (null = unknown). */
  exits: Record<string, number | null>;
  /** Containers (not the root) that keep failing while the cell runs, sorted; the cell is Degraded while any. */
  failing: string[];
  /** The pending delete keeps the containers' logs (`--keep-logs`); false otherwise. */
  keepLogs: boolean;
  error: RecordedError | null;
}

type Payload<T extends z.ZodType> = z.infer<T>;

export type CellEvent =
  | ({ type: 'CreateCell' } & Payload<typeof E.CreateCellV1>)
  | ({ type: 'UpdateCell' } & Payload<typeof E.UpdateCellV1>)
  | ({ type: 'StartCell' } & Payload<typeof E.StartCellV1>)
  | ({ type: 'CellStarted' } & Payload<typeof E.CellStartedV1>)
  | ({ type: 'StopCell' } & Payload<typeof E.StopCellV1>)
  | ({ type: 'ContainerExited' } & Payload<typeof E.ContainerExitedV1>)
  | ({ type: 'ContainerFailing' } & Payload<typeof E.ContainerFailingV1>)
  | ({ type: 'ContainerRecovered' } & Payload<typeof E.ContainerRecoveredV1>)
  | ({ type: 'CellStopped' } & Payload<typeof E.CellStoppedV1>)
  | ({ type: 'DeleteCell' } & Payload<typeof E.DeleteCellV2>)
  | ({ type: 'CellDeleted' } & Payload<typeof E.CellDeletedV1>)
  | ({ type: 'EffectFailed' } & EffectFailed)
  | ({ type: 'ReconcileFailed' } & ReconcileFailed)
  | ({ type: 'ForceDeleted' } & ForceDeleted);

export interface CellTarget extends CellIdentity {
  template: CellTemplate;
}

export type CellEffect =
  | { type: 'startCell'; params: CellTarget }
  | { type: 'stopCell'; params: CellTarget & { reason: StopReason; graceMs: number } }
  | { type: 'deleteCell'; params: CellTarget & { keepLogs: boolean } };

export const CELL_STATES = [
  'Absent',
  'Pending',
  'Creating',
  'Ready',
  'Degraded',
  'Stopping',
  'Stopped',
  'Exited',
  'Failed',
  'Deleting',
  'Deleted',
] as const;
export type CellState = (typeof CELL_STATES)[number];

/** States in which a cell runs (its root with it): Ready, or Degraded when some other container keeps failing. */
export const RUNNING_CELL_STATES: readonly string[] = ['Ready', 'Degraded'] satisfies CellState[];

/** Whether a cell in `state` runs (Ready or Degraded). */
export function isRunningCell(state: string): boolean {
  return RUNNING_CELL_STATES.includes(state);
}

/** The one effect each transient state requests; reconcile re-issues it after a restart. */
export const TRANSIENT_EFFECTS = {
  Creating: 'startCell',
  Stopping: 'stopCell',
  Deleting: 'deleteCell',
} as const satisfies Partial<Record<CellState, CellEffect['type']>>;

function freshContext(identity: CellIdentity): CellContext {
  return {
    realm: identity.realm,
    space: identity.space,
    stack: identity.stack,
    name: identity.name,
    template: null,
    rootPid: null,
    address: null,
    stop: null,
    exits: {},
    failing: [],
    keepLogs: false,
    error: null,
  };
}

const target = (c: CellContext): CellTarget => ({
  realm: c.realm,
  space: c.space,
  stack: c.stack,
  name: c.name,
  template: c.template!,
});

/** Parameters of each effect from the context alone (reconcile re-issues them after a restart). */
export const effectParams = {
  startCell: (c: CellContext) => target(c),
  stopCell: (c: CellContext) => ({
    ...target(c),
    reason: c.stop?.reason ?? 'kill',
    graceMs: c.stop?.graceMs ?? 0,
  }),
  deleteCell: (c: CellContext) => ({ ...target(c), keepLogs: c.keepLogs }),
} satisfies { [K in CellEffect['type']]: (c: CellContext) => Extract<CellEffect, { type: K }>['params'] };

const requested = () => undefined;

/** Pending, Stopped and Exited accept the same commands: a cell at rest, with nothing running. */
const AT_REST = {
  on: {
    UpdateCell: { actions: 'recordTemplate' },
    StartCell: { target: 'Creating', actions: 'recordStartRequest' },
    DeleteCell: { target: 'Deleting', actions: 'recordDeleteRequest' },
    ...LIVE_EXITS,
  },
} as const;

/** Ready and Degraded accept the same commands: a running cell. */
const RUNNING = {
  on: {
    StopCell: { target: 'Stopping', actions: 'recordStopRequest' },
    ContainerExited: [
      { guard: 'rootExited', target: 'Stopping', actions: ['recordExit', 'recordRootExit'] },
      { actions: 'recordExit' },
    ],
    DeleteCell: { target: 'Deleting', actions: 'recordDeleteRequest' },
    ...LIVE_EXITS,
  },
} as const;

export const cellMachine = setup({
  types: {
    context: {} as CellContext,
    events: {} as CellEvent,
    input: {} as CellIdentity,
  },
  actions: {
    startCell: requested as (_: unknown, params: CellTarget) => void,
    stopCell: requested as (_: unknown, params: CellTarget & { reason: StopReason; graceMs: number }) => void,
    deleteCell: requested as (_: unknown, params: CellTarget & { keepLogs: boolean }) => void,
    resetLife: assign(({ context }) => ({ ...freshContext(context) })),
    recordTemplate: assign(({ event }) => ({
      template: (event as Extract<CellEvent, { type: 'CreateCell' | 'UpdateCell' }>).template,
    })),
    recordStartRequest: assign({ error: null, exits: {}, stop: null, failing: [] }),
    recordStarted: assign(({ event }) => {
      const e = event as Extract<CellEvent, { type: 'CellStarted' }>;
      return { rootPid: e.rootPid, address: e.address ?? null };
    }),
    recordStopRequest: assign(({ event }) => {
      const e = event as Extract<CellEvent, { type: 'StopCell' }>;
      return { stop: { reason: e.mode, graceMs: e.mode === 'kill' ? 0 : e.graceMs } };
    }),
    recordExit: assign(({ context, event }) => {
      const e = event as Extract<CellEvent, { type: 'ContainerExited' }>;
      return { exits: { ...context.exits, [e.container]: e.code } };
    }),
    recordRootExit: assign({ stop: { reason: 'exited' as StopReason, graceMs: 0 } }),
    recordStopped: assign({ rootPid: null, address: null, failing: [] }),
    recordFailing: assign(({ context, event }) => ({
      failing: [...context.failing, (event as Extract<CellEvent, { type: 'ContainerFailing' }>).container].sort(),
    })),
    recordRecovered: assign(({ context, event }) => {
      const name = (event as Extract<CellEvent, { type: 'ContainerRecovered' }>).container;
      return { failing: context.failing.filter((n) => n !== name) };
    }),
    recordDeleteRequest: assign(({ event }) => ({ keepLogs: (event as Extract<CellEvent, { type: 'DeleteCell' }>).keepLogs === true })),
    recordError: assign(({ event }) => ({ error: (event as Extract<CellEvent, { type: 'EffectFailed' | 'ReconcileFailed' }>).error })),
  },
  guards: {
    rootExited: ({ event }) => (event as Extract<CellEvent, { type: 'ContainerExited' }>).root,
    stoppedByExit: ({ context }) => context.stop?.reason === 'exited',
    // Each container is listed once and recovers once: a repeated fact is refused and never reaches the log.
    notListed: ({ context, event }) => !context.failing.includes((event as { container: string }).container),
    listed: ({ context, event }) => context.failing.includes((event as { container: string }).container),
    lastFailing: ({ context, event }) =>
      context.failing.length === 1 && context.failing[0] === (event as { container: string }).container,
  },
}).createMachine({
  id: 'cell',
  initial: 'Absent',
  context: ({ input }) => freshContext(input),
  states: {
    Absent: {
      on: { CreateCell: { target: 'Pending', actions: 'recordTemplate' } },
    },
    Pending: AT_REST,
    Creating: {
      entry: { type: 'startCell', params: ({ context }) => effectParams.startCell(context) },
      on: {
        CellStarted: { target: 'Ready', actions: 'recordStarted' },
        // A root that exits by itself as it starts ends the cell Exited with its code, never Failed (issue 10).
        ContainerExited: [
          { guard: 'rootExited', target: 'Stopping', actions: ['recordExit', 'recordRootExit'] },
          { actions: 'recordExit' },
        ],
        EffectFailed: { target: 'Failed', actions: 'recordError' },
        ...LIVE_EXITS,
      },
    },
    Ready: {
      on: {
        ...RUNNING.on,
        ContainerFailing: { guard: 'notListed', target: 'Degraded', actions: 'recordFailing' },
      },
    },
    Degraded: {
      on: {
        ...RUNNING.on,
        ContainerFailing: { guard: 'notListed', actions: 'recordFailing' },
        ContainerRecovered: [
          { guard: 'lastFailing', target: 'Ready', actions: 'recordRecovered' },
          { guard: 'listed', actions: 'recordRecovered' },
        ],
      },
    },
    Stopping: {
      entry: { type: 'stopCell', params: ({ context }) => effectParams.stopCell(context) },
      on: {
        CellStopped: [
          { guard: 'stoppedByExit', target: 'Exited', actions: 'recordStopped' },
          { target: 'Stopped', actions: 'recordStopped' },
        ],
        EffectFailed: { target: 'Failed', actions: 'recordError' },
        ...LIVE_EXITS,
      },
    },
    Stopped: AT_REST,
    Exited: AT_REST,
    // A failed start may have left containers running: a stop is accepted to put them down.
    Failed: { on: { ...AT_REST.on, StopCell: { target: 'Stopping', actions: 'recordStopRequest' }, ...FAILED_EXITS } },
    Deleting: {
      entry: { type: 'deleteCell', params: ({ context }) => effectParams.deleteCell(context) },
      on: {
        CellDeleted: 'Deleted',
        EffectFailed: { target: 'Failed', actions: 'recordError' },
        ...LIVE_EXITS,
      },
    },
    // Not final: a cell of the same name can be created again later (a new life of the same stream).
    Deleted: { on: { CreateCell: { target: 'Pending', actions: ['resetLife', 'recordTemplate'] } } },
  },
});
