/**
 * The scheduling logic (due derivation, backoff, concurrency, restart) with the real store
 * (LowdbStore in a temp dir), a manual clock and a scripted PushCycleRunner. The runner stands in
 * for the device side only; test/integration/push-scheduler.test.ts runs the real cycle.
 */
import path from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "@jest/globals";
import { FileAuditLog } from "../../src/audit/file-audit-log.js";
import type { CertificateGroupName } from "../../src/ca/certificate-types.js";
import { DirectoryService } from "../../src/directory/directory-service.js";
import type { PushCycleRequest, PushCycleResult, PushCycleRunner } from "../../src/push/push-cycle.types.js";
import { PushScheduler, backoffDelay, dueWork } from "../../src/push/push-scheduler.js";
import { PushTargetService } from "../../src/push/push-target-service.js";
import type { PushStatusRecord, StoredPushTarget } from "../../src/push/push-target.types.js";
import { SecretBox } from "../../src/secrets/secret-box.js";
import { LowdbStore } from "../../src/store/lowdb-store.js";
import { tempDir } from "./helpers/ca-tools.js";
import { ManualClock } from "./helpers/manual-clock.js";

const T0 = Date.parse("2026-03-01T00:00:00.000Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const LIFETIME = 365 * DAY;
const RENEW_BEFORE = 30 * DAY;

class FakeTrustLists {
  lastUpdateTime = new Date(T0 - DAY);
  private readonly listeners: ((g: CertificateGroupName) => void)[] = [];
  trustList(_group: CertificateGroupName) {
    return { lastUpdateTime: this.lastUpdateTime };
  }
  onTrustListChanged(listener: (g: CertificateGroupName) => void) {
    this.listeners.push(listener);
    return () => this.listeners.splice(this.listeners.indexOf(listener), 1);
  }
  change(at: Date): void {
    this.lastUpdateTime = at;
    for (const l of this.listeners) l("DefaultApplicationGroup");
  }
}

/** Answers each cycle from `script` (default: success as the device would confirm it). */
class ScriptedRunner implements PushCycleRunner {
  readonly calls: PushCycleRequest[] = [];
  active = 0;
  maxActive = 0;
  readonly activeIds = new Set<string>();
  overlapped = false;
  gate: Promise<void> | undefined;
  script: (req: PushCycleRequest) => PushCycleResult | Promise<PushCycleResult>;
  private serial = 0;

  constructor(
    private readonly clock: ManualClock,
    private readonly trust: FakeTrustLists,
  ) {
    this.script = (req) => this.success(req);
  }

  success(req: PushCycleRequest): PushCycleResult {
    const now = this.clock.now().getTime();
    return {
      ok: true,
      steps: [{ step: "connect", ms: 1 }],
      trustList: req.pushTrustList ? { group: req.target.group, lastUpdateTime: this.trust.lastUpdateTime.toISOString() } : undefined,
      certificate: req.renewCertificate
        ? { serialHex: (++this.serial).toString(16).padStart(4, "0"), notBefore: new Date(now).toISOString(), notAfter: new Date(now + LIFETIME).toISOString(), thumbprint: "00" }
        : undefined,
    };
  }

  async run(req: PushCycleRequest): Promise<PushCycleResult> {
    this.calls.push(req);
    if (this.activeIds.has(req.target.applicationId)) this.overlapped = true;
    this.activeIds.add(req.target.applicationId);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      if (this.gate) await this.gate;
      return await this.script(req);
    } finally {
      this.active--;
      this.activeIds.delete(req.target.applicationId);
    }
  }
}

interface Ctx {
  dataDir: string;
  store: LowdbStore;
  audit: FileAuditLog;
  clock: ManualClock;
  directory: DirectoryService;
  service: PushTargetService;
  trust: FakeTrustLists;
  runner: ScriptedRunner;
  scheduler: PushScheduler;
}

const open: Ctx[] = [];

