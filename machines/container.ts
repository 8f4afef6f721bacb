/**
 * The container lifecycle: one containerd container and its task.
 *
 *   Absent ─CreateContainer→ Creating ─ContainerCreated→ Created ─StartContainer→ Starting ─TaskStarted→ Running
 *   Running ─TaskExited/TaskLost→ Exited          Running ─StopContainer→ Stopping ─TaskExited→ Stopped
 *   Starting|Running|Stopping ─TaskOomKilled→ (same state, marked OOM-killed until the next start)
 *   Created|Stopped|Exited|Failed ─StartContainer→ Starting          any settled ─DeleteContainer→ Deleting
 *   Deleting ─ContainerDeleted→ Deleted ─CreateContainer→ Creating (a new life)   transient ─EffectFailed→ Failed
 *
 *   any live state ─ReconcileFailed→ Failed          any live state ─ForceDeleted→ Deleted (machines/live.ts)
 *
 * Restarts by policy (issue 12) are events too, so that a daemon restart keeps them: the engine records
 *   Exited ─RestartScheduled→ Exited (backoff pending)   Exited ─RestartsExhausted→ Exited (gave up)
 *   Exited ─StartContainer{restart}→ Starting (restarts+1, row = attempt)   Running ─RestartsReset→ Running (row 0)
 * and {@link isFailing} reads from them whether the container keeps failing (its cell shows Degraded).
 *
 * Pure: the machine decides, the engine acts. Each transient state requests exactly one idempotent effect
 * (TRANSIENT_EFFECTS), which the engine runs after the event is durable and re-issues after a crash.
 */
import { assign, setup } from 'xstate';
import type { z } from 'zod';
import type * as E from '../events/container.js';
import type { EffectFailed, ForceDeleted, ReconcileFailed } from '../events/common.js';
import type { ContainerTemplate, RecordedError } from '../events/specs.js';
import { FAILED_EXITS, LIVE_EXITS } from './live.js';

/** Bumped whenever a transition or an assignment changes: invalidates stored snapshots. */
export const MACHINE_VERSION = 5;

/** Where the container sits; fixed for the life of the stream. */
export interface ContainerIdentity {
  realm: string;
  space: string;
  stack: string;
  cell: string;
  /** User-visible name: the manifest name, or `<cell>_root` for the root container. */
  name: string;
}

export type NetworkMode = z.infer<typeof E.NetworkModeSchema>;

export interface ContainerContext extends ContainerIdentity {
  root: boolean;
  namespace: string;
  containerdId: string;
  template: ContainerTemplate | null;
  network: NetworkMode | null;
  /** Pid of the current task; null when none runs. */
  pid: number | null;
  /**
   * The address the current (or last) start attached to the task's new network namespace (`10.88.0.2/24`); null
   * when that start attached none (a joined or host network, or a record from before issue 10).
   */
  address: string | null;
  /** Last exit: code (null when unknown, e.g. a lost task) and the signal's name when killed by one. */
  exitCode: number | null;
  exitSignal: string | null;
  /** An exit reported while Starting (before TaskStarted was recorded); applied when the pid matches. */
  pendingExit: { pid: number; code: number; signal: string | null } | null;
  /** Starts that reached Running, whoever asked for them. */
  starts: number;
  /** Restarts by the restart policy over the container's life; never decreases within a life. */
  restarts: number;
  /** Attempt number of the last restart of the current row (0: no row; a stable run or a fresh start ends it). */
  row: number;
  /** The restart the policy owes and when it may run; null when none is pending. */
  backoff: { attempt: number; notBefore: string } | null;
  /** `on-failure` gave up (restartMaxRetries in a row); cleared by the next start. */
  gaveUp: boolean;
  /** The stop in progress (signal, then SIGKILL after graceMs). */
  stop: { signal: string; graceMs: number } | null;
  /** The OOM killer struck during the current (or last) run. */
  oomKilled: boolean;
  error: RecordedError | null;
}

type Payload<T extends z.ZodType> = z.infer<T>;

