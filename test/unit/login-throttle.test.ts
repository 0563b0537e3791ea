import { describe, expect, it } from "@jest/globals";
import type { Clock } from "../../src/clock.js";
import { delayAfter, LoginThrottle } from "../../src/users/login-throttle.js";

function fakeClock(start = Date.parse("2026-01-01T00:00:00Z")): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => new Date(now), advance: (ms) => (now += ms) };
}

const attacker = { userName: "admin", clientAddress: "10.0.0.66" };
const realAdmin = { userName: "admin", clientAddress: "10.0.0.1" };

describe("LoginThrottle", () => {
  it("grows the delay per address after the free failures: 1 s, 2 s, 4 s … capped", () => {
    const s = { baseDelayMs: 1000, maxDelayMs: 600_000 };
    expect([0, 1, 4, 5, 6, 7, 30].map((n) => delayAfter(n, 5, s))).toEqual([0, 0, 0, 1000, 2000, 4000, 600_000]);
  });

  it("refuses an address that used its free failures until its delay has passed, whatever the user", () => {
    const clock = fakeClock();
    const t = new LoginThrottle(clock, { addressFreeFailures: 5, pairFreeFailures: 100 });
    for (let i = 0; i < 5; i++) {
      expect(t.check({ userName: `u${i}`, clientAddress: attacker.clientAddress }).allowed).toBe(true);
      t.recordFailure({ userName: `u${i}`, clientAddress: attacker.clientAddress });
    }
    const v = t.check({ userName: "someone", clientAddress: attacker.clientAddress });
    expect(v).toEqual({ allowed: false, retryAfterMs: 1000, reason: "address" });
    clock.advance(1000);
    expect(t.check({ userName: "someone", clientAddress: attacker.clientAddress })).toEqual({ allowed: true, suspect: true });
    t.recordFailure(attacker);
    clock.advance(1999);
    expect(t.check(attacker).allowed).toBe(false);
    clock.advance(1);
    expect(t.check(attacker).allowed).toBe(true);
  });

  it("throttles one user from one address sooner than the address as a whole", () => {
    const clock = fakeClock();
    const t = new LoginThrottle(clock, { addressFreeFailures: 5, pairFreeFailures: 3 });
    for (let i = 0; i < 3; i++) t.recordFailure(attacker);
    expect(t.check(attacker)).toMatchObject({ allowed: false, reason: "user-from-address" });
    // Another user from the same address is still verified (the address has 2 free failures left).
    expect(t.check({ userName: "bob", clientAddress: attacker.clientAddress })).toEqual({ allowed: true, suspect: true });
  });

  it("never refuses the real user from an address without failures, however many failures the user name has", () => {
    const clock = fakeClock();
    const t = new LoginThrottle(clock, { userAlarmFailures: 20 });
    for (let a = 0; a < 200; a++) t.recordFailure({ userName: "admin", clientAddress: `10.1.${a >> 8}.${a & 255}` });
    expect(t.check(realAdmin)).toEqual({ allowed: true, suspect: false });
    // Under the alarm an address that already failed for admin waits after every failure.
    expect(t.check({ userName: "admin", clientAddress: "10.1.0.7" })).toMatchObject({ allowed: false, reason: "user-from-address" });
  });

  it("a success clears only its own (user, address) pair, not the address's failures for others", () => {
    const clock = fakeClock();
    const t = new LoginThrottle(clock, { addressFreeFailures: 5, pairFreeFailures: 3 });
    for (let i = 0; i < 4; i++) t.recordFailure({ userName: "victim", clientAddress: attacker.clientAddress });
    t.recordSuccess({ userName: "mallory", clientAddress: attacker.clientAddress });
    t.recordFailure({ userName: "victim", clientAddress: attacker.clientAddress });
    expect(t.check({ userName: "mallory", clientAddress: attacker.clientAddress })).toMatchObject({ allowed: false, reason: "address" });
  });

  it("forgets failures after a quiet period and bounds what it tracks", () => {
    const clock = fakeClock();
    const t = new LoginThrottle(clock, { forgetAfterMs: 60_000, maxTracked: 100 });
    for (let i = 0; i < 10; i++) t.recordFailure(attacker);
    expect(t.check(attacker).allowed).toBe(false);
    clock.advance(60_000);
    expect(t.check(attacker)).toEqual({ allowed: true, suspect: false });
    for (let a = 0; a < 1000; a++) t.recordFailure({ userName: `u${a}`, clientAddress: `10.2.${a >> 8}.${a & 255}` });
    const maps = t as unknown as { byAddress: Map<string, unknown>; byPair: Map<string, unknown>; byUser: Map<string, unknown> };
    expect(maps.byAddress.size).toBeLessThanOrEqual(100);
    expect(maps.byPair.size).toBeLessThanOrEqual(100);
    expect(maps.byUser.size).toBeLessThanOrEqual(100);
  });
});
