/**
 * Runs long directory scans in slices so that they never hold the event loop for long: every
 * running query gets a short turn (`chunkMs`) in round robin, and after `sliceMs` of scanning in
 * total the scheduler gives the event loop back (setImmediate) so that I/O (other sessions' Reads,
 * new requests) is served before the next slice. However many queries run at once, the event loop
 * is held by scanning for about `sliceMs` at a time.
 */

/** One query's work: scans until `shouldYield()` says stop or it is done; returns true when done. */
export type ScanStep = (shouldYield: () => boolean) => boolean;

export interface QuerySchedulerOptions {
  /** Scanning per event-loop turn, all queries together (ms; default 8). */
  sliceMs?: number;
  /** One query's turn (ms; default 2). */
  chunkMs?: number;
  /** Monotonic milliseconds (default performance.now). */
  now?: () => number;
  /** Runs `fn` after pending I/O (default setImmediate). */
  defer?: (fn: () => void) => void;
}

interface Job {
  step: ScanStep;
  /** Told how long each turn took (ms); throwing stops the query with that error. */
  onTurn?: (ms: number) => void;
  resolve(): void;
  reject(err: unknown): void;
}

export class QueryScheduler {
  private readonly sliceMs: number;
  private readonly chunkMs: number;
  /** The scheduler's clock (monotonic ms), for callers that measure work the same way. */
  readonly now: () => number;
  private readonly defer: (fn: () => void) => void;
  private readonly queue: Job[] = [];
  private pumping = false;

  constructor(opts: QuerySchedulerOptions = {}) {
    this.sliceMs = opts.sliceMs ?? 8;
    this.chunkMs = opts.chunkMs ?? 2;
    this.now = opts.now ?? (() => performance.now());
    this.defer = opts.defer ?? ((fn) => void setImmediate(fn));
  }

  /** Runs `step` to completion in turns; rejects with what `step` or `onTurn` threw. */
  run(step: ScanStep, onTurn?: (ms: number) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ step, onTurn, resolve, reject });
      if (!this.pumping) {
        this.pumping = true;
        this.defer(() => this.pump());
      }
    });
  }

  /** Queries waiting or running. */
  get pending(): number {
    return this.queue.length;
  }

  private pump(): void {
    const sliceEnd = this.now() + this.sliceMs;
    while (this.queue.length > 0) {
      const job = this.queue.shift()!;
      const started = this.now();
      const turnEnd = Math.min(sliceEnd, started + this.chunkMs);
      try {
        const done = job.step(() => this.now() >= turnEnd);
        job.onTurn?.(this.now() - started);
        if (done) job.resolve();
        else this.queue.push(job);
      } catch (err) {
        job.reject(err);
      }
      if (this.now() >= sliceEnd) break;
    }
    if (this.queue.length > 0) this.defer(() => this.pump());
    else this.pumping = false;
  }
}
