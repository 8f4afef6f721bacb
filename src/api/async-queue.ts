/**
 * A bounded hand-over between a producer that pushes (a stream's 'data' events, a terminal's resizes) and a consumer
 * that pulls (`for await`). The producer is told to hold back once `highWater` items wait, and to go on once half of
 * them were taken: so stdin travelling to an exec'd process is read only as fast as the process takes it.
 *
 * @example
 * const queue = new AsyncQueue<Buffer>({ highWater: 16, onFull: () => stream.pause(), onLow: () => stream.resume() });
 * stream.on('data', (c) => queue.push(c)).on('end', () => queue.end());
 * for await (const chunk of queue) await write(chunk);
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private full = false;

  constructor(private readonly options: { highWater?: number; onFull?: () => void; onLow?: () => void } = {}) {}

  /** Adds an item (ignored once ended). */
  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    if (!this.full && this.items.length >= (this.options.highWater ?? Infinity)) {
      this.full = true;
      this.options.onFull?.();
    }
    this.wake();
  }

  /** No more items: the consumer gets what is queued, then the end. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** The next item, or undefined at the end. */
  async next(): Promise<T | undefined> {
    while (this.items.length === 0 && !this.ended) await new Promise<void>((resolve) => (this.waiter = resolve));
    const item = this.items.shift();
    if (this.full && this.items.length <= (this.options.highWater ?? Infinity) / 2) {
      this.full = false;
      this.options.onLow?.();
    }
    return item;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (let item = await this.next(); item !== undefined; item = await this.next()) yield item;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
