import crypto from "node:crypto";
import type { Clock } from "../clock.js";

/**
 * Remembers, for a few minutes, that a user's password was verified, so a commissioning tool
 * onboarding hundreds of devices with one credential pays scrypt (~50–90 ms of CPU) once, not
 * per session. Only successes are cached and only as an HMAC under a key that lives in this
 * process: a wrong password always costs a full scrypt, and a changed password hash or a removed
 * user invalidates the entry.
 */
export class VerifiedPasswordCache {
  private readonly key = crypto.randomBytes(32);
  private readonly entries = new Map<string, { mac: Buffer; passwordHash: string; expires: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = 5 * 60_000,
    private readonly maxEntries = 1000,
  ) {}

  /** True when `password` is the one verified for `name` against this very hash, recently. */
  matches(name: string, password: string, passwordHash: string): boolean {
    const e = this.entries.get(name);
    if (!e) return false;
    if (e.passwordHash !== passwordHash || e.expires <= this.clock.now().getTime()) {
      this.entries.delete(name);
      return false;
    }
    return crypto.timingSafeEqual(e.mac, this.mac(name, password));
  }

  remember(name: string, password: string, passwordHash: string): void {
    this.entries.delete(name);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(name, { mac: this.mac(name, password), passwordHash, expires: this.clock.now().getTime() + this.ttlMs });
  }

  forget(name: string): void {
    this.entries.delete(name);
  }

  private mac(name: string, password: string): Buffer {
    return crypto.createHmac("sha256", this.key).update(name).update("\0").update(password).digest();
  }
}
