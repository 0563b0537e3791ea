/**
 * Admission to the expensive part of a login (scrypt, ~50–100 ms of a core): a few verifications
 * run at once, a bounded number wait, the rest are refused at once instead of queued. Addresses
 * that have not failed before ("clean") are served before addresses that have ("suspect"), so a
 * flood of wrong guesses from one machine delays the real user on another by at most the
 * verifications already running.
 *
 * - `maxRunning` verifications run at once, at most `maxRunningPerAddress` of them for one address,
 *   so one guessing machine never holds every slot: another address starts at once;
 * - at most `maxWaiting` wait; when the queue is full, a clean arrival displaces the newest
 *   suspect waiter (which is refused), otherwise the arrival is refused;
 * - the next to run is the oldest waiter of an address that is clean now (asked again at that
 *   moment: an address whose first guesses just failed loses its place), else the oldest waiter;
 * - one address has at most `maxPerAddress` verifications running or waiting: pipelined guesses
 *   from one client beyond that are refused at once, before any verification;
 * - identical attempts (same key, e.g. the same user and password) share one verification: a
 *   commissioning host opening dozens of sessions with one credential costs one scrypt.
 */
export interface VerificationQueueSettings {
  maxRunning: number;
  maxRunningPerAddress: number;
  maxWaiting: number;
  maxPerAddress: number;
}

export const DEFAULT_VERIFICATION_QUEUE: VerificationQueueSettings = { maxRunning: 2, maxRunningPerAddress: 1, maxWaiting: 32, maxPerAddress: 3 };

/** Thrown (as the rejection) when an attempt is refused without being verified. */
export class VerificationRefused extends Error {
  constructor(readonly reason: "busy" | "address-busy") {
    super(reason === "busy" ? "too many logins are being verified" : "too many logins from this address are being verified");
  }
}

interface Waiter {
  address: string;
  suspect: boolean;
  start: () => void;
  refuse: (err: VerificationRefused) => void;
}

export class VerificationQueue {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  private readonly perAddress = new Map<string, number>();
  private readonly runningPerAddress = new Map<string, number>();
  private readonly shared = new Map<string, Promise<unknown>>();
  readonly settings: VerificationQueueSettings;

  /** `suspectNow`: whether an address has failures on record now (re-asked when choosing who runs next). */
  constructor(
    settings: Partial<VerificationQueueSettings> = {},
    private readonly suspectNow: (address: string) => boolean = () => false,
  ) {
    this.settings = { ...DEFAULT_VERIFICATION_QUEUE, ...settings };
  }

  /**
   * Runs `verify` when a slot is free, or rejects with VerificationRefused at once. With a `key`,
   * an identical attempt already admitted is joined instead (its result is shared).
   */
  run<T>(opts: { address: string; suspect: boolean; key?: string }, verify: () => Promise<T>): Promise<T> {
    if (opts.key !== undefined) {
      const same = this.shared.get(opts.key);
      if (same) return same as Promise<T>;
    }
    const result = this.admit(opts.address, opts.suspect, verify);
    if (opts.key !== undefined) {
      const key = opts.key;
      this.shared.set(key, result);
      const clear = () => {
        if (this.shared.get(key) === result) this.shared.delete(key);
      };
      result.then(clear, clear);
    }
    return result;
  }

  /** Verifications running and waiting (for tests and figures). */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  private admit<T>(address: string, suspect: boolean, verify: () => Promise<T>): Promise<T> {
    const mine = this.perAddress.get(address) ?? 0;
    if (mine >= this.settings.maxPerAddress) return Promise.reject(new VerificationRefused("address-busy"));
    const release = this.hold(address);
    const go = (): Promise<T> => {
      this.running++;
      this.runningPerAddress.set(address, (this.runningPerAddress.get(address) ?? 0) + 1);
      let out: Promise<T>;
      try {
        out = verify();
      } catch (err) {
        out = Promise.reject(err);
      }
      return out.finally(() => {
        release();
        this.running--;
        const n = (this.runningPerAddress.get(address) ?? 1) - 1;
        if (n <= 0) this.runningPerAddress.delete(address);
        else this.runningPerAddress.set(address, n);
        this.next();
      });
    };
    if (this.canStart(address)) return go();
    if (this.waiting.length >= this.settings.maxWaiting) {
      const displaced = !suspect ? this.newestSuspect() : undefined;
      if (!displaced) {
        release();
        return Promise.reject(new VerificationRefused("busy"));
      }
      displaced.refuse(new VerificationRefused("busy"));
    }
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({
        address,
        suspect,
        start: () => go().then(resolve, reject),
        refuse: (err) => {
          release();
          reject(err);
        },
      });
    });
  }

  private canStart(address: string): boolean {
    return this.running < this.settings.maxRunning && (this.runningPerAddress.get(address) ?? 0) < this.settings.maxRunningPerAddress;
  }

  private isSuspect(w: Waiter): boolean {
    return w.suspect || this.suspectNow(w.address);
  }

  /** Removes and returns the newest waiter of a suspect address, if any. */
  private newestSuspect(): Waiter | undefined {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      if (this.isSuspect(this.waiting[i])) return this.waiting.splice(i, 1)[0];
    }
    return undefined;
  }

  private next(): void {
    while (this.running < this.settings.maxRunning) {
      const startable = this.waiting.filter((w) => this.canStart(w.address));
      const w = startable.find((x) => !this.isSuspect(x)) ?? startable[0];
      if (!w) return;
      this.waiting.splice(this.waiting.indexOf(w), 1);
      w.start();
    }
  }

  /** Counts one verification against its address; the returned function gives it back (once). */
  private hold(address: string): () => void {
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, n);
    };
  }
}