/** Every event the machine accepts. */
export type ContainerEvent =
  | ({ type: 'CreateContainer' } & Payload<typeof E.CreateContainerV1>)
  | ({ type: 'ContainerCreated' } & Payload<typeof E.ContainerCreatedV1>)
  | ({ type: 'UpdateContainer' } & Payload<typeof E.UpdateContainerV1>)
  | ({ type: 'StartContainer' } & Payload<typeof E.StartContainerV1>)
  | ({ type: 'TaskStarted' } & Payload<typeof E.TaskStartedV1>)
  | ({ type: 'StopContainer' } & Payload<typeof E.StopContainerV1>)
  | ({ type: 'TaskExited' } & Payload<typeof E.TaskExitedV2>)
  | ({ type: 'TaskLost' } & Payload<typeof E.TaskLostV1>)
  | ({ type: 'TaskOomKilled' } & Payload<typeof E.TaskOomKilledV1>)
  | ({ type: 'RestartScheduled' } & Payload<typeof E.RestartScheduledV1>)
  | ({ type: 'RestartsExhausted' } & Payload<typeof E.RestartsExhaustedV1>)
  | ({ type: 'RestartsReset' } & Payload<typeof E.RestartsResetV1>)
  | ({ type: 'DeleteContainer' } & Payload<typeof E.DeleteContainerV1>)
  | ({ type: 'ContainerDeleted' } & Payload<typeof E.ContainerDeletedV1>)
  | ({ type: 'EffectFailed' } & EffectFailed)
  | ({ type: 'ReconcileFailed' } & ReconcileFailed)
  | ({ type: 'ForceDeleted' } & ForceDeleted);

/** What every container effect needs to find its resources. */
export interface ContainerTarget extends ContainerIdentity {
  root: boolean;
  namespace: string;
  containerdId: string;
}

/** Effect requests (idempotent; keyed by containerdId). */
export type ContainerEffect =
  | { type: 'createContainer'; params: ContainerTarget & { template: ContainerTemplate } }
  | { type: 'startContainer'; params: ContainerTarget & { template: ContainerTemplate; network: NetworkMode } }
  | { type: 'stopContainer'; params: ContainerTarget & { signal: string; graceMs: number } }
  | { type: 'deleteContainer'; params: ContainerTarget };

/** The states users see (plus Absent and Deleted, which exist only in the log). */
export const CONTAINER_STATES = [
  'Absent',
  'Creating',
  'Created',
  'Starting',
  'Running',
  'Stopping',
  'Stopped',
  'Exited',
  'Failed',
  'Deleting',
  'Deleted',
] as const;
export type ContainerState = (typeof CONTAINER_STATES)[number];

/** The one effect each transient state requests; reconcile re-issues it after a restart. */
export const TRANSIENT_EFFECTS = {
  Creating: 'createContainer',
  Starting: 'startContainer',
  Stopping: 'stopContainer',
  Deleting: 'deleteContainer',
} as const satisfies Partial<Record<ContainerState, ContainerEffect['type']>>;

function freshContext(identity: ContainerIdentity): ContainerContext {
  return {
    realm: identity.realm,
    space: identity.space,
    stack: identity.stack,
    cell: identity.cell,
    name: identity.name,
    root: false,
    namespace: '',
    containerdId: '',
    template: null,
    network: null,
    pid: null,
    address: null,
    exitCode: null,
    exitSignal: null,
    pendingExit: null,
    starts: 0,
    restarts: 0,
    row: 0,
    backoff: null,
    gaveUp: false,
    stop: null,
    oomKilled: false,
    error: null,
  };
}

const target = (c: ContainerContext): ContainerTarget => ({
  realm: c.realm,
  space: c.space,
  stack: c.stack,
  cell: c.cell,
  name: c.name,
  root: c.root,
  namespace: c.namespace,
  containerdId: c.containerdId,
});

/**
 * Parameters of each effect, from the context alone, so that reconcile can re-issue a transient state's effect
 * after a restart exactly as the entry action requested it.
 */
export const effectParams = {
  createContainer: (c: ContainerContext) => ({ ...target(c), template: c.template! }),
  startContainer: (c: ContainerContext) => ({ ...target(c), template: c.template!, network: c.network! }),
  stopContainer: (c: ContainerContext) => ({
    ...target(c),
    signal: c.stop?.signal ?? 'SIGKILL',
    graceMs: c.stop?.graceMs ?? 0,
  }),
  deleteContainer: (c: ContainerContext) => target(c),
} satisfies { [K in ContainerEffect['type']]: (c: ContainerContext) => Extract<ContainerEffect, { type: K }>['params'] };