async function build(opts: { dataDir?: string; clock?: ManualClock; trust?: FakeTrustLists; concurrency?: number; intervalMs?: number; random?: () => number } = {}): Promise<Ctx> {
  const dataDir = opts.dataDir ?? tempDir("push-sched-");
  const clock = opts.clock ?? new ManualClock(T0);
  const trust = opts.trust ?? new FakeTrustLists();
  const store = new LowdbStore({ dir: dataDir });
  await store.open();
  const log = pino({ level: "debug" }, pino.destination({ dest: path.join(dataDir, "test.log"), sync: true }));
  const audit = await FileAuditLog.open({ dataDir, clock, log });
  const directory = new DirectoryService({ store, clock, counterResetTime: new Date(T0), audit });
  await directory.init();
  const service = new PushTargetService({ store, clock, directory, audit, secrets: SecretBox.open(dataDir), log });
  await service.init();
  const runner = new ScriptedRunner(clock, trust);
  const scheduler = new PushScheduler({
    targets: service,
    certificates: trust,
    runner,
    clock,
    log,
    intervalMs: opts.intervalMs ?? HOUR,
    concurrency: opts.concurrency ?? 4,
    callTimeoutMs: 1234,
    renewBeforeMs: RENEW_BEFORE,
    random: opts.random ?? (() => 0.5),
    stopTimeoutMs: 2000,
  });
  const ctx = { dataDir, store, audit, clock, directory, service, trust, runner, scheduler };
  open.push(ctx);
  return ctx;
}

async function close(ctx: Ctx): Promise<void> {
  const i = open.indexOf(ctx);
  if (i >= 0) open.splice(i, 1);
  await ctx.scheduler.stop();
  await ctx.audit.close();
  await ctx.store.close();
}

afterEach(async () => {
  for (const ctx of [...open]) await close(ctx);
});

async function device(ctx: Ctx, n: number | string): Promise<string> {
  const r = await ctx.directory.register({
    applicationUri: `urn:test:device:${n}`,
    applicationType: 0,
    applicationNames: [{ locale: "en", text: `Device ${n}` }],
    productUri: "urn:test:product",
    discoveryUrls: [`opc.tcp://device-${n}:4840`],
    serverCapabilities: [],
  });
  await ctx.service.setTarget({ applicationId: r.applicationId, endpointUrl: `opc.tcp://127.0.0.1:${40000 + Number(String(n).length)}`, userName: "sec", password: "device-pw" }, "admin");
  return r.applicationId;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** One look plus every cycle it (and the looks those cycles trigger) starts. */
async function settle(ctx: Ctx): Promise<void> {
  await ctx.scheduler.tick();
  await ctx.scheduler.whenIdle();
}

async function statusOf(ctx: Ctx, id: string): Promise<PushStatusRecord> {
  return (await ctx.service.statusRecord(id))!;
}

const target = { applicationId: "x", group: "DefaultApplicationGroup" } as StoredPushTarget;

describe("dueWork (pure)", () => {
  const now = new Date(T0);
  const tl = new Date(T0 - HOUR);
  const confirmed = (notAfter: number, trustListAt = tl): PushStatusRecord => ({
    applicationId: "x",
    consecutiveFailures: 0,
    certificate: { serialHex: "01", notAfter: new Date(notAfter).toISOString(), confirmedAt: now.toISOString() },
    trustList: { group: "DefaultApplicationGroup", lastUpdateTime: trustListAt.toISOString(), pushedAt: now.toISOString() },
  });

  it("first push when the device never got a certificate", () => {
    expect(dueWork(target, undefined, now, tl, RENEW_BEFORE)).toMatchObject({ reason: "firstPush", renewCertificate: true, pushTrustList: true, actor: "push-scheduler" });
  });

  it("renewal exactly when less than renewBefore remains", () => {
    expect(dueWork(target, confirmed(T0 + RENEW_BEFORE), now, tl, RENEW_BEFORE)).toBeUndefined();
    expect(dueWork(target, confirmed(T0 + RENEW_BEFORE - 1), now, tl, RENEW_BEFORE)).toMatchObject({ reason: "renewal", renewCertificate: true, pushTrustList: true });
  });

  it("trust list only, when the group's LastUpdateTime differs from what the device confirmed", () => {
    expect(dueWork(target, confirmed(T0 + LIFETIME, new Date(T0 - 2 * HOUR)), now, tl, RENEW_BEFORE)).toMatchObject({ reason: "trustListChanged", renewCertificate: false, pushTrustList: true });
  });

  it("backoff holds automatic work back, an admin request does not", () => {
    const failing: PushStatusRecord = { applicationId: "x", consecutiveFailures: 2, nextAttemptAt: new Date(T0 + 1000).toISOString() };
    expect(dueWork(target, failing, now, tl, RENEW_BEFORE)).toBeUndefined();
    expect(dueWork(target, failing, new Date(T0 + 1000), tl, RENEW_BEFORE)).toMatchObject({ reason: "retry", renewCertificate: true });
    expect(dueWork(target, { ...failing, pushRequestedAt: now.toISOString(), pushRequestedBy: "alice" }, now, tl, RENEW_BEFORE)).toMatchObject({ reason: "admin", actor: "alice", renewCertificate: true });
  });
});

describe("dueWork: trust-list changes and backoff", () => {
  it("a trust list that changed after the last attempt is pushed at once, even within a backoff", () => {
    const now = new Date(T0);
    const lastAttempt = new Date(T0 - 10_000);
    const failing: PushStatusRecord = {
      applicationId: "x",
      consecutiveFailures: 4,
      lastAttempt: lastAttempt.toISOString(),
      nextAttemptAt: new Date(T0 + HOUR).toISOString(),
      certificate: { serialHex: "01", notAfter: new Date(T0 + LIFETIME).toISOString(), confirmedAt: lastAttempt.toISOString() },
    };
    // unchanged since the attempt (still not confirmed on the device): wait for the backoff
    expect(dueWork(target, failing, now, new Date(T0 - 20_000), RENEW_BEFORE)).toBeUndefined();
    // a revocation after the attempt
    expect(dueWork(target, failing, now, new Date(T0 - 5_000), RENEW_BEFORE)).toMatchObject({ reason: "trustListChanged", pushTrustList: true, renewCertificate: false });
  });
});

describe("backoffDelay", () => {
  it("doubles from the base up to the cap, with jitter between half and all of it", () => {
    expect([1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, 30_000, HOUR, () => 1 - 1e-12))).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, HOUR]);
    expect(backoffDelay(1, 30_000, HOUR, () => 0)).toBe(15_000);
    expect(backoffDelay(100, 30_000, HOUR, () => 0)).toBe(HOUR / 2);
  });
});

