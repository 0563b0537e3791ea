import fs from "node:fs";
import path from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "@jest/globals";
import { FileAuditLog } from "../../src/audit/file-audit-log.js";
import { defaultSettings, loadConfig } from "../../src/config.js";
import { DirectoryService } from "../../src/directory/directory-service.js";
import type { PushCycleRequest } from "../../src/push/push-cycle.types.js";
import { GdsError } from "../../src/errors.js";
import { PUSH_TARGET_REMOVED_REASON, PushTargetService, parseSecurityMode, type PushRequestDecisions, parseSecurityPolicy, validateEndpointUrl } from "../../src/push/push-target-service.js";
import { PUSH_STATUS_COLLECTION, PUSH_TARGETS_COLLECTION, type StoredPushTarget } from "../../src/push/push-target.types.js";
import { SecretBox } from "../../src/secrets/secret-box.js";
import { LowdbStore } from "../../src/store/lowdb-store.js";
import { tempDir } from "./helpers/ca-tools.js";
import { rejectsGdsError, throwsGdsError } from "./helpers/gds-error.js";
import { ManualClock } from "./helpers/manual-clock.js";

const T0 = Date.parse("2026-03-01T00:00:00.000Z");
const SECRET = "device-password-Secr3t!";

interface Ctx {
  dataDir: string;
  store: LowdbStore;
  audit: FileAuditLog;
  clock: ManualClock;
  directory: DirectoryService;
  service: PushTargetService;
  logFile: string;
}

const open: Ctx[] = [];

async function build(dataDir = tempDir("push-target-"), clock = new ManualClock(T0), requests?: PushRequestDecisions): Promise<Ctx> {
  const store = new LowdbStore({ dir: dataDir });
  await store.open();
  const logFile = path.join(dataDir, "test.log");
  const log = pino({ level: "debug" }, pino.destination({ dest: logFile, sync: true }));
  const audit = await FileAuditLog.open({ dataDir, clock, log });
  const directory = new DirectoryService({ store, clock, counterResetTime: new Date(T0), audit });
  await directory.init();
  const service = new PushTargetService({ store, clock, directory, audit, secrets: SecretBox.open(dataDir), log, ...(requests ? { requests } : {}) });
  await service.init();
  const ctx = { dataDir, store, audit, clock, directory, service, logFile };
  open.push(ctx);
  return ctx;
}

async function close(ctx: Ctx): Promise<void> {
  const i = open.indexOf(ctx);
  if (i >= 0) open.splice(i, 1);
  await ctx.audit.close();
  await ctx.store.close();
}

afterEach(async () => {
  for (const ctx of [...open]) await close(ctx);
});

async function register(ctx: Ctx, n: string): Promise<string> {
  const r = await ctx.directory.register({
    applicationUri: `urn:test:device:${n}`,
    applicationType: 0,
    applicationNames: [{ locale: "en", text: `Device ${n}` }],
    productUri: "urn:test:product",
    discoveryUrls: [`opc.tcp://device-${n}:4840`],
    serverCapabilities: [],
  });
  return r.applicationId;
}

function request(target: ReturnType<PushTargetService["pushTargetFor"]>): PushCycleRequest {
  return { target, pushTrustList: true, renewCertificate: true, reason: "firstPush", callTimeoutMs: 30_000 };
}

describe("push settings", () => {
  it("GDS_PUSH_INTERVAL (1h), GDS_PUSH_CONCURRENCY (4), GDS_PUSH_TIMEOUT (30s): env, flags, config file; bad values name the setting", () => {
    expect(defaultSettings()).toMatchObject({ pushIntervalMs: 3_600_000, pushConcurrency: 4, pushTimeoutMs: 30_000 });
    const dir = tempDir("push-config-");
    const load = (env: Record<string, string>, flags: Record<string, string> = {}) => loadConfig({ env: { GDS_DATA_DIR: dir, ...env }, flags, cwd: dir });
    expect(load({ GDS_PUSH_INTERVAL: "5s", GDS_PUSH_CONCURRENCY: "16", GDS_PUSH_TIMEOUT: "2m" })).toMatchObject({ pushIntervalMs: 5000, pushConcurrency: 16, pushTimeoutMs: 120_000 });
    expect(load({}, { "push-interval": "10m", "push-concurrency": "1", "push-timeout": "10s" })).toMatchObject({ pushIntervalMs: 600_000, pushConcurrency: 1, pushTimeoutMs: 10_000 });
    fs.writeFileSync(path.join(dir, "gds.config.json"), JSON.stringify({ pushIntervalMs: "12h", pushConcurrency: 8 }));
    expect(load({})).toMatchObject({ pushIntervalMs: 12 * 3_600_000, pushConcurrency: 8, pushTimeoutMs: 30_000 });
    fs.rmSync(path.join(dir, "gds.config.json"));
    expect(() => load({ GDS_PUSH_CONCURRENCY: "0" })).toThrow("GDS_PUSH_CONCURRENCY");
    expect(() => load({ GDS_PUSH_CONCURRENCY: "2.5" })).toThrow("GDS_PUSH_CONCURRENCY");
    expect(() => load({ GDS_PUSH_INTERVAL: "soon" })).toThrow("GDS_PUSH_INTERVAL");
    expect(() => load({ GDS_PUSH_TIMEOUT: "500ms" })).toThrow("GDS_PUSH_TIMEOUT");
  });
});

