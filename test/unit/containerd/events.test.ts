import { describe, expect, it } from 'vitest';
import { exitFilters } from '../../../src/runtime/containerd/events.js';

describe('the exit watcher subscription', () => {
  it('asks for exit and OOM events of namespaces ending in the suffix, and for its own probe', () => {
    expect(exitFilters('kukeon.io', '/kukeon/probe/ab12')).toEqual([
      'topic=="/tasks/exit",namespace~="[.]kukeon[.]io$"',
      'topic=="/tasks/oom",namespace~="[.]kukeon[.]io$"',
      'topic=="/kukeon/probe/ab12"',
    ]);
  });

  it('puts regexp-special characters of the suffix in bracket classes, and refuses an invalid suffix', () => {
    expect(exitFilters('t-1.kukeon.io', '/p')[0]).toBe('topic=="/tasks/exit",namespace~="[.]t[-]1[.]kukeon[.]io$"');
    expect(() => exitFilters('a"b', '/p')).toThrow();
    expect(() => exitFilters('.kukeon.io', '/p')).toThrow();
  });
});
