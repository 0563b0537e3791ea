/**
 * How much directory scanning (QueryApplications / QueryServers) one caller may make the server do.
 * Work is measured as the time the server spends scanning and matching records for the caller, in
 * milliseconds: that is what other sessions wait for, whatever the filter looks like.
 *
 * Token buckets: each session has one (refilled at `msPerSecond`, holding at most `burstMs`), and
 * each remote address has one `addressFactor` times larger that all its sessions share (many
 * sessions from one host do not multiply its share). A query is refused at once with
 * BadTooManyOperations while a bucket it draws from is empty (balance ≤ 0). An admitted query is
 * charged after each slice of its work and may overdraw (the debt delays the caller's next query),
 * but it is stopped with BadTooManyOperations once a bucket is more than a whole burst in debt: one
 * call never costs more than about two bursts. Buckets that are full again are forgotten, so the
 * tables stay as small as the set of busy callers. Independently of the buckets, a session may have
 * at most MAX_QUERIES_IN_FLIGHT_PER_SESSION queries running and an address
 * MAX_QUERIES_IN_FLIGHT_PER_ADDRESS (pipelining more only queues work that others wait behind).
 */
import { GdsError } from "../errors.js";

/** Queries one session may have running at once; more are refused at once. */
export const MAX_QUERIES_IN_FLIGHT_PER_SESSION = 2;
/** Queries all sessions of one remote address may have running at once. */
export const MAX_QUERIES_IN_FLIGHT_PER_ADDRESS = 8;

export interface QueryBudgetOptions {
  /** Scan time a session earns per second (ms). 0 turns the budget off. */
  msPerSecond: number;
  /** What a session can spend at once (ms); default 10 s worth of msPerSecond. */
  burstMs?: number;
  /** An address's bucket is this many sessions' worth (default 4). */
  addressFactor?: number;
  /** Monotonic milliseconds (default performance.now). */
  now?: () => number;
}

/** Who is asking: the session and the remote address of its channel, when known. */
export interface QueryCaller {
  session?: string;
  address?: string;
}

interface Bucket {
  tokens: number;
  at: number;
}

class Buckets {
  private readonly map = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(
    private readonly rate: number,
    private readonly capacity: number,
  ) {}

  /** Current balance of `key` (refilled up to now). */
  balance(key: string, now: number): number {
    const b = this.map.get(key);
    if (!b) return this.capacity;
    b.tokens = Math.min(this.capacity, b.tokens + ((now - b.at) * this.rate) / 1000);
    b.at = now;
    return b.tokens;
  }

  /** Takes `ms` from `key` (may go below zero); returns the balance after. */
  take(key: string, ms: number, now: number): number {
    let b = this.map.get(key);
    if (!b) {
      b = { tokens: this.capacity, at: now };
      this.map.set(key, b);
    }
    const left = this.balance(key, now) - ms;
    b.tokens = left;
    return left;
  }

  /** Time until `key` has a positive balance again (ms). */
  waitMs(key: string, now: number): number {
    const bal = this.balance(key, now);
    return bal > 0 ? 0 : Math.ceil((-bal * 1000) / this.rate) + 1;
  }

  size(): number {
    return this.map.size;
  }

  /** Forgets buckets that are full again (at most once a second unless the table is large). */
  sweep(now: number): void {
    if (now - this.lastSweep < 1000 && this.map.size < 10_000) return;
    this.lastSweep = now;
    for (const [key, b] of this.map) {
      if (b.tokens + ((now - b.at) * this.rate) / 1000 >= this.capacity) this.map.delete(key);
    }
  }
}

export class QueryBudget {
  private readonly sessions: Buckets | undefined;
  private readonly addresses: Buckets | undefined;
  private readonly now: () => number;
  /** Running queries by session key and by `addr:<address>`. */
  private readonly inFlight = new Map<string, number>();
  readonly msPerSecond: number;
  readonly burstMs: number;
  readonly addressFactor: number;

  constructor(opts: QueryBudgetOptions) {
    if (!Number.isFinite(opts.msPerSecond) || opts.msPerSecond < 0) throw new RangeError("QueryBudget: msPerSecond must be >= 0");
    this.msPerSecond = opts.msPerSecond;
    this.burstMs = opts.burstMs ?? opts.msPerSecond * 10;
    this.addressFactor = opts.addressFactor ?? 4;
    this.now = opts.now ?? (() => performance.now());
    if (this.msPerSecond > 0) {
      this.sessions = new Buckets(this.msPerSecond, this.burstMs);
      this.addresses = new Buckets(this.msPerSecond * this.addressFactor, this.burstMs * this.addressFactor);
    }
  }

