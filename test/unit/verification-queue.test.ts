import { describe, expect, it } from "@jest/globals";
import { VerificationQueue, VerificationRefused } from "../../src/users/verification-queue.js";

/** A verification that finishes when told to. */
function gate<T>(value: T): { run: () => Promise<T>; open: () => void; started: () => boolean } {
  let open!: () => void;
  let started = false;
  const opened = new Promise<void>((r) => (open = r));
  return {
    run: async () => {
      started = true;
      await opened;
      return value;
    },
    open: () => open(),
    started: () => started,
  };
}

describe("VerificationQueue", () => {
  it("runs a few at once, refuses an address's excess at once, and serves clean addresses before suspect ones", async () => {
    const q = new VerificationQueue({ maxRunning: 1, maxWaiting: 10, maxPerAddress: 2 });
    const first = gate("first");
    const p1 = q.run({ address: "a", suspect: true }, first.run);
    const suspectWaiting = gate("suspect");
    const p2 = q.run({ address: "a", suspect: true }, suspectWaiting.run);
    // The address's third pending verification is refused without running.
    await expect(q.run({ address: "a", suspect: true }, async () => "never")).rejects.toBeInstanceOf(VerificationRefused);
    const clean = gate("clean");
    const p3 = q.run({ address: "b", suspect: false }, clean.run);
    expect(q.load).toEqual({ running: 1, waiting: 2 });
    first.open();
    await expect(p1).resolves.toBe("first");
    await new Promise((r) => setImmediate(r));
    // b (clean) overtook a's second attempt (suspect).
    expect(clean.started()).toBe(true);
    expect(suspectWaiting.started()).toBe(false);
    clean.open();
    suspectWaiting.open();
    await expect(p3).resolves.toBe("clean");
    await expect(p2).resolves.toBe("suspect");
    expect(q.load).toEqual({ running: 0, waiting: 0 });
  });

  it("when full, a clean arrival displaces the newest suspect waiter; a suspect arrival is refused", async () => {
    const q = new VerificationQueue({ maxRunning: 1, maxWaiting: 2, maxPerAddress: 10 });
    const running = gate(0);
    const r = q.run({ address: "x", suspect: true }, running.run);
    const w1 = q.run({ address: "x", suspect: true }, async () => 1);
    const w2 = q.run({ address: "y", suspect: true }, async () => 2);
    await expect(q.run({ address: "z", suspect: true }, async () => 3)).rejects.toMatchObject({ reason: "busy" });
    const c = q.run({ address: "c", suspect: false }, async () => 4);
    await expect(w2).rejects.toMatchObject({ reason: "busy" });
    running.open();
    await expect(Promise.all([r, w1, c])).resolves.toEqual([0, 1, 4]);
  });

  it("one address never holds every running slot: another address starts at once", async () => {
    const q = new VerificationQueue({ maxRunning: 2, maxRunningPerAddress: 1, maxWaiting: 10, maxPerAddress: 3 });
    const a1 = gate("a1");
    const a2 = gate("a2");
    const pa1 = q.run({ address: "attacker", suspect: false }, a1.run);
    const pa2 = q.run({ address: "attacker", suspect: false }, a2.run);
    expect(a1.started()).toBe(true);
    expect(a2.started()).toBe(false);
    const admin = gate("admin");
    const pAdmin = q.run({ address: "admin-host", suspect: false }, admin.run);
    expect(admin.started()).toBe(true);
    admin.open();
    await expect(pAdmin).resolves.toBe("admin");
    a1.open();
    a2.open();
    await expect(Promise.all([pa1, pa2])).resolves.toEqual(["a1", "a2"]);
  });

  it("asks again at dequeue time whether an address is suspect", async () => {
    const suspects = new Set<string>();
    const q = new VerificationQueue({ maxRunning: 1, maxRunningPerAddress: 1, maxWaiting: 10, maxPerAddress: 3 }, (a) => suspects.has(a));
    const first = gate(0);
    const p0 = q.run({ address: "z", suspect: false }, first.run);
    const guess = gate(1);
    const p1 = q.run({ address: "guesser", suspect: false }, guess.run);
    const real = gate(2);
    const p2 = q.run({ address: "real", suspect: false }, real.run);
    suspects.add("guesser"); // its earlier guesses failed meanwhile
    first.open();
    await p0;
    await new Promise((r) => setImmediate(r));
    expect(real.started()).toBe(true);
    expect(guess.started()).toBe(false);
    real.open();
    guess.open();
    await expect(Promise.all([p1, p2])).resolves.toEqual([1, 2]);
  });

  it("identical attempts share one verification", async () => {
    const q = new VerificationQueue({ maxRunning: 1, maxWaiting: 0, maxPerAddress: 1 });
    let runs = 0;
    const g = gate(true);
    const verify = () => {
      runs++;
      return g.run();
    };
    const all = Array.from({ length: 50 }, () => q.run({ address: "mes", suspect: false, key: "same" }, verify));
    g.open();
    await expect(Promise.all(all)).resolves.toEqual(Array(50).fill(true));
    expect(runs).toBe(1);
  });
});
