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
  /** Signing requests as the CertificateManager would hold them (GDS_AUTO_APPROVE=false). */
  readonly requests = new Map<string, string>();
  getRequest(requestId: string): { state: string } {
    const state = this.requests.get(requestId);
    if (!state) throw new Error(`no certificate request ${requestId}`);
    return { state };
  }
  private readonly decidedListeners: ((r: { requestId: string; applicationId: string }) => void)[] = [];
  onRequestDecided(listener: (r: { requestId: string; applicationId: string }) => void) {
    this.decidedListeners.push(listener);
    return () => this.decidedListeners.splice(this.decidedListeners.indexOf(listener), 1);
  }
  /** An admin's ApproveRequest/RejectRequest, as CertificateManagerService announces it. */
  decide(requestId: string, applicationId: string, state: "approved" | "rejected"): void {
    this.requests.set(requestId, state);
    for (const l of [...this.decidedListeners]) l({ requestId, applicationId });
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

async function build(
  opts: { dataDir?: string; clock?: ManualClock; trust?: FakeTrustLists; concurrency?: number; intervalMs?: number; random?: () => number; withoutRequestLookup?: boolean; approvalPollMs?: number } = {},
): Promise<Ctx> {
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
    certificates: opts.withoutRequestLookup ? { trustList: (g: CertificateGroupName) => trust.trustList(g), onTrustListChanged: (l: (g: CertificateGroupName) => void) => trust.onTrustListChanged(l) } : trust,
    runner,
    ...(opts.approvalPollMs ? { approvalPollMs: opts.approvalPollMs } : {}),
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

/**
 * GDS_AUTO_APPROVE=false as the cycle reports it: a new CSR makes a pending request (step sign
 * BadNothingToDo with pendingRequestId); a cycle given pendingRequestId finishes that request
 * (still pending → the same answer; rejected → BadRequestNotAllowed; approved → the certificate).
 */
function approvalScript(ctx: Ctx): { created: string[] } {
  const created: string[] = [];
  ctx.runner.script = (req) => {
    if (!req.renewCertificate) return ctx.runner.success(req);
    let id = req.pendingRequestId;
    if (!id) {
      id = `req-${created.length + 1}`;
      created.push(id);
      ctx.trust.requests.set(id, "pending");
    }
    const steps = [{ step: "connect" as const, ms: 1 }, ...(req.pendingRequestId ? [] : [{ step: "createSigningRequest" as const, ms: 1 }])];
    const trustList = { group: req.target.group, lastUpdateTime: ctx.trust.lastUpdateTime.toISOString() };
    switch (ctx.trust.requests.get(id)) {
      case "pending":
        return { ok: false, steps: [...steps, { step: "sign", ms: 1, statusCode: "BadNothingToDo" }], trustList, requestId: id, pendingRequestId: id, error: { step: "sign", statusCode: "BadNothingToDo", message: `signing request ${id} is waiting for approval` } };
      case "rejected":
        return { ok: false, steps: [...steps, { step: "sign", ms: 1, statusCode: "BadRequestNotAllowed" }], trustList, requestId: id, error: { step: "sign", statusCode: "BadRequestNotAllowed", message: `request ${id} was rejected` } };
      default:
        ctx.trust.requests.set(id, "delivered");
        return { ...ctx.runner.success(req), requestId: id };
    }
  };
  return { created };
}

describe("dueWork: a signing request waiting for approval", () => {
  const now = new Date(T0);
  const tl = new Date(T0 - HOUR);
  const waiting: PushStatusRecord = { applicationId: "x", consecutiveFailures: 0, lastResult: "waitingForApproval", lastAttempt: new Date(T0 - 1000).toISOString(), pendingRequestId: "r1", pendingRequestSince: new Date(T0 - 1000).toISOString(), trustList: { group: "DefaultApplicationGroup", lastUpdateTime: tl.toISOString(), pushedAt: now.toISOString() } };

  it("holds the certificate back while pending, but not the trust list; finishes that request once decided", () => {
    expect(dueWork(target, waiting, now, tl, RENEW_BEFORE, true)).toBeUndefined();
    const tlOnly = dueWork(target, waiting, now, new Date(T0 - 10), RENEW_BEFORE, true);
    expect(tlOnly).toMatchObject({ reason: "trustListChanged", renewCertificate: false, pushTrustList: true });
    expect(tlOnly?.pendingRequestId).toBeUndefined();
    expect(dueWork(target, waiting, now, tl, RENEW_BEFORE, false)).toMatchObject({ reason: "firstPush", renewCertificate: true, pendingRequestId: "r1" });
    // even when the confirmed certificate has long to live (the request came from a push now)
    const withCert = { ...waiting, certificate: { serialHex: "01", notAfter: new Date(T0 + LIFETIME).toISOString(), confirmedAt: now.toISOString() } };
    expect(dueWork(target, withCert, now, tl, RENEW_BEFORE, true)).toBeUndefined();
    expect(dueWork(target, withCert, now, tl, RENEW_BEFORE, false)).toMatchObject({ reason: "renewal", renewCertificate: true, pendingRequestId: "r1" });
  });

  it("an admin's new push now runs once with the pending request; a tried one waits for the decision", () => {
    const asked = { ...waiting, pushRequestedAt: now.toISOString(), pushRequestedBy: "alice" };
    expect(dueWork(target, asked, now, tl, RENEW_BEFORE, true)).toMatchObject({ reason: "admin", renewCertificate: true, pendingRequestId: "r1", actor: "alice" });
    const tried = { ...asked, pushRequestTriedAt: asked.pushRequestedAt };
    expect(dueWork(target, tried, now, tl, RENEW_BEFORE, true)).toBeUndefined();
    expect(dueWork(target, tried, now, tl, RENEW_BEFORE, false)).toMatchObject({ reason: "retry", renewCertificate: true, pendingRequestId: "r1", servesRequest: asked.pushRequestedAt });
  });
});

describe("PushScheduler: manual approval (GDS_AUTO_APPROVE=false)", () => {
  it("waits for approval without new requests or backoff, survives a restart, and finishes the same request once approved", async () => {
    const ctx = await build();
    const { created } = approvalScript(ctx);
    const id = await device(ctx, 1);
    await settle(ctx);
    let s = await statusOf(ctx, id);
    expect(s).toMatchObject({ lastResult: "waitingForApproval", pendingRequestId: "req-1", pendingRequestSince: new Date(T0).toISOString(), consecutiveFailures: 0 });
    expect(s.nextAttemptAt).toBeUndefined();
    expect(s.lastError).toBeUndefined();
    expect(ctx.service.summary()).toEqual({ managed: 1, failed: 0 });

    // looks at the request locally: no cycle, no new CSR while it is pending
    for (let i = 0; i < 5; i++) {
      ctx.clock.advance(10 * 60_000);
      await settle(ctx);
    }
    expect(ctx.runner.calls).toHaveLength(1);

    // the trust list is still kept current meanwhile, without touching the request
    ctx.trust.change(ctx.clock.now());
    await settle(ctx);
    expect(ctx.runner.calls.slice(1).map((c) => [c.reason, c.renewCertificate, c.pendingRequestId])).toEqual([["trustListChanged", false, undefined]]);
    expect(await statusOf(ctx, id)).toMatchObject({ lastResult: "waitingForApproval", pendingRequestId: "req-1", pendingRequestSince: new Date(T0).toISOString() });

    // push now: one cycle with the pending request, answered "waiting", then nothing more
    ctx.clock.advance(1000);
    const view = await ctx.scheduler.pushNow(id, "alice", 5000);
    expect(view.status).toMatchObject({ lastResult: "waitingForApproval", pendingRequestId: "req-1", pushRequestedBy: "alice", consecutiveFailures: 0 });
    expect(ctx.runner.calls.at(-1)).toMatchObject({ reason: "admin", renewCertificate: true, pendingRequestId: "req-1" });
    ctx.clock.advance(HOUR);
    await settle(ctx);
    expect(ctx.runner.calls).toHaveLength(3);

    // a restarted GDS knows the request from the store
    await close(ctx);
    const again = await build({ dataDir: ctx.dataDir, clock: ctx.clock, trust: ctx.trust });
    approvalScript(again);
    await settle(again);
    expect(again.runner.calls).toHaveLength(0);

    again.trust.requests.set("req-1", "approved");
    await settle(again);
    expect(again.runner.calls.map((c) => [c.reason, c.renewCertificate, c.pendingRequestId])).toEqual([["retry", true, "req-1"]]);
    s = await statusOf(again, id);
    expect(s).toMatchObject({ lastResult: "ok", certificate: { serialHex: "0001" }, consecutiveFailures: 0 });
    expect(s.pendingRequestId).toBeUndefined();
    expect(s.pendingRequestSince).toBeUndefined();
    expect(s.pushRequestedAt).toBeUndefined(); // alice's push now is served
    expect(created).toEqual(["req-1"]);
    expect([...again.trust.requests]).toEqual([["req-1", "delivered"]]);
    const audit = (await again.audit.read()).filter((e) => e.event === "PushCompleted");
    expect(audit.map((e) => [e.actor, e.outcome, e.requestId])).toEqual([
      ["push-scheduler", "BadNothingToDo", "req-1"],
      ["push-scheduler", "Good", undefined],
      ["alice", "BadNothingToDo", "req-1"],
      ["alice", "Good", "req-1"],
    ]);
  });

  it("an approval wakes the scheduler at once (onRequestDecided): no clock advance, no poll; other requests' decisions do not", async () => {
    const ctx = await build({ intervalMs: 24 * HOUR });
    approvalScript(ctx);
    const id = await device(ctx, 1);
    const other = await device(ctx, 2);
    ctx.scheduler.start();
    await until(() => ctx.runner.calls.length === 2);
    await ctx.scheduler.whenIdle();
    expect(await statusOf(ctx, id)).toMatchObject({ lastResult: "waitingForApproval", pendingRequestId: "req-1" });
    // a decision nobody waits for (an unknown request; another device's request id on this device): nothing runs
    ctx.trust.decide("req-9", id, "approved");
    ctx.trust.decide("req-2", id, "rejected");
    ctx.trust.requests.set("req-2", "pending");
    await new Promise((r) => setTimeout(r, 100));
    await ctx.scheduler.whenIdle();
    expect(ctx.runner.calls).toHaveLength(2);

    ctx.trust.decide("req-1", id, "approved");
    await until(() => ctx.runner.calls.length === 3);
    await ctx.scheduler.whenIdle();
    expect(ctx.runner.calls[2]).toMatchObject({ target: { applicationId: id }, renewCertificate: true, pendingRequestId: "req-1" });
    expect(await statusOf(ctx, id)).toMatchObject({ lastResult: "ok", certificate: { serialHex: "0001" } });
    expect(await statusOf(ctx, other)).toMatchObject({ lastResult: "waitingForApproval", pendingRequestId: "req-2" });
  });

  it("a rejected request: the cycle reports it, it is cleared and counted as a failure; the retry makes a new request", async () => {
    const ctx = await build({ random: () => 1 - 1e-12 });
    approvalScript(ctx);
    const id = await device(ctx, 1);
    await settle(ctx);
    ctx.trust.requests.set("req-1", "rejected");
    ctx.clock.advance(1000);
    await settle(ctx);
    expect(ctx.runner.calls.at(-1)).toMatchObject({ renewCertificate: true, pendingRequestId: "req-1" });
    const s = await statusOf(ctx, id);
    expect(s).toMatchObject({ lastResult: "failed", consecutiveFailures: 1, lastError: { step: "sign", statusCode: "BadRequestNotAllowed" } });
    expect(s.pendingRequestId).toBeUndefined();
    expect(Date.parse(s.nextAttemptAt!) - ctx.clock.now().getTime()).toBe(30_000);
    ctx.clock.advance(30_000);
    await settle(ctx);
    expect(ctx.runner.calls.at(-1)).toMatchObject({ reason: "retry", renewCertificate: true });
    expect(ctx.runner.calls.at(-1)!.pendingRequestId).toBeUndefined();
    expect(await statusOf(ctx, id)).toMatchObject({ lastResult: "waitingForApproval", pendingRequestId: "req-2", consecutiveFailures: 0 });
  });

  it("a device that is down after the approval keeps the request (backoff as usual) and gets it when back", async () => {
    const ctx = await build({ random: () => 1 - 1e-12 });
    const { created } = approvalScript(ctx);
    const script = ctx.runner.script;
    const id = await device(ctx, 1);
    await settle(ctx);
    ctx.trust.requests.set("req-1", "approved");
    ctx.runner.script = () => ({ ok: false, steps: [{ step: "connect", ms: 1, statusCode: "BadCommunicationError" }], error: { step: "connect", statusCode: "BadCommunicationError", message: "ECONNREFUSED" } });
    ctx.clock.advance(1000);
    await settle(ctx);
    let s = await statusOf(ctx, id);
    expect(s).toMatchObject({ lastResult: "failed", consecutiveFailures: 1, pendingRequestId: "req-1" });
    expect(s.nextAttemptAt).toBeDefined();
    ctx.runner.script = script;
    ctx.clock.advance(10_000);
    await settle(ctx);
    expect(ctx.runner.calls).toHaveLength(2); // backoff
    ctx.clock.advance(20_000);
    await settle(ctx);
    expect(ctx.runner.calls.at(-1)).toMatchObject({ reason: "retry", pendingRequestId: "req-1" });
    s = await statusOf(ctx, id);
    expect(s).toMatchObject({ lastResult: "ok", certificate: { serialHex: "0001" } });
    expect(s.pendingRequestId).toBeUndefined();
    expect(created).toEqual(["req-1"]);
  });

  it("without a request lookup, a waiting device gets one cycle per approval poll, always with the same request", async () => {
    const ctx = await build({ withoutRequestLookup: true, approvalPollMs: 60_000 });
    const { created } = approvalScript(ctx);
    await device(ctx, 1);
    await settle(ctx);
    ctx.clock.advance(59_000);
    await settle(ctx);
    expect(ctx.runner.calls).toHaveLength(1);
    ctx.clock.advance(1000);
    await settle(ctx);
    expect(ctx.runner.calls.map((c) => c.pendingRequestId)).toEqual([undefined, "req-1"]);
    ctx.trust.requests.set("req-1", "approved");
    ctx.clock.advance(60_000);
    await settle(ctx);
    expect(ctx.runner.calls.map((c) => c.pendingRequestId)).toEqual([undefined, "req-1", "req-1"]);
    expect(created).toEqual(["req-1"]);
  });
});
