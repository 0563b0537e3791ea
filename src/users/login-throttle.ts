import type { Clock } from "../clock.js";

/**
 * Who is trying to log in: the user name attempted and the remote IP address of the channel (one
 * address per machine; 127.0.0.1 and 127.0.0.2 are two addresses).
 */
export interface LoginAttempt {
  userName: string;
  clientAddress: string;
  /** The client's ApplicationUri (from CreateSession), for the audit trail only. */
  applicationUri?: string;
}

export interface ThrottleSettings {
  /** Wrong passwords one address may send (for any users) before it has to wait between attempts. */
  addressFreeFailures: number;
  /** Wrong passwords for one user from one address before that pair has to wait. */
  pairFreeFailures: number;
  /**
   * Wrong passwords for one user, from all addresses together, after which every address that has
   * already failed for this user waits after each further failure. Addresses that never failed for
   * this user are not affected: the real user logging in from elsewhere always gets in.
   */
  userAlarmFailures: number;
  /** First delay once the free failures are used up; doubles with each further failure. */
  baseDelayMs: number;
  /** The delay never grows beyond this. */
  maxDelayMs: number;
  /** Failures are forgotten after this long without a new one. */
  forgetAfterMs: number;
  /** At most this many addresses/pairs/users are tracked; the longest quiet ones are dropped first. */
  maxTracked: number;
}

export const DEFAULT_THROTTLE: ThrottleSettings = {
  addressFreeFailures: 5,
  pairFreeFailures: 3,
  userAlarmFailures: 20,
  baseDelayMs: 1000,
  maxDelayMs: 10 * 60_000,
  forgetAfterMs: 15 * 60_000,
  maxTracked: 10_000,
};

interface Counter {
  failures: number;
  lastFailure: number;
}

export type ThrottleVerdict = { allowed: true; suspect: boolean } | { allowed: false; retryAfterMs: number; reason: "address" | "user-from-address" };

/**
 * Brute-force protection for password logins, in the spirit of fail2ban and Keycloak's brute-force
 * detection but without their lock-out-the-victim weakness:
 *
 * - per address (strong): after `addressFreeFailures` wrong passwords an address must wait
 *   `baseDelayMs`, doubling with each further failure up to `maxDelayMs`, before its next attempt
 *   is even verified; attempts during the wait are refused at once, whatever the password.
 * - per (user, address) (strong): the same with `pairFreeFailures` for one user from one address.
 * - per user (mild): once a user collected `userAlarmFailures` failures from all addresses, an
 *   address that already failed for that user waits after every further failure (a distributed
 *   guesser gets one try per address and wait). An address with no failures for the user is never
 *   refused because of the user's count, so guessing at a name never locks its owner out.
 *
 * Only wrong passwords count; refused attempts do not (they prolong nothing, so a throttled client
 * that stops is free again after its delay). A success clears its own (user, address) pair only:
 * logging in to one's own account does not wash an address's failures for others.
 */
export class LoginThrottle {
  private readonly byAddress = new Map<string, Counter>();
  private readonly byPair = new Map<string, Counter>();
  private readonly byUser = new Map<string, Counter>();
  readonly settings: ThrottleSettings;

  constructor(
    private readonly clock: Clock,
    settings: Partial<ThrottleSettings> = {},
  ) {
    this.settings = { ...DEFAULT_THROTTLE, ...settings };
  }

  /** May this attempt be verified now? `suspect`: its address has failed before (lower priority). */
  check(attempt: LoginAttempt): ThrottleVerdict {
    const now = this.now();
    const s = this.settings;
    const address = this.current(this.byAddress, attempt.clientAddress, now);
    const pair = this.current(this.byPair, pairKey(attempt), now);
    const user = this.current(this.byUser, attempt.userName, now);

    const addressWait = waitLeft(address, s.addressFreeFailures, s, now);
    if (addressWait > 0) return { allowed: false, retryAfterMs: addressWait, reason: "address" };
    const pairFree = user && user.failures >= s.userAlarmFailures ? 0 : s.pairFreeFailures;
    const pairWait = waitLeft(pair, pairFree, s, now);
    if (pairWait > 0) return { allowed: false, retryAfterMs: pairWait, reason: "user-from-address" };
    return { allowed: true, suspect: address !== undefined && address.failures > 0 };
  }

  /** A wrong password (or unknown user) was verified for this attempt. */
  recordFailure(attempt: LoginAttempt): void {
    const now = this.now();
    this.bump(this.byAddress, attempt.clientAddress, now);
    this.bump(this.byPair, pairKey(attempt), now);
    this.bump(this.byUser, attempt.userName, now);
  }

  /** The right password: this user from this address starts afresh. */
  recordSuccess(attempt: LoginAttempt): void {
    this.byPair.delete(pairKey(attempt));
  }

  /** True when the address has failures that are still remembered. */
  isSuspect(clientAddress: string): boolean {
    return (this.current(this.byAddress, clientAddress, this.now())?.failures ?? 0) > 0;
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  private current(map: Map<string, Counter>, key: string, now: number): Counter | undefined {
    const c = map.get(key);
    if (c && now - c.lastFailure >= this.settings.forgetAfterMs) {
      map.delete(key);
      return undefined;
    }
    return c;
  }

  private bump(map: Map<string, Counter>, key: string, now: number): void {
    const c = this.current(map, key, now) ?? { failures: 0, lastFailure: now };
    c.failures++;
    c.lastFailure = now;
    // Re-insert so the Map's order is by last failure: the first entry is the quietest.
    map.delete(key);
    map.set(key, c);
    while (map.size > this.settings.maxTracked) {
      const oldest = map.keys().next().value;
      if (oldest === undefined) break;
      map.delete(oldest);
    }
  }
}

function pairKey(a: LoginAttempt): string {
  return `${a.clientAddress}\u0000${a.userName}`;
}

/** The delay owed after `c.failures` failures with `free` of them free: 0, or base·2^k capped. */
export function delayAfter(failures: number, free: number, s: Pick<ThrottleSettings, "baseDelayMs" | "maxDelayMs">): number {
  if (failures < Math.max(1, free)) return 0;
  const k = failures - Math.max(1, free);
  return Math.min(s.maxDelayMs, s.baseDelayMs * 2 ** Math.min(k, 30));
}

function waitLeft(c: Counter | undefined, free: number, s: ThrottleSettings, now: number): number {
  if (!c) return 0;
  const delay = delayAfter(c.failures, free, s);
  return Math.max(0, c.lastFailure + delay - now);
}
