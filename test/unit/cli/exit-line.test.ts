import { describe, expect, it } from 'vitest';
import { exitLine } from '../../../src/cli/output.js';

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
