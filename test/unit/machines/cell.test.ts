import { describe, expect, it } from 'vitest';
import { cellMachine } from '../../../machines/cell.js';
import { describeRejection } from '../../../machines/index.js';
import { accepts, run } from './helpers.js';

const input = { realm: 'r', space: 's', stack: 't', name: 'web' };
const template = { root: 'main', containers: [{ name: 'main', image: 'busybox', command: [], args: [], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' }], labels: {} };
const ready = [{ type: 'CreateCell', template }, { type: 'StartCell' }, { type: 'CellStarted', rootPid: 10, address: '10.88.0.2/24' }];

describe('cell machine', () => {
  it('is Pending after CreateCell and requests nothing until StartCell', () => {
    const { state, effects } = run(cellMachine, input, [{ type: 'CreateCell', template }]);
    expect(state).toBe('Pending');
    expect(effects).toEqual([]);
  });

  it('requests startCell and becomes Ready with the root pid and address', () => {
    const { state, effects, snapshot } = run(cellMachine, input, ready);
    expect(state).toBe('Ready');
    expect(effects.map((e) => e.type)).toEqual(['startCell']);
    expect(snapshot.context).toMatchObject({ rootPid: 10, address: '10.88.0.2/24' });
  });

  it('winds down to Exited when its root container exits by itself', () => {
    const { state, effects } = run(cellMachine, input, [...ready, { type: 'ContainerExited', container: 'web_root', root: true, code: 137 }, { type: 'CellStopped' }]);
    expect(effects.at(-1)).toMatchObject({ type: 'stopCell', params: { reason: 'exited' } });
    expect(state).toBe('Exited');
  });

  it('ends Exited, never Failed, when its root exits as the cell starts (a one-shot root, issue 10)', () => {
    const starting = [{ type: 'CreateCell', template }, { type: 'StartCell' }];
    const { state, effects, snapshot } = run(cellMachine, input, [...starting, { type: 'ContainerExited', container: 'web_root', root: true, code: 0 }, { type: 'CellStopped' }]);
    expect(effects.map((e) => e.type)).toEqual(['startCell', 'stopCell']);
    expect(effects.at(-1)).toMatchObject({ type: 'stopCell', params: { reason: 'exited' } });
    expect(state).toBe('Exited');
    expect(snapshot.context).toMatchObject({ exits: { web_root: 0 }, error: null, rootPid: null, address: null });
    // The start saga's own outcome, arriving after the exit, is not applied.
    expect(accepts(cellMachine, input, [...starting, { type: 'ContainerExited', container: 'web_root', root: true, code: 0 }], { type: 'CellStarted', rootPid: 10 })).toBe(false);
  });

  it('keeps starting when a non-root container exits as the cell starts, and remembers its code', () => {
    const { state, snapshot } = run(cellMachine, input, [{ type: 'CreateCell', template }, { type: 'StartCell' }, { type: 'ContainerExited', container: 'side', root: false, code: 4 }]);
    expect(state).toBe('Creating');
    expect(snapshot.context.exits).toEqual({ side: 4 });
  });

  it('stays Ready when a non-root container exits', () => {
    const { state, snapshot } = run(cellMachine, input, [...ready, { type: 'ContainerExited', container: 'side', root: false, code: 1 }]);
    expect(state).toBe('Ready');
    expect(snapshot.context.exits).toEqual({ side: 1 });
  });

  it('ends Stopped after an operator stop, with the grace period in the effect', () => {
    const { state, effects } = run(cellMachine, input, [...ready, { type: 'StopCell', mode: 'stop', graceMs: 2000 }, { type: 'CellStopped' }]);
    expect(effects.at(-1)).toMatchObject({ type: 'stopCell', params: { reason: 'stop', graceMs: 2000 } });
    expect(state).toBe('Stopped');
  });

  it('refuses to start a running cell, with a reason the CLI can print', () => {
    expect(accepts(cellMachine, input, ready, { type: 'StartCell' })).toBe(false);
    expect(describeRejection('cell', 'cell "web"', 'Ready', { type: 'StartCell' })).toMatchObject({ message: 'cell "web" is already running (Ready)', busy: false });
  });

  it('refuses to start a cell that is being deleted, and calls it busy', () => {
    const deleting = [...ready, { type: 'DeleteCell' }];
    expect(run(cellMachine, input, deleting).state).toBe('Deleting');
    expect(accepts(cellMachine, input, deleting, { type: 'StartCell' })).toBe(false);
    expect(describeRejection('cell', 'cell "web"', 'Deleting', { type: 'StartCell' }).busy).toBe(true);
  });

  it('hands the delete saga the choice to keep the logs, from a Ready cell or one at rest', () => {
    const kept = run(cellMachine, input, [...ready, { type: 'DeleteCell', keepLogs: true }]);
    expect(kept.effects.at(-1)).toMatchObject({ type: 'deleteCell', params: { name: 'web', keepLogs: true } });
    const atRest = run(cellMachine, input, [{ type: 'CreateCell', template }, { type: 'DeleteCell', keepLogs: false }]);
    expect(atRest.effects.at(-1)).toMatchObject({ type: 'deleteCell', params: { keepLogs: false } });
  });

  it('forgets a kept-logs choice in a new life of the same stream', () => {
    const { snapshot } = run(cellMachine, input, [...ready, { type: 'DeleteCell', keepLogs: true }, { type: 'CellDeleted' }, { type: 'CreateCell', template }]);
    expect(snapshot.context.keepLogs).toBe(false);
  });

  it('goes Failed with the error when the start saga fails, and can be started again', () => {
    const failed = [{ type: 'CreateCell', template }, { type: 'StartCell' }, { type: 'EffectFailed', effect: 'startCell', error: { kind: 'NotFound', message: 'image busybox not found' } }];
    const { state, snapshot } = run(cellMachine, input, failed);
    expect(state).toBe('Failed');
    expect(snapshot.context.error?.kind).toBe('NotFound');
    expect(accepts(cellMachine, input, failed, { type: 'StartCell' })).toBe(true);
  });
});

describe('cell machine: Degraded (issue 12)', () => {
  const failing = (container: string) => ({ type: 'ContainerFailing', container });
  const recovered = (container: string) => ({ type: 'ContainerRecovered', container });

  it('is Degraded while any other container keeps failing, and Ready again when the last one recovers', () => {
    const one = run(cellMachine, input, [...ready, failing('side')]);
    expect(one.state).toBe('Degraded');
    const two = run(cellMachine, input, [...ready, failing('side'), failing('log')]);
    expect(two.snapshot.context.failing).toEqual(['log', 'side']);
    expect(run(cellMachine, input, [...ready, failing('side'), failing('log'), recovered('side')]).state).toBe('Degraded');
    expect(run(cellMachine, input, [...ready, failing('side'), failing('log'), recovered('side'), recovered('log')]).state).toBe('Ready');
  });

  it('records each container once, and refuses a recovery of a container that was not failing', () => {
    expect(accepts(cellMachine, input, [...ready, failing('side')], failing('side'))).toBe(false);
    expect(accepts(cellMachine, input, ready, recovered('side'))).toBe(false);
    expect(accepts(cellMachine, input, [...ready, failing('side')], recovered('log'))).toBe(false);
  });

  it('runs like a Ready cell: stops, winds down on its root exit, and forgets the failures when stopped', () => {
    const degraded = [...ready, failing('side')];
    const stopped = run(cellMachine, input, [...degraded, { type: 'StopCell', mode: 'stop', graceMs: 10 }, { type: 'CellStopped' }]);
    expect(stopped.state).toBe('Stopped');
    expect(stopped.snapshot.context.failing).toEqual([]);
    const exited = run(cellMachine, input, [...degraded, { type: 'ContainerExited', container: 'web_root', root: true, code: 0 }, { type: 'CellStopped' }]);
    expect(exited.state).toBe('Exited');
    expect(accepts(cellMachine, input, degraded, { type: 'StartCell' })).toBe(false);
    expect(describeRejection('cell', 'cell "web"', 'Degraded', { type: 'StartCell' }).message).toBe('cell "web" is already running (Degraded)');
    expect(accepts(cellMachine, input, degraded, { type: 'DeleteCell', keepLogs: false })).toBe(true);
  });
});
