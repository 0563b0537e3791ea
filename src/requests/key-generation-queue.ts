import { GdsError } from "../errors.js";

/** A place in the key generation queue, taken at once; `run` uses it, `release` gives it back unused. */
export interface KeyGenerationTicket {
  run<T>(generate: () => Promise<T>): Promise<T>;
  release(): void;
}

export interface KeyGenerationQueueOptions {
  /** Generations running at once (key generation is CPU work in the thread pool). */
  concurrency: number;
  /** Generations waiting for a free slot; beyond concurrency + maxQueued a request is refused at once. */
  maxQueued: number;
}

export const DEFAULT_KEY_GENERATION_QUEUE: KeyGenerationQueueOptions = { concurrency: 2, maxQueued: 6 };

/**
 * A bounded queue for the key pairs the GDS generates (StartNewKeyPairRequest): a few run at
 * once, a few more wait, and anything beyond is refused at once with BadTooManyOperations instead
 * of piling up CPU work (an RSA-2048 key costs 100–270 ms of a core).
 */
export class KeyGenerationQueue {
  private places = 0;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly opts: KeyGenerationQueueOptions = DEFAULT_KEY_GENERATION_QUEUE) {
    if (!(opts.concurrency >= 1) || !(opts.maxQueued >= 0)) throw new Error("key generation queue: concurrency ≥ 1 and maxQueued ≥ 0");
  }

  get capacity(): number {
    return this.opts.concurrency + this.opts.maxQueued;
  }

  /** Places taken (running, waiting, or reserved and not yet used). */
  get size(): number {
    return this.places;
  }

  tryReserve(): KeyGenerationTicket | undefined {
    if (this.places >= this.capacity) return undefined;
    this.places++;
    let used = false;
    return {
      run: async <T>(generate: () => Promise<T>): Promise<T> => {
        if (used) throw new Error("key generation ticket used twice");
        used = true;
        await this.slot();
        try {
          return await generate();
        } finally {
          this.active--;
          this.places--;
          this.waiting.shift()?.();
        }
      },
      release: () => {
        if (used) return;
        used = true;
        this.places--;
      },
    };
  }

  /** A place, or BadTooManyOperations at once. */
  reserve(): KeyGenerationTicket {
    const ticket = this.tryReserve();
    if (!ticket) {
      throw new GdsError(
        "BadTooManyOperations",
        `the GDS is busy generating key pairs (${this.opts.concurrency} at once, ${this.opts.maxQueued} waiting): try StartNewKeyPairRequest again shortly, or send a CSR with StartSigningRequest`,
      );
    }
    return ticket;
  }

  private slot(): Promise<void> {
    if (this.active < this.opts.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.waiting.push(() => {
        this.active++;
        resolve();
      }),
    );
  }
}