/** Effects are executed by the engine from the transition's result, never by XState: these bodies stay empty. */
const requested = () => undefined;

/** Created, Stopped, Exited and Failed accept the same commands: a container at rest, with no task running. */
const AT_REST = {
  on: {
    UpdateContainer: { actions: 'recordTemplate' },
    StartContainer: { target: 'Starting', actions: 'recordStart' },
    DeleteContainer: 'Deleting',
    ...LIVE_EXITS,
  },
} as const;

export const containerMachine = setup({
  types: {
    context: {} as ContainerContext,
    events: {} as ContainerEvent,
    input: {} as ContainerIdentity,
  },
  actions: {
    createContainer: requested as (_: unknown, params: ContainerTarget & { template: ContainerTemplate }) => void,
    startContainer: requested as (
      _: unknown,
      params: ContainerTarget & { template: ContainerTemplate; network: NetworkMode },
    ) => void,
    stopContainer: requested as (_: unknown, params: ContainerTarget & { signal: string; graceMs: number }) => void,
    recordStop: assign(({ event }) => {
      const e = event as Extract<ContainerEvent, { type: 'StopContainer' }>;
      return { stop: { signal: e.signal, graceMs: e.graceMs } };
    }),
    deleteContainer: requested as (_: unknown, params: ContainerTarget) => void,
    recordCreate: assign(({ event }) => {
      const e = event as Extract<ContainerEvent, { type: 'CreateContainer' }>;
      return { template: e.template, root: e.root, namespace: e.namespace, containerdId: e.containerdId, error: null };
    }),
    resetLife: assign(({ context }) => ({ ...freshContext(context) })),
    recordTemplate: assign(({ event }) => ({
      template: (event as Extract<ContainerEvent, { type: 'UpdateContainer' }>).template,
    })),
    recordStart: assign(({ context, event }) => {
      const e = event as Extract<ContainerEvent, { type: 'StartContainer' }>;
      return {
        network: e.network,
        pendingExit: null,
        oomKilled: false,
        error: null,
        // A restart by policy counts and continues its row; any other start (the cell's) begins afresh.
        restarts: context.restarts + (e.restart ? 1 : 0),
        row: e.restart?.attempt ?? 0,
        backoff: null,
        gaveUp: false,
      };
    }),
    recordBackoff: assign(({ event }) => {
      const e = event as Extract<ContainerEvent, { type: 'RestartScheduled' }>;
      return { backoff: { attempt: e.attempt, notBefore: e.notBefore } };
    }),
    recordGaveUp: assign({ backoff: null, gaveUp: true }),
    recordStable: assign({ row: 0 }),
    recordOom: assign({ oomKilled: true }),
    recordPid: assign(({ context, event }) => {
      const e = event as Extract<ContainerEvent, { type: 'TaskStarted' }>;
      return { pid: e.pid, address: e.address ?? null, starts: context.starts + 1 };
    }),
    recordPendingExit: assign(({ event }) => {
      const e = event as Extract<ContainerEvent, { type: 'TaskExited' }>;
      return { pendingExit: { pid: e.pid, code: e.code, signal: e.signal ?? null } };
    }),
    applyPendingExit: assign(({ context }) => ({
      pid: null,
      exitCode: context.pendingExit?.code ?? null,
      exitSignal: context.pendingExit?.signal ?? null,
      pendingExit: null,
    })),
    recordExit: assign(({ event }) => {
      const e = event as Extract<ContainerEvent, { type: 'TaskExited' }>;
      return { pid: null, exitCode: e.code, exitSignal: e.signal ?? null };
    }),
    recordLost: assign({ pid: null, exitCode: null, exitSignal: null }),
    recordError: assign(({ event }) => ({ error: (event as Extract<ContainerEvent, { type: 'EffectFailed' | 'ReconcileFailed' }>).error })),
  },
  guards: {
    samePid: ({ context, event }) => (event as { pid?: number }).pid === context.pid,
    exitedWhileStarting: ({ context, event }) =>
      context.pendingExit !== null && context.pendingExit.pid === (event as { pid: number }).pid,
    // Restart bookkeeping is for containers that are not the root (the root's exit ends its cell) and is recorded
    // once: a second schedule of the same restart, or a second give-up, is refused and never reaches the log.
    restartable: ({ context }) => !context.root && !context.gaveUp && context.backoff === null,
    inRow: ({ context }) => context.row > 0,
  },
}).createMachine({
  id: 'container',
  initial: 'Absent',
  context: ({ input }) => freshContext(input),
  states: {
    Absent: {
      on: { CreateContainer: { target: 'Creating', actions: 'recordCreate' } },
    },
    Creating: {
      entry: { type: 'createContainer', params: ({ context }) => effectParams.createContainer(context) },
      on: {
        ContainerCreated: 'Created',
        EffectFailed: { target: 'Failed', actions: 'recordError' },
        ...LIVE_EXITS,
      },
    },
    Created: AT_REST,
    Starting: {
      entry: { type: 'startContainer', params: ({ context }) => effectParams.startContainer(context) },
      on: {
        TaskStarted: [
          { guard: 'exitedWhileStarting', target: 'Exited', actions: ['recordPid', 'applyPendingExit'] },
          { target: 'Running', actions: 'recordPid' },
        ],
        TaskExited: { actions: 'recordPendingExit' },
        TaskOomKilled: { actions: 'recordOom' },
        EffectFailed: { target: 'Failed', actions: 'recordError' },
        ...LIVE_EXITS,
      },
    },
    Running: {
      on: {
        StopContainer: { target: 'Stopping', actions: 'recordStop' },
        TaskExited: { guard: 'samePid', target: 'Exited', actions: 'recordExit' },
        TaskLost: { target: 'Exited', actions: 'recordLost' },
        TaskOomKilled: { actions: 'recordOom' },
        RestartsReset: { guard: 'inRow', actions: 'recordStable' },
        DeleteContainer: 'Deleting',
        ...LIVE_EXITS,
      },
    },
    Stopping: {
      entry: { type: 'stopContainer', params: ({ context }) => effectParams.stopContainer(context) },
      on: {
        TaskExited: { guard: 'samePid', target: 'Stopped', actions: 'recordExit' },
        TaskLost: { target: 'Stopped', actions: 'recordLost' },
        TaskOomKilled: { actions: 'recordOom' },
        // The task may still run: back to Running, with the error, so a stop can be retried.
        EffectFailed: { target: 'Running', actions: 'recordError' },
        ...LIVE_EXITS,
      },
    },
    Stopped: AT_REST,
    // Only an exit by itself is owed a restart by policy (a stop is not).
    Exited: {
      on: {
        ...AT_REST.on,
        RestartScheduled: { guard: 'restartable', actions: 'recordBackoff' },
        RestartsExhausted: { guard: 'restartable', actions: 'recordGaveUp' },
      },
    },
    Failed: { on: { ...AT_REST.on, ...FAILED_EXITS } },
    Deleting: {
      entry: { type: 'deleteContainer', params: ({ context }) => effectParams.deleteContainer(context) },
      on: {
        ContainerDeleted: 'Deleted',
        EffectFailed: { target: 'Failed', actions: 'recordError' },
        ...LIVE_EXITS,
      },
    },
    // Not final: a container of the same name can be created again later (a new life of the same stream).
    Deleted: { on: { CreateContainer: { target: 'Creating', actions: ['resetLife', 'recordCreate'] } } },
  },
});

/**
 * Whether a container keeps failing, which makes its Ready cell Degraded (issue 12): it is not the root, and it is
 * Failed (a restart could not start), or owed a restart (backoff pending), or its `on-failure` policy gave up, or it
 * was restarted and has not yet run long enough to end the row (RestartsReset). A container that exits under policy
 * `never`, or cleanly under `on-failure`, is not failing: nothing is owed.
 */
export function isFailing(state: string, c: ContainerContext): boolean {
  if (c.root || state === 'Deleted' || state === 'Absent') return false;
  return state === 'Failed' || c.backoff !== null || c.gaveUp || c.row > 0;
}