describe("validation helpers", () => {
  it("accepts opc.tcp://host:port[/path] and refuses the rest with a message", () => {
    expect(validateEndpointUrl(" opc.tcp://127.0.0.1:4840/UA/Device ")).toBe("opc.tcp://127.0.0.1:4840/UA/Device");
    expect(validateEndpointUrl("opc.tcp://[::1]:48010")).toBe("opc.tcp://[::1]:48010");
    throwsGdsError(() => validateEndpointUrl("opc.tcp://plc7"), "BadInvalidArgument", "EndpointUrl", "opc.tcp://host:port");
    throwsGdsError(() => validateEndpointUrl("http://plc7:80"), "BadInvalidArgument", "EndpointUrl");
    throwsGdsError(() => validateEndpointUrl("opc.tcp://plc7:70000"), "BadInvalidArgument", "port must be 1–65535");
    throwsGdsError(() => validateEndpointUrl(""), "BadInvalidArgument", "must not be empty");
  });

  it("policy: short names and URIs, case-insensitive, default Basic256Sha256; mode default SignAndEncrypt", () => {
    expect(parseSecurityPolicy("")).toBe("Basic256Sha256");
    expect(parseSecurityPolicy("aes256_sha256_rsapss")).toBe("Aes256_Sha256_RsaPss");
    expect(parseSecurityPolicy("http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep")).toBe("Aes128_Sha256_RsaOaep");
    throwsGdsError(() => parseSecurityPolicy("None"), "BadInvalidArgument", "SecurityPolicy", "Basic256Sha256");
    throwsGdsError(() => parseSecurityPolicy("Basic128Rsa15"), "BadInvalidArgument", "SecurityPolicy");
    expect(parseSecurityMode(undefined)).toBe("SignAndEncrypt");
    expect(parseSecurityMode("sign")).toBe("Sign");
    throwsGdsError(() => parseSecurityMode("None"), "BadInvalidArgument", "SecurityMode");
  });
});

