import { describe, expect, it } from "@jest/globals";
import { UserService } from "../../src/users/user-service.js";
import { VerifiedPasswordCache } from "../../src/users/verified-password-cache.js";
import { ManualClock } from "./helpers/manual-clock.js";
import { MemoryStore } from "./helpers/memory-store.js";

describe("VerifiedPasswordCache", () => {
  it("matches only the remembered password, for the same hash, until the TTL ends", () => {
    const clock = new ManualClock(Date.parse("2026-01-01T00:00:00Z"));
    const cache = new VerifiedPasswordCache(clock, 60_000);
    expect(cache.matches("alice", "pw-1", "hash-a")).toBe(false);
    cache.remember("alice", "pw-1", "hash-a");
    expect(cache.matches("alice", "pw-1", "hash-a")).toBe(true);
    expect(cache.matches("alice", "pw-2", "hash-a")).toBe(false);
    expect(cache.matches("bob", "pw-1", "hash-a")).toBe(false);
    // a new password hash (password changed) invalidates the entry
    expect(cache.matches("alice", "pw-1", "hash-b")).toBe(false);
    expect(cache.matches("alice", "pw-1", "hash-a")).toBe(false);
    cache.remember("alice", "pw-1", "hash-a");
    clock.advance(60_000);
    expect(cache.matches("alice", "pw-1", "hash-a")).toBe(false);
    cache.remember("alice", "pw-1", "hash-a");
    cache.forget("alice");
    expect(cache.matches("alice", "pw-1", "hash-a")).toBe(false);
  });

  it("keeps at most maxEntries, dropping the oldest", () => {
    const cache = new VerifiedPasswordCache(new ManualClock(0), 60_000, 2);
    cache.remember("a", "p", "h");
    cache.remember("b", "p", "h");
    cache.remember("c", "p", "h");
    expect(cache.matches("a", "p", "h")).toBe(false);
    expect(cache.matches("b", "p", "h")).toBe(true);
    expect(cache.matches("c", "p", "h")).toBe(true);
  });
});

describe("UserService.verify with the cache", () => {
  it("a removed user is refused at once, even right after a successful login", async () => {
    const users = new UserService({ store: new MemoryStore(), clock: new ManualClock(Date.now()) });
    await users.init();
    await users.add("admin", ["SecurityAdmin"], "admin-password");
    await users.add("op", ["Observer"], "op-password-1");
    expect(await users.verify("op", "op-password-1")).toBe(true);
    expect(await users.verify("op", "op-password-1")).toBe(true); // from the cache
    expect(await users.verify("op", "wrong-password")).toBe(false);
    await users.remove("op");
    expect(await users.verify("op", "op-password-1")).toBe(false);
    // the same name re-created with another password: the old one does not open it
    await users.add("op", ["Observer"], "op-password-2");
    expect(await users.verify("op", "op-password-1")).toBe(false);
    expect(await users.verify("op", "op-password-2")).toBe(true);
  });
});
