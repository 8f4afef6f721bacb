import { describe, expect, it } from 'vitest';
import { cellState, exitLine } from '../../../src/cli/output.js';

const root = (exitCode: number | null, exitSignal: string | null = null) => ({ root: true, exitCode, exitSignal }) as never;

describe('the exit line of a start whose root ran to its end', () => {
  it('tells the code of a root that exited by itself', () => {
    expect(exitLine({ name: 'once', state: 'Exited', containers: [root(0)] })).toBe('cell "once" exited with code 0');
    expect(exitLine({ name: 'three', state: 'Exited', containers: [root(3)] })).toBe('cell "three" exited with code 3');
  });

  it('names the signal of a death by signal, and says when the code is unknown', () => {
    expect(exitLine({ name: 'k', state: 'Exited', containers: [root(137, 'SIGKILL')] })).toBe('cell "k" exited with code 137 (SIGKILL)');
    expect(exitLine({ name: 'lost', state: 'Exited', containers: [root(null)] })).toBe('cell "lost" exited with an unknown code');
  });

  it('says nothing for a cell that did not end Exited', () => {
    for (const state of ['Ready', 'Stopped', 'Failed']) expect(exitLine({ name: 'web', state, containers: [root(0)] })).toBeUndefined();
  });
});

describe('the STATE of an exited cell in kuke get cells (issue 12)', () => {
  const oom = (exitCode: number, exitSignal: string | null) => ({ root: true, exitCode, exitSignal, oomKilled: true }) as never;

  it('says why the cell stopped, as Docker does: the code, the signal, and OOMKilled', () => {
    expect(cellState({ state: 'Exited', containers: [root(7)] })).toBe('Exited (7)');
    expect(cellState({ state: 'Exited', containers: [oom(137, 'SIGKILL')] })).toBe('Exited (137 SIGKILL, OOMKilled)');
    expect(cellState({ state: 'Exited', containers: [root(null)] })).toBe('Exited (unknown code)');
  });

  it('is the bare state for a cell that is not Exited', () => {
    for (const state of ['Ready', 'Degraded', 'Stopped', 'Failed']) expect(cellState({ state, containers: [root(0)] })).toBe(state);
  });
});