  /**
   * Starts a query: throws BadTooManyOperations when the caller's session or address has too many
   * queries running (MAX_QUERIES_IN_FLIGHT_*), or nothing left in its bucket. Returns the function
   * that ends the query (call it exactly once, also on failure).
   */
  begin(caller: QueryCaller): () => void {
    const s = caller.session !== undefined ? (this.inFlight.get(caller.session) ?? 0) : 0;
    const a = caller.address !== undefined ? (this.inFlight.get(`addr:${caller.address}`) ?? 0) : 0;
    if (s >= MAX_QUERIES_IN_FLIGHT_PER_SESSION) {
      throw new QueryRefusedError(`this session already has ${s} directory queries running (at most ${MAX_QUERIES_IN_FLIGHT_PER_SESSION}); wait for their answers`, 0);
    }
    if (a >= MAX_QUERIES_IN_FLIGHT_PER_ADDRESS) {
      throw new QueryRefusedError(`address ${caller.address} already has ${a} directory queries running (at most ${MAX_QUERIES_IN_FLIGHT_PER_ADDRESS}); wait for their answers`, 0);
    }
    this.admit(caller);
    const keys = [caller.session, caller.address !== undefined ? `addr:${caller.address}` : undefined].filter((k): k is string => k !== undefined);
    for (const k of keys) this.inFlight.set(k, (this.inFlight.get(k) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      for (const k of keys) {
        const n = (this.inFlight.get(k) ?? 1) - 1;
        if (n <= 0) this.inFlight.delete(k);
        else this.inFlight.set(k, n);
      }
    };
  }

  /** Throws BadTooManyOperations when the caller's session or address has nothing left. */
  admit(caller: QueryCaller): void {
    if (!this.sessions || !this.addresses) return;
    const now = this.now();
    if (caller.session !== undefined && this.sessions.balance(caller.session, now) <= 0) {
      throw exhausted("this session", this.sessions.waitMs(caller.session, now), this.msPerSecond);
    }
    if (caller.address !== undefined && this.addresses.balance(caller.address, now) <= 0) {
      throw exhausted(`address ${caller.address}`, this.addresses.waitMs(caller.address, now), this.msPerSecond * this.addressFactor);
    }
  }

  /**
   * Charges `ms` of scan work to the caller. Throws BadTooManyOperations when that put the
   * session's or the address's bucket more than a burst in debt (the query doing the work stops).
   */
  charge(caller: QueryCaller, ms: number): void {
    if (!this.sessions || !this.addresses || !(ms > 0)) return;
    const now = this.now();
    const s = caller.session !== undefined ? this.sessions.take(caller.session, ms, now) : 1;
    const a = caller.address !== undefined ? this.addresses.take(caller.address, ms, now) : 1;
    this.sessions.sweep(now);
    this.addresses.sweep(now);
    if (s < -this.burstMs) throw exhausted("this session", this.sessions.waitMs(caller.session!, now), this.msPerSecond);
    if (a < -this.burstMs * this.addressFactor) throw exhausted(`address ${caller.address}`, this.addresses.waitMs(caller.address!, now), this.msPerSecond * this.addressFactor);
  }

  /**
   * Charges work done outside the scan (encoding and encrypting the answer) without stopping
   * anything: the debt delays the caller's next query.
   */
  debit(caller: QueryCaller, ms: number): void {
    if (!this.sessions || !this.addresses || !(ms > 0)) return;
    const now = this.now();
    if (caller.session !== undefined) this.sessions.take(caller.session, ms, now);
    if (caller.address !== undefined) this.addresses.take(caller.address, ms, now);
  }

  /** Number of callers currently tracked (sessions, addresses); for tests and diagnostics. */
  tracked(): { sessions: number; addresses: number } {
    return { sessions: this.sessions?.size() ?? 0, addresses: this.addresses?.size() ?? 0 };
  }
}

/** BadTooManyOperations from the budget; `retryAfterMs` says when asking again may succeed. */
export class QueryRefusedError extends GdsError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super("BadTooManyOperations", message);
  }
}

function exhausted(who: string, waitMs: number, rate: number): GdsError {
  return new QueryRefusedError(
    `directory query budget of ${who} is used up (${rate} ms of scanning per second); retry in ${Math.max(1, Math.ceil(waitMs))} ms, or narrow the filter`,
    Math.max(1, Math.ceil(waitMs)),
  );
}
