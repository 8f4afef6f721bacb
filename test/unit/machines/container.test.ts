import { describe, expect, it } from 'vitest';
import { containerMachine, isFailing, TRANSIENT_EFFECTS } from '../../../machines/container.js';
import { AGGREGATES } from '../../../machines/index.js';
import { accepts, run } from './helpers.js';

const input = { realm: 'r', space: 's', stack: 't', cell: 'c', name: 'c_root' };
const template = { name: 'main', image: 'busybox', command: [], args: [], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' };
const create = { type: 'CreateContainer', template, root: true, namespace: 'r.kukeon.io', containerdId: 's_t_c_root' };
const toRunning = [create, { type: 'ContainerCreated' }, { type: 'StartContainer', network: { mode: 'new' } }, { type: 'TaskStarted', pid: 42 }];

describe('container machine', () => {
  it('requests createContainer on CreateContainer and startContainer on StartContainer', () => {
    const { state, effects } = run(containerMachine, input, toRunning);
    expect(state).toBe('Running');
    expect(effects.map((e) => e.type)).toEqual(['createContainer', 'startContainer']);
    expect(effects[1]!.params).toMatchObject({ containerdId: 's_t_c_root', network: { mode: 'new' }, namespace: 'r.kukeon.io' });
  });

  it('records the exit code of a task that exits by itself', () => {
    const { state, snapshot } = run(containerMachine, input, [...toRunning, { type: 'TaskExited', pid: 42, code: 7 }]);
    expect(state).toBe('Exited');
    expect(snapshot.context).toMatchObject({ exitCode: 7, pid: null });
  });

  it('ignores an exit reported for another pid (a stale incarnation)', () => {
    expect(accepts(containerMachine, input, toRunning, { type: 'TaskExited', pid: 41, code: 0 })).toBe(false);
  });

  it('applies an exit that arrives before TaskStarted when the pid matches', () => {
    const events = [...toRunning.slice(0, 3), { type: 'TaskExited', pid: 42, code: 3 }, { type: 'TaskStarted', pid: 42 }];
    const { state, snapshot } = run(containerMachine, input, events);
    expect(state).toBe('Exited');
    expect(snapshot.context.exitCode).toBe(3);
  });

  it('hands its start the network to attach before the process runs, and records the address the start got', () => {
    const attach = { network: 'r.s.f0e1d2c3b4a59687', options: { ip: '10.88.0.9' } };
    const events = [create, { type: 'ContainerCreated' }, { type: 'StartContainer', network: { mode: 'new', attach } }, { type: 'TaskStarted', pid: 42, address: '10.88.0.9/24' }];
    const { state, effects, snapshot } = run(containerMachine, input, events);
    expect(effects.at(-1)).toMatchObject({ type: 'startContainer', params: { network: { mode: 'new', attach } } });
    expect(state).toBe('Running');
    expect(snapshot.context).toMatchObject({ pid: 42, address: '10.88.0.9/24' });
    // A start that attached nothing (a joined netns, or a record from before issue 10) has no address.
    expect(run(containerMachine, input, toRunning).snapshot.context.address).toBeNull();
  });

  it('stops with the requested signal and grace, then SIGKILL by default on re-issue', () => {
    const { state, effects, snapshot } = run(containerMachine, input, [...toRunning, { type: 'StopContainer', signal: 'SIGTERM', graceMs: 500 }]);
    expect(state).toBe('Stopping');
    expect(effects.at(-1)).toMatchObject({ type: 'stopContainer', params: { signal: 'SIGTERM', graceMs: 500 } });
    expect(AGGREGATES.container.transientEffect(snapshot as never)).toMatchObject({ type: 'stopContainer', params: { signal: 'SIGTERM', graceMs: 500 } });
  });

  it('ends Stopped (not Exited) when the exit comes from a stop', () => {
    const { state } = run(containerMachine, input, [...toRunning, { type: 'StopContainer', signal: 'SIGKILL', graceMs: 0 }, { type: 'TaskExited', pid: 42, code: 137, signal: 'SIGKILL' }]);
    expect(state).toBe('Stopped');
  });

  it('returns to Running with the error when a stop fails, so the stop can be retried', () => {
    const { state, snapshot } = run(containerMachine, input, [
      ...toRunning,
      { type: 'StopContainer', signal: 'SIGTERM', graceMs: 0 },
      { type: 'EffectFailed', effect: 'stopContainer', error: { kind: 'Unavailable', message: 'down' } },
    ]);
    expect(state).toBe('Running');
    expect(snapshot.context.error).toEqual({ kind: 'Unavailable', message: 'down' });
  });

  it('refuses to start a deleted container, and starts a new life on CreateContainer', () => {
    const deleted = [...toRunning, { type: 'DeleteContainer' }, { type: 'ContainerDeleted' }];
    expect(accepts(containerMachine, input, deleted, { type: 'StartContainer', network: { mode: 'new' } })).toBe(false);
    const { state, snapshot } = run(containerMachine, input, [...deleted, create]);
    expect(state).toBe('Creating');
    expect(snapshot.context).toMatchObject({ starts: 0, pid: null, exitCode: null });
  });

  it('counts starts, so restarts can be shown', () => {
    const { snapshot } = run(containerMachine, input, [
      ...toRunning,
      { type: 'TaskExited', pid: 42, code: 1 },
      { type: 'StartContainer', network: { mode: 'new' } },
      { type: 'TaskStarted', pid: 43 },
    ]);
    expect(snapshot.context.starts).toBe(2);
  });

  it('declares one effect for each transient state, and only those', () => {
    expect(Object.keys(TRANSIENT_EFFECTS).sort()).toEqual(['Creating', 'Deleting', 'Starting', 'Stopping']);
    const { snapshot } = run(containerMachine, input, toRunning);
    expect(AGGREGATES.container.transientEffect(snapshot as never)).toBeUndefined();
  });
});

describe('container machine: OOM kills', () => {
  it('marks the run OOM-killed, keeps it on the exit, and clears it on the next start', () => {
    const oom = run(containerMachine, input, [...toRunning, { type: 'TaskOomKilled' }, { type: 'TaskExited', pid: 42, code: 137, signal: 'SIGKILL' }]);
    expect(oom.state).toBe('Exited');
    expect(oom.snapshot.context).toMatchObject({ oomKilled: true, exitCode: 137 });
    const again = run(containerMachine, input, [...toRunning, { type: 'TaskOomKilled' }, { type: 'TaskExited', pid: 42, code: 137 }, { type: 'StartContainer', network: { mode: 'new' } }]);
    expect(again.snapshot.context.oomKilled).toBe(false);
  });
});

describe('container machine: restarts by policy (issue 12)', () => {
  const side = { ...input, name: 'side' };
  const sideCreate = { ...create, root: false, containerdId: 's_t_c_side', template: { ...template, restartPolicy: 'always' } };
  const running = [sideCreate, { type: 'ContainerCreated' }, { type: 'StartContainer', network: { mode: 'new' } }, { type: 'TaskStarted', pid: 42 }];
  const exited = [...running, { type: 'TaskExited', pid: 42, code: 1 }];
  const at = '2026-01-01T00:00:00.000Z';
  const restarted = (attempt: number, pid: number) => [
    { type: 'RestartScheduled', attempt, notBefore: at },
    { type: 'StartContainer', network: { mode: 'new' }, restart: { attempt } },
    { type: 'TaskStarted', pid },
  ];
  const state = (events: { type: string; [k: string]: unknown }[]) => {
    const r = run(containerMachine, side, events);
    return { ...r, failing: isFailing(r.state, r.snapshot.context) };
  };

  it('records a scheduled restart once, counts the restart, and keeps the row until the run is stable', () => {
    const scheduled = state([...exited, { type: 'RestartScheduled', attempt: 1, notBefore: at }]);
    expect(scheduled.snapshot.context).toMatchObject({ backoff: { attempt: 1, notBefore: at }, restarts: 0, row: 0 });
    expect(scheduled.failing).toBe(true);
    expect(accepts(containerMachine, side, [...exited, { type: 'RestartScheduled', attempt: 1, notBefore: at }], { type: 'RestartScheduled', attempt: 1, notBefore: at })).toBe(false);
    const again = state([...exited, ...restarted(1, 43)]);
    expect(again.state).toBe('Running');
    expect(again.snapshot.context).toMatchObject({ restarts: 1, row: 1, backoff: null, starts: 2 });
    expect(again.failing).toBe(true);
    const stable = state([...exited, ...restarted(1, 43), { type: 'RestartsReset' }]);
    expect(stable.snapshot.context).toMatchObject({ restarts: 1, row: 0 });
    expect(stable.failing).toBe(false);
    // A second reset has nothing to end.
    expect(accepts(containerMachine, side, [...exited, ...restarted(1, 43), { type: 'RestartsReset' }], { type: 'RestartsReset' })).toBe(false);
  });

  it('never counts a start of the cell as a restart, and such a start ends the row and a give-up', () => {
    const gaveUp = state([...exited, { type: 'RestartsExhausted', attempts: 5 }]);
    expect(gaveUp.snapshot.context).toMatchObject({ gaveUp: true, backoff: null });
    expect(gaveUp.failing).toBe(true);
    const fresh = state([...exited, ...restarted(1, 43), { type: 'TaskExited', pid: 43, code: 1 }, { type: 'RestartsExhausted', attempts: 1 }, { type: 'StartContainer', network: { mode: 'new' } }, { type: 'TaskStarted', pid: 44 }]);
    expect(fresh.snapshot.context).toMatchObject({ restarts: 1, row: 0, gaveUp: false, starts: 3 });
    expect(fresh.failing).toBe(false);
  });

  it('keeps no restart bookkeeping for the root, and owes nothing to a stop', () => {
    expect(accepts(containerMachine, input, [...toRunning, { type: 'TaskExited', pid: 42, code: 1 }], { type: 'RestartScheduled', attempt: 1, notBefore: at })).toBe(false);
    const stopped = [...running, { type: 'StopContainer', signal: 'SIGTERM', graceMs: 0 }, { type: 'TaskExited', pid: 42, code: 143 }];
    expect(accepts(containerMachine, side, stopped, { type: 'RestartScheduled', attempt: 1, notBefore: at })).toBe(false);
    expect(state(stopped).failing).toBe(false);
  });
});