describe("PushTargetService", () => {
  it("stores a target with the password sealed, never in the store, log, audit or views", async () => {
    const ctx = await build();
    const id = await register(ctx, "a");
    const view = await ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://127.0.0.1:48400", userName: "secadmin", password: SECRET }, "admin");
    expect(view).toMatchObject({
      applicationId: id,
      applicationUri: "urn:test:device:a",
      endpointUrl: "opc.tcp://127.0.0.1:48400",
      securityPolicy: "Basic256Sha256",
      securityMode: "SignAndEncrypt",
      identity: { kind: "userName", userName: "secadmin" },
      regeneratePrivateKey: true,
      group: "DefaultApplicationGroup",
      createdBy: "admin",
    });
    expect(JSON.stringify(view)).not.toContain(SECRET);
    const stored = await ctx.store.get<StoredPushTarget>(PUSH_TARGETS_COLLECTION, id);
    expect(stored?.identity.kind).toBe("userName");
    expect(JSON.stringify(stored)).not.toContain(SECRET);
    // the decrypted form exists only for a cycle
    expect(ctx.service.pushTargetFor(stored!).identity).toEqual({ kind: "userName", userName: "secadmin", password: SECRET });
    const status = await ctx.service.status();
    expect(JSON.stringify(status)).not.toContain(SECRET);
    expect(JSON.stringify(status)).not.toContain("sealedPassword");
    await close(ctx);
    for (const f of fs.readdirSync(ctx.dataDir)) {
      const full = path.join(ctx.dataDir, f);
      if (fs.statSync(full).isFile()) expect(fs.readFileSync(full, "latin1")).not.toContain(SECRET);
    }
    expect(fs.statSync(path.join(ctx.dataDir, "secrets.key")).mode & 0o777).toBe(0o600);
    const reopened = await FileAuditLog.open({ dataDir: ctx.dataDir, clock: ctx.clock });
    const entries = await reopened.read();
    await reopened.close();
    expect(entries.filter((e) => e.event === "PushTargetSet")).toEqual([expect.objectContaining({ actor: "admin", applicationId: id, outcome: "Good" })]);
  });

  it("refuses unknown applications (BadNotFound) and bad input (BadInvalidArgument)", async () => {
    const ctx = await build();
    const id = await register(ctx, "b");
    await rejectsGdsError(ctx.service.setTarget({ applicationId: "8d0b1c55-0000-4000-8000-000000000000", endpointUrl: "opc.tcp://h:1", userName: "u", password: "p" }, "admin"), "BadNotFound");
    await rejectsGdsError(ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h", userName: "u", password: "p" }, "admin"), "BadInvalidArgument", "EndpointUrl");
    await rejectsGdsError(ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:1", securityPolicy: "Foo", userName: "u", password: "p" }, "admin"), "BadInvalidArgument", "SecurityPolicy");
    await rejectsGdsError(ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:1", securityMode: "None", userName: "u", password: "p" }, "admin"), "BadInvalidArgument", "SecurityMode");
    await rejectsGdsError(ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:1", userName: "", password: "" }, "admin"), "BadInvalidArgument", "UserName");
    await rejectsGdsError(ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:1", userName: "u", password: "" }, "admin"), "BadInvalidArgument", "Password");
    await rejectsGdsError(ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:1", userName: "u", password: "p", useGdsCertificate: true }, "admin"), "BadInvalidArgument", "UseGdsCertificate");
    await rejectsGdsError(ctx.service.requestPush(id, "admin"), "BadNotFound", "not push-managed");
    await rejectsGdsError(ctx.service.removeTarget(id, "admin"), "BadNotFound", "not push-managed");
    await rejectsGdsError(ctx.service.status(id), "BadNotFound");
    expect(ctx.service.summary()).toEqual({ managed: 0, failed: 0 });
  });

  it("GDS certificate identity; replacing keeps the password for the same user and resets the backoff", async () => {
    const ctx = await build();
    const id = await register(ctx, "c");
    const v1 = await ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:1", useGdsCertificate: true, regeneratePrivateKey: false }, "alice");
    expect(v1.identity).toEqual({ kind: "certificate" });
    expect(v1.regeneratePrivateKey).toBe(false);
    await ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:2", userName: "u", password: SECRET }, "bob");
    await ctx.store.commit([{ collection: PUSH_STATUS_COLLECTION, key: id, value: { applicationId: id, consecutiveFailures: 3, nextAttemptAt: new Date(T0 + 3_600_000).toISOString() } }]);
    ctx.clock.advance(1000);
    const v3 = await ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:3", userName: "u", password: "" }, "carol");
    expect(v3).toMatchObject({ endpointUrl: "opc.tcp://h:3", createdBy: "alice", updatedBy: "carol" });
    expect(ctx.service.pushTargetFor((await ctx.service.target(id))!).identity).toEqual({ kind: "userName", userName: "u", password: SECRET });
    const [s] = await ctx.service.status(id);
    expect(s.status.consecutiveFailures).toBe(0);
    expect(s.status.nextAttemptAt).toBeUndefined();
    expect(ctx.service.summary().managed).toBe(1);
  });

  it("records outcomes: certificate and trust list only as confirmed, errors with step and code, summary and listeners", async () => {
    const ctx = await build();
    const id = await register(ctx, "d");
    await ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:1", userName: "u", password: SECRET }, "admin");
    const events: unknown[] = [];
    ctx.service.onPushFinished((e) => events.push(e));
    const target = ctx.service.pushTargetFor((await ctx.service.target(id))!);

    const started = ctx.clock.now();
    await ctx.service.recordAttempt(id, started, "firstPush");
    ctx.clock.advance(2000);
    await ctx.service.recordResult({
      request: request(target),
      result: {
        ok: false,
        steps: [{ step: "connect", ms: 12 }, { step: "pushTrustList", ms: 40 }, { step: "verifyTrustList", ms: 5 }, { step: "updateCertificate", ms: 7, statusCode: "BadUserAccessDenied" }],
        error: { step: "updateCertificate", statusCode: "BadUserAccessDenied", message: "UpdateCertificate: BadUserAccessDenied" },
        trustList: { group: "DefaultApplicationGroup", lastUpdateTime: "2026-02-28T10:00:00.000Z" },
        signedButUnconfirmedSerialHex: "0abc",
      },
      startedAt: started,
      nextAttemptAt: new Date(T0 + 60_000),
      actor: "push-scheduler",
    });
    let [s] = await ctx.service.status(id);
    expect(s.status).toMatchObject({
      lastAttempt: new Date(T0).toISOString(),
      lastResult: "failed",
      lastError: { step: "updateCertificate", statusCode: "BadUserAccessDenied" },
      consecutiveFailures: 1,
      nextAttemptAt: new Date(T0 + 60_000).toISOString(),
      trustList: { lastUpdateTime: "2026-02-28T10:00:00.000Z" },
      unconfirmedSerialHex: "0abc",
      lastDurationMs: 2000,
      running: false,
    });
    expect(s.status.certificate).toBeUndefined();
    expect(s.status.lastSuccess).toBeUndefined();
    expect(ctx.service.summary()).toEqual({ managed: 1, failed: 1 });

    const { requestedAt } = await ctx.service.requestPush(id, "admin");
    ctx.clock.advance(1000);
    const started2 = ctx.clock.now();
    await ctx.service.recordResult({
      request: { ...request(target), reason: "admin" },
      result: { ok: true, steps: [], certificate: { serialHex: "0def", notBefore: "2026-03-01T00:00:00.000Z", notAfter: "2027-03-01T00:00:00.000Z", thumbprint: "aa" } },
      startedAt: started2,
      trustListLastUpdateTime: new Date("2026-02-28T11:00:00.000Z"),
      actor: "admin",
      servedRequestAt: requestedAt,
    });
    [s] = await ctx.service.status(id);
    expect(s.status).toMatchObject({ lastResult: "ok", consecutiveFailures: 0, certificate: { serialHex: "0def", notAfter: "2027-03-01T00:00:00.000Z" }, trustList: { lastUpdateTime: "2026-02-28T11:00:00.000Z" } });
    expect(s.status.pushRequestedAt).toBeUndefined();
    expect(s.status.lastError).toBeUndefined();
    expect(s.status.nextAttemptAt).toBeUndefined();
    expect(s.status.unconfirmedSerialHex).toBeUndefined();
    expect(requestedAt).toBe(new Date(T0 + 2000).toISOString());
    expect(ctx.service.summary()).toEqual({ managed: 1, failed: 0 });
    expect(events).toEqual([
      { applicationId: id, ok: false, statusCode: "BadUserAccessDenied", step: "updateCertificate" },
      { applicationId: id, ok: true },
    ]);
    const entries = (await ctx.audit.read()).filter((e) => e.event === "PushCompleted");
    expect(entries.map((e) => [e.actor, e.outcome])).toEqual([
      ["push-scheduler", "BadUserAccessDenied"],
      ["admin", "Good"],
    ]);
    expect(JSON.stringify(entries)).not.toContain(SECRET);
  });

  it("a push request made while a cycle runs survives that cycle's end", async () => {
    const ctx = await build();
    const id = await register(ctx, "e");
    await ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:1", userName: "u", password: SECRET }, "admin");
    const target = ctx.service.pushTargetFor((await ctx.service.target(id))!);
    const started = ctx.clock.now();
    ctx.clock.advance(10);
    await ctx.service.requestPush(id, "admin");
    await ctx.service.recordResult({ request: request(target), result: { ok: true, steps: [] }, startedAt: started, actor: "push-scheduler" });
    const [s] = await ctx.service.status(id);
    expect(s.status.pushRequestedAt).toBe(new Date(T0 + 10).toISOString());
    expect(s.status.pushRequestedBy).toBe("admin");
  });

  it("survives a restart; unregistering the application removes the target and its status (audited)", async () => {
    const ctx = await build();
    const id = await register(ctx, "f");
    const other = await register(ctx, "g");
    await ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:1", userName: "u", password: SECRET }, "admin");
    await ctx.service.setTarget({ applicationId: other, endpointUrl: "opc.tcp://h:2", useGdsCertificate: true }, "admin");
    await ctx.service.requestPush(id, "admin");
    await close(ctx);

    const again = await build(ctx.dataDir, ctx.clock);
    expect(again.service.summary()).toEqual({ managed: 2, failed: 0 });
    const [s] = await again.service.status(id);
    expect(s.status.pushRequestedAt).toBeDefined();
    expect(again.service.pushTargetFor((await again.service.target(id))!).identity).toMatchObject({ password: SECRET });

    await again.directory.unregister(id, "admin");
    expect(await again.store.get(PUSH_TARGETS_COLLECTION, id)).toBeUndefined();
    expect(await again.store.get(PUSH_STATUS_COLLECTION, id)).toBeUndefined();
    expect((await again.service.status()).map((v) => v.applicationId)).toEqual([other]);
    expect(again.service.summary()).toEqual({ managed: 1, failed: 0 });
    await again.service.removeTarget(other, "bob");
    expect(await again.service.targets()).toEqual([]);
    const removed = (await again.audit.read()).filter((e) => e.event === "PushTargetRemoved");
    expect(removed.map((e) => [e.applicationId, e.actor])).toEqual([
      [id, "admin"],
      [other, "bob"],
    ]);
  });

  it("removing a target (RemovePushTarget, unregister, or during a cycle) rejects the signing request its device waited for, unless no longer pending", async () => {
    /** The CertificateManager's side: request states, and what was rejected by whom. */
    const states = new Map<string, string>();
    const rejected: [string, string, string, boolean][] = [];
    const requests: PushRequestDecisions = {
      async reject(requestId, actor, reason, opts) {
        if (!states.has(requestId)) throw new GdsError("BadNotFound", `no certificate request ${requestId}`);
        if (states.get(requestId) !== "pending") throw new GdsError("BadInvalidState", `request ${requestId} is ${states.get(requestId)}`);
        states.set(requestId, "rejected");
        rejected.push([requestId, actor, reason, opts.onlyIfPending]);
        return {};
      },
    };
    const ctx = await build(undefined, undefined, requests);
    const waitingFor = async (id: string, requestId: string) => {
      await ctx.service.setTarget({ applicationId: id, endpointUrl: "opc.tcp://h:1", userName: "u", password: SECRET }, "admin");
      const target = ctx.service.pushTargetFor((await ctx.service.target(id))!);
      states.set(requestId, "pending");
      await ctx.service.recordResult({
        request: request(target),
        result: { ok: false, steps: [{ step: "sign", ms: 1, statusCode: "BadNothingToDo" }], pendingRequestId: requestId, requestId, error: { step: "sign", statusCode: "BadNothingToDo", message: "waiting" } },
        startedAt: ctx.clock.now(),
        actor: "push-scheduler",
      });
      expect((await ctx.service.statusRecord(id))?.pendingRequestId).toBe(requestId);
      return target;
    };
    const [a, b, c, d] = [await register(ctx, "p"), await register(ctx, "q"), await register(ctx, "r"), await register(ctx, "s")];

    // RemovePushTarget: rejected as the remover, with the reason
    await waitingFor(a, "req-a");
    await ctx.service.removeTarget(a, "bob");
    expect(rejected).toEqual([["req-a", "bob", PUSH_TARGET_REMOVED_REASON, true]]);
    expect(states.get("req-a")).toBe("rejected");

    // approved meanwhile: left alone (its removal still succeeds)
    await waitingFor(b, "req-b");
    states.set("req-b", "approved");
    await ctx.service.removeTarget(b, "bob");
    expect(states.get("req-b")).toBe("approved");
    expect(await ctx.service.target(b)).toBeUndefined();

    // unregistering the application
    await waitingFor(c, "req-c");
    await ctx.directory.unregister(c, "carol");
    expect(rejected.at(-1)).toEqual(["req-c", "carol", PUSH_TARGET_REMOVED_REASON, true]);

    // a cycle that ends after the target was removed, having left a request pending
    const target = await waitingFor(d, "req-d0");
    await ctx.service.removeTarget(d, "dave");
    states.set("req-d1", "pending");
    const recorded = await ctx.service.recordResult({
      request: { ...request(target), pendingRequestId: undefined },
      result: { ok: false, steps: [], pendingRequestId: "req-d1", requestId: "req-d1", error: { step: "sign", statusCode: "BadNothingToDo", message: "waiting" } },
      startedAt: ctx.clock.now(),
      actor: "alice",
    });
    expect(recorded).toBeUndefined();
    expect(rejected.slice(-2)).toEqual([
      ["req-d0", "dave", PUSH_TARGET_REMOVED_REASON, true],
      ["req-d1", "alice", PUSH_TARGET_REMOVED_REASON, true],
    ]);
    expect(await ctx.service.targets()).toEqual([]);
  });
});