describe("PushScheduler", () => {
  it("pushes a new target at once, then nothing until the certificate needs renewal", async () => {
    const ctx = await build();
    const id = await device(ctx, 1);
    await settle(ctx);
    expect(ctx.runner.calls.map((c) => [c.reason, c.renewCertificate, c.pushTrustList, c.callTimeoutMs])).toEqual([["firstPush", true, true, 1234]]);
    expect(ctx.runner.calls[0].target).toMatchObject({ applicationId: id, applicationUri: "urn:test:device:1", identity: { kind: "userName", userName: "sec", password: "device-pw" } });
    const s = await statusOf(ctx, id);
    expect(s).toMatchObject({ lastResult: "ok", certificate: { serialHex: "0001" }, trustList: { lastUpdateTime: ctx.trust.lastUpdateTime.toISOString() } });

    ctx.clock.advance(LIFETIME - RENEW_BEFORE - 1000);
    await settle(ctx);
    expect(ctx.runner.calls).toHaveLength(1);
    ctx.clock.advance(2000);
    await settle(ctx);
    expect(ctx.runner.calls.map((c) => c.reason)).toEqual(["firstPush", "renewal"]);
    expect((await statusOf(ctx, id)).certificate?.serialHex).toBe("0002");
  });

  it("re-pushes the trust list to every managed device when it changes (event), without renewing", async () => {
    const ctx = await build();
    const ids = [await device(ctx, 1), await device(ctx, 2), await device(ctx, 3)];
    ctx.scheduler.start();
    await ctx.scheduler.whenIdle();
    await settle(ctx);
    expect(ctx.runner.calls).toHaveLength(3);
    ctx.clock.advance(HOUR);
    ctx.trust.change(ctx.clock.now()); // e.g. a revocation
    await ctx.scheduler.whenIdle();
    const after = ctx.runner.calls.slice(3);
    expect(after.map((c) => [c.reason, c.renewCertificate]).sort()).toEqual([
      ["trustListChanged", false],
      ["trustListChanged", false],
      ["trustListChanged", false],
    ]);
    for (const id of ids) expect((await statusOf(ctx, id)).trustList?.lastUpdateTime).toBe(ctx.clock.now().toISOString());
  });

  it("never runs more than `concurrency` cycles, nor two for one device", async () => {
    const ctx = await build({ concurrency: 2 });
    for (let i = 1; i <= 7; i++) await device(ctx, i);
    let open!: () => void;
    ctx.runner.gate = new Promise((r) => (open = r));
    await ctx.scheduler.tick();
    expect(ctx.scheduler.runningIds()).toHaveLength(2);
    // more looks while they run change nothing
    await ctx.scheduler.tick();
    await ctx.scheduler.tick();
    await until(() => ctx.runner.calls.length >= 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(ctx.runner.calls).toHaveLength(2);
    open();
    await ctx.scheduler.whenIdle();
    expect(ctx.runner.calls).toHaveLength(7);
    expect(new Set(ctx.runner.calls.map((c) => c.target.applicationId)).size).toBe(7);
    expect(ctx.runner.maxActive).toBe(2);
    expect(ctx.runner.overlapped).toBe(false);
  });

  it("a push requested during a device's cycle waits for it and then runs once more", async () => {
    const ctx = await build();
    const id = await device(ctx, 1);
    let open!: () => void;
    ctx.runner.gate = new Promise((r) => (open = r));
    await ctx.scheduler.tick();
    expect(ctx.scheduler.isRunning(id)).toBe(true);
    ctx.clock.advance(5);
    const waiting = ctx.scheduler.pushNow(id, "alice", 5000);
    await new Promise((r) => setTimeout(r, 50));
    expect(ctx.runner.calls).toHaveLength(1);
    ctx.runner.gate = undefined;
    open();
    const view = await waiting;
    expect(ctx.runner.calls.map((c) => c.reason)).toEqual(["firstPush", "admin"]);
    expect(ctx.runner.overlapped).toBe(false);
    expect(view.status).toMatchObject({ lastResult: "ok", lastReason: "admin", running: false });
    expect(view.status.pushRequestedAt).toBeUndefined();
    const audit = (await ctx.audit.read()).filter((e) => e.event === "PushCompleted");
    expect(audit.map((e) => e.actor)).toEqual(["push-scheduler", "alice"]);
  });

  it("retries a failing device with growing backoff from the store, and resets once it succeeds", async () => {
    const ctx = await build({ random: () => 0.999999 });
    const id = await device(ctx, 1);
    ctx.runner.script = () => ({ ok: false, steps: [{ step: "connect", ms: 3, statusCode: "BadTimeout" }], error: { step: "connect", statusCode: "BadTimeout", message: "no answer" } });
    await settle(ctx);
    let s = await statusOf(ctx, id);
    expect(s).toMatchObject({ lastResult: "failed", consecutiveFailures: 1, lastError: { step: "connect", statusCode: "BadTimeout" } });
    expect(Date.parse(s.nextAttemptAt!) - T0).toBe(30_000);
    expect(ctx.service.summary()).toEqual({ managed: 1, failed: 1 });

    ctx.clock.advance(29_000);
    await settle(ctx);
    expect(ctx.runner.calls).toHaveLength(1);
    ctx.clock.advance(1000);
    await settle(ctx);
    expect(ctx.runner.calls.map((c) => c.reason)).toEqual(["firstPush", "retry"]);
    s = await statusOf(ctx, id);
    expect(s.consecutiveFailures).toBe(2);
    expect(Date.parse(s.nextAttemptAt!) - ctx.clock.now().getTime()).toBe(60_000);

    // what is due comes from the store: a fresh scheduler over the same data dir keeps the backoff
    await close(ctx);
    const again = await build({ dataDir: ctx.dataDir, clock: ctx.clock, trust: ctx.trust, random: () => 0.999999 });
    await settle(again);
    expect(again.runner.calls).toHaveLength(0);
    again.clock.advance(60_000);
    await settle(again);
    expect(again.runner.calls.map((c) => c.reason)).toEqual(["retry"]);
    s = await statusOf(again, id);
    expect(s).toMatchObject({ lastResult: "ok", consecutiveFailures: 0, certificate: { serialHex: "0001" } });
    expect(s.nextAttemptAt).toBeUndefined();
    expect(s.lastError).toBeUndefined();
    expect(again.service.summary()).toEqual({ managed: 1, failed: 0 });
  });

  it("an admin request a failed cycle did not fulfil stays pending and is retried (with backoff) until the certificate is done", async () => {
    const ctx = await build({ random: () => 1 - 1e-12 });
    const id = await device(ctx, 1);
    await settle(ctx); // first push ok
    ctx.runner.script = () => ({ ok: false, steps: [], error: { step: "connect", statusCode: "BadCommunicationError", message: "ECONNREFUSED" } });
    ctx.clock.advance(1000);
    const view = await ctx.scheduler.pushNow(id, "alice", 5000);
    expect(view.status).toMatchObject({ lastResult: "failed", lastReason: "admin", pushRequestedBy: "alice", consecutiveFailures: 1 });
    expect(view.status.pushRequestTriedAt).toBe(view.status.pushRequestedAt);
    ctx.clock.advance(10_000);
    await settle(ctx);
    expect(ctx.runner.calls).toHaveLength(2); // backoff (30 s) not over
    ctx.runner.script = (req) => ({ ...ctx.runner.success(req), ok: false, error: { step: "verifyTrustList", statusCode: "BadNotSupported", message: "no CRLs" } });
    ctx.clock.advance(20_000);
    await settle(ctx);
    expect(ctx.runner.calls.slice(2).map((c) => [c.reason, c.renewCertificate])).toEqual([["retry", true]]);
    const s = await statusOf(ctx, id);
    // the certificate was confirmed: the request is served, though the trust list still fails
    expect(s.pushRequestedAt).toBeUndefined();
    expect(s).toMatchObject({ lastResult: "failed", certificate: { serialHex: "0002" }, lastError: { step: "verifyTrustList" } });
    const audit = (await ctx.audit.read()).filter((e) => e.event === "PushCompleted");
    expect(audit.map((e) => [e.actor, e.outcome])).toEqual([
      ["push-scheduler", "Good"],
      ["alice", "BadCommunicationError"],
      ["alice", "BadNotSupported"],
    ]);
  });

  it("after a restart: runs a push requested before it and catches a trust-list change made while down", async () => {
    const ctx = await build();
    const a = await device(ctx, 1);
    const b = await device(ctx, 2);
    await settle(ctx);
    ctx.clock.advance(1000);
    await ctx.service.requestPush(a, "alice"); // no tick: the GDS stops before it runs
    await close(ctx);
    ctx.clock.advance(HOUR);
    ctx.trust.lastUpdateTime = ctx.clock.now(); // changed while nobody listened

    const again = await build({ dataDir: ctx.dataDir, clock: ctx.clock, trust: ctx.trust });
    again.scheduler.start();
    await again.scheduler.whenIdle();
    const byId = new Map(again.runner.calls.map((c) => [c.target.applicationId, c]));
    expect(byId.get(a)).toMatchObject({ reason: "admin", renewCertificate: true });
    expect(byId.get(b)).toMatchObject({ reason: "trustListChanged", renewCertificate: false });
    expect(again.runner.calls).toHaveLength(2);
    expect((await statusOf(again, a)).pushRequestedAt).toBeUndefined();
  });

  it("a runner that throws is recorded as a failure of that device; a removed target is not re-created", async () => {
    const ctx = await build();
    const id = await device(ctx, 1);
    ctx.runner.script = () => {
      throw new Error("garbage from the device");
    };
    await settle(ctx);
    expect(await statusOf(ctx, id)).toMatchObject({ lastResult: "failed", lastError: { statusCode: "BadInternalError", message: expect.stringContaining("garbage from the device") } });

    let open!: () => void;
    ctx.runner.gate = new Promise((r) => (open = r));
    ctx.runner.script = (req) => ctx.runner.success(req);
    ctx.clock.advance(1);
    await ctx.scheduler.pushNow(id, "admin");
    expect(ctx.scheduler.isRunning(id)).toBe(true);
    await ctx.service.removeTarget(id, "admin");
    open();
    await ctx.scheduler.whenIdle();
    expect(await ctx.service.statusRecord(id)).toBeUndefined();
    expect(await ctx.service.targets()).toEqual([]);
  });

  it("stop() waits for running cycles, bounded, and starts nothing afterwards", async () => {
    const ctx = await build();
    await device(ctx, 1);
    let open!: () => void;
    ctx.runner.gate = new Promise((r) => (open = r));
    await ctx.scheduler.tick();
    setTimeout(() => open(), 100);
    const t = Date.now();
    await ctx.scheduler.stop();
    expect(Date.now() - t).toBeGreaterThanOrEqual(90);
    expect(ctx.scheduler.runningIds()).toEqual([]);
    await device(ctx, 2);
    await ctx.scheduler.tick();
    expect(ctx.runner.calls).toHaveLength(1);

    const stuck = await build();
    await device(stuck, 1);
    stuck.runner.gate = new Promise(() => undefined);
    await stuck.scheduler.tick();
    const t2 = Date.now();
    await stuck.scheduler.stop(); // stopTimeoutMs 2000
    expect(Date.now() - t2).toBeLessThan(4000);
  });
});
