/**
 * The daemon's periodic log rotation: one pass at start, then one every `intervalMs` after the previous pass ended
 * (passes never overlap). The timer is injected, so tests drive it without waiting; the daemon passes none and gets
 * the real one, unref'd so it never keeps the process alive. A live file may therefore exceed `max-size` by what
 * its container writes in one interval.
 */
import type { Logger } from '../../log.js';
import type { ContainerLogs, LogRotationPolicy, LogRotationReport } from '../ports.js';

/** The timer a rotator schedules its passes with. */
export interface RotationTimer {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process's timer, unref'd. */
export const realTimer: RotationTimer = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Default time between two passes. */
export const DEFAULT_ROTATION_INTERVAL_MS = 10_000;

/** Options of {@link LogRotator}. */
export interface LogRotatorOptions {
  /** Time between the end of a pass and the start of the next (default {@link DEFAULT_ROTATION_INTERVAL_MS}). */
  intervalMs?: number;
  timer?: RotationTimer;
  logger?: Logger;
}

/**
 * Rotates container logs periodically.
 *
 * @example
 * const rotator = new LogRotator(runtime.logs, { maxBytes: 10 << 20, maxFiles: 3 });
 * rotator.start();
 * // … at shutdown
 * await rotator.stop();
 */
export class LogRotator {
  private handle: unknown;
  private running: Promise<LogRotationReport> | undefined;
  private stopped = true;
  private readonly intervalMs: number;
  private readonly timer: RotationTimer;

  constructor(
    /** What a pass rotates: the containers' logs (and, in kukeond, its own log too). */
    private readonly logs: Pick<ContainerLogs, 'rotate'>,
    private readonly policy: LogRotationPolicy,
    private readonly options: LogRotatorOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_ROTATION_INTERVAL_MS;
    this.timer = options.timer ?? realTimer;
  }

  /** Runs a pass now and schedules the next ones. Idempotent. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.tick();
  }

  /** One pass now (also between scheduled ones); never rejects: a failed pass is logged and reported empty. */
  check(): Promise<LogRotationReport> {
    this.running ??= this.logs
      .rotate(this.policy)
      .then((report) => {
        if (report.rotated.length > 0 || report.removed.length > 0) this.options.logger?.info(report, 'rotated logs');
        return report;
      })
      .catch((err: unknown) => {
        this.options.logger?.warn({ err }, 'log rotation failed; trying again at the next pass');
        return { rotated: [], removed: [] };
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Cancels the next pass and waits for a running one. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.handle !== undefined) this.timer.clearTimeout(this.handle);
    this.handle = undefined;
    await this.running;
  }

  private async tick(): Promise<void> {
    this.handle = undefined;
    await this.check();
    if (!this.stopped) this.handle = this.timer.setTimeout(() => void this.tick(), this.intervalMs);
  }
}
