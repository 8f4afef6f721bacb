import { describe, expect, it } from 'vitest';
import { containerMachine, TRANSIENT_EFFECTS } from '../../../machines/container.js';
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
