import { describe, expect, it } from 'vitest';
import { LogRotator, type RotationTimer } from '../../../src/runtime/logs/rotator.js';
import type { ContainerLogs, LogRotationPolicy } from '../../../src/runtime/ports.js';

/** A timer that runs nothing by itself: the test fires what is pending. */
class ManualTimer implements RotationTimer {
  pending = new Map<number, { fn: () => void; ms: number }>();
  private next = 1;
  setTimeout(fn: () => void, ms: number) {
    const id = this.next++;
    this.pending.set(id, { fn, ms });
    return id;
  }
  clearTimeout(handle: unknown) {
    this.pending.delete(handle as number);
  }
  fire() {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const t of due) t.fn();
  }
}

function countingLogs(fail = false) {
  const passes: LogRotationPolicy[] = [];
  const logs: ContainerLogs = {
    removeCell: () => Promise.resolve(),
    rotate: (policy) => {
      passes.push(policy);
      return fail ? Promise.reject(new Error('disk on fire')) : Promise.resolve({ rotated: ['/x.log'], removed: [] });
    },
  };
  return { logs, passes };
}

const settle = () => new Promise((r) => setImmediate(r));
const policy = { maxBytes: 10, maxFiles: 2 };

describe('log rotator', () => {
  it('runs a pass at start, then one per interval after the previous pass ended', async () => {
    const timer = new ManualTimer();
    const { logs, passes } = countingLogs();
    const rotator = new LogRotator(logs, policy, { intervalMs: 5_000, timer });
    rotator.start();
    await settle();
    expect(passes).toEqual([policy]);
    expect([...timer.pending.values()].map((t) => t.ms)).toEqual([5_000]);
    timer.fire();
    await settle();
    expect(passes).toHaveLength(2);
    expect(timer.pending.size).toBe(1);
    await rotator.stop();
  });

  it('schedules nothing more once stopped', async () => {
    const timer = new ManualTimer();
    const { logs, passes } = countingLogs();
    const rotator = new LogRotator(logs, policy, { timer });
    rotator.start();
    await settle();
    await rotator.stop();
    expect(timer.pending.size).toBe(0);
    expect(passes).toHaveLength(1);
  });

  it('keeps going after a failed pass, which reports nothing rotated', async () => {
    const timer = new ManualTimer();
    const { logs, passes } = countingLogs(true);
    const rotator = new LogRotator(logs, policy, { timer });
    await expect(rotator.check()).resolves.toEqual({ rotated: [], removed: [] });
    rotator.start();
    await settle();
    expect(timer.pending.size).toBe(1);
    expect(passes).toHaveLength(2);
    await rotator.stop();
  });

  it('joins a pass already running instead of starting a second one', async () => {
    const { logs, passes } = countingLogs();
    const rotator = new LogRotator(logs, policy, { timer: new ManualTimer() });
    const [a, b] = await Promise.all([rotator.check(), rotator.check()]);
    expect(a).toBe(b);
    expect(passes).toHaveLength(1);
  });
});
