/**
 * Issue 5, metrics and health: GET /metrics parsed as Prometheus text against a server holding
 * known data (applications, issued, revoked and expiring certificates, a pending request, refused
 * calls); GET /healthz 200, then 503 when the store cannot write and when the endpoint stops
 * accepting connections; the admin object's figure variables read by a client; GetStatus.
 */
import fs from "node:fs";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { AttributeIds, DataType, NodeId, StatusCodes, Variant } from "node-opcua";
import { ADMIN_METHODS, ADMIN_NAMESPACE_URI, ADMIN_OBJECT_ID, ADMIN_VARIABLES } from "../../src/admin/admin-model.js";
import { ConfigError } from "../../src/errors.js";
import { finishRequest, issueNewKeyPair, revokeCertificate, startNewKeyPairRequest, expectStatus } from "./helpers/certificate-client.js";
import { registerOk, sampleServer, unregister } from "./helpers/directory-client.js";
import { callMethod, connect, freePort, startTestGds, tempDir, type TestGds, type TestSession } from "./helpers/gds-harness.js";

const DAY = 86_400_000;

// --- a small parser of the Prometheus text exposition format (version 0.0.4) ---

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  help?: string;
  type?: string;
}

interface Exposition {
  families: Map<string, Family>;
  samples: Sample[];
}

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function parsePrometheusText(text: string): Exposition {
  const families = new Map<string, Family>();
  const samples: Sample[] = [];
  const family = (name: string) => families.get(name) ?? families.set(name, {}).get(name)!;
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      if (family(m[1]).help !== undefined) throw new Error(`line ${i + 1}: second HELP for ${m[1]}`);
      family(m[1]).help = m[2];
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      if (family(m[1]).type !== undefined) throw new Error(`line ${i + 1}: second TYPE for ${m[1]}`);
      family(m[1]).type = m[2];
      continue;
    }
    if (line.startsWith("#")) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)(?: (-?\d+))?$/.exec(line);
    if (!m) throw new Error(`line ${i + 1} is not a sample: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let rest = m[2];
      while (rest.length > 0) {
        labelRe.lastIndex = 0;
        const l = labelRe.exec(rest);
        if (!l) throw new Error(`line ${i + 1}: bad labels ${JSON.stringify(m[2])}`);
        labels[l[1]] = unescapeLabel(l[2]);
        rest = rest.slice(l[0].length);
      }
    }
    const raw = m[3];
    // Prometheus parses values with Go's ParseFloat: NaN in any case (prom-client 15 writes "Nan").
    const isNaNText = raw.toLowerCase() === "nan";
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : isNaNText ? NaN : Number(raw);
    if (Number.isNaN(value) && !isNaNText) throw new Error(`line ${i + 1}: bad value ${raw}`);
    samples.push({ name: m[1], labels, value });
  }
  return { families, samples };
}

/** The family a sample belongs to (histogram and summary samples carry suffixes). */
function familyOf(e: Exposition, name: string): string | undefined {
  if (e.families.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return e.families.has(base) ? base : undefined;
}

/** The value of the one sample with this name and (at least) these labels; undefined if none. */
function valueOf(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

async function get(url: string, init?: RequestInit): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

describe("GET /metrics, GET /healthz and the admin figures", () => {
  let offsetMs = 0;
  const clock = { now: () => new Date(Date.now() + offsetMs) };
  let t: TestGds;
  let admin: TestSession;
  let base: string;
  let adminNs: number;
  const apps: NodeId[] = [];

  const scrape = async (): Promise<Exposition> => {
    const r = await get(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheusText(r.text);
  };

  async function adminCall(name: string, inputs: Variant[]) {
    const m = ADMIN_METHODS.find((x) => x.name === name)!;
    return callMethod(admin, new NodeId(NodeId.NodeIdType.NUMERIC, ADMIN_OBJECT_ID, adminNs), new NodeId(NodeId.NodeIdType.NUMERIC, m.id, adminNs), inputs);
  }

  /** StartNewKeyPairRequest → ApproveRequest (a RegistrationAuthorityAdmin) → FinishRequest. */
  async function issueApproved(appId: NodeId): Promise<Buffer> {
    const start = await startNewKeyPairRequest(admin, appId, { privateKeyFormat: "PEM" });
    expectStatus(start, "Good");
    const requestId = start.outputs[0].value as NodeId;
    expectStatus(await adminCall("ApproveRequest", [new Variant({ dataType: DataType.String, value: String(requestId.value) })]), "Good");
    const finish = await finishRequest(admin, appId, requestId);
    expectStatus(finish, "Good");
    return Buffer.from(finish.outputs[0].value as Buffer);
  }

  beforeAll(async () => {
    t = await startTestGds({ httpPort: await freePort(), autoApprove: false }, { clock });
    expect(t.gds.httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    base = t.gds.httpUrl!;
    admin = await connect(t.endpointUrl);
    adminNs = ((await admin.session.readNamespaceArray()) as string[]).indexOf(ADMIN_NAMESPACE_URI);
    expect(adminNs).toBeGreaterThan(0);
  }, 60_000);

  afterAll(async () => {
    await admin?.close();
    await t?.stop();
  });

  it("serves every figure with HELP and TYPE, gds_-prefixed, process metrics included", async () => {
    const e = await scrape();
    for (const s of e.samples) {
      expect(s.name.startsWith("gds_")).toBe(true);
      const f = familyOf(e, s.name);
      expect(f && e.families.get(f)?.type).toBeTruthy();
      expect(f && e.families.get(f)?.help).toBeTruthy();
    }
    const expected: Record<string, string> = {
      gds_applications_registered: "gauge",
      gds_certificates_issued_total: "counter",
      gds_certificates_revoked_total: "counter",
      gds_certificates_expiring: "gauge",
      gds_certificates: "gauge",
      gds_requests_pending: "gauge",
      gds_method_calls_total: "counter",
      gds_method_call_duration_seconds: "histogram",
      gds_pushes_total: "counter",
      gds_push_managed_devices: "gauge",
      gds_push_failed_devices: "gauge",
      gds_process_cpu_user_seconds_total: "counter",
      gds_process_resident_memory_bytes: "gauge",
      gds_nodejs_heap_size_used_bytes: "gauge",
    };
    for (const [name, type] of Object.entries(expected)) expect([name, e.families.get(name)?.type]).toEqual([name, type]);
    expect(valueOf(e, "gds_applications_registered")).toBe(0);
    expect(valueOf(e, "gds_requests_pending")).toBe(0);
    expect(valueOf(e, "gds_pushes_total", { result: "ok" })).toBe(0);
    expect(valueOf(e, "gds_pushes_total", { result: "failed" })).toBe(0);
    expect(valueOf(e, "gds_process_resident_memory_bytes")).toBeGreaterThan(10_000_000);
  });

  it("counts applications, certificates by group and type and state, pending requests and method calls", async () => {
    for (let i = 0; i < 3; i++) apps.push(await registerOk(admin, sampleServer()));
    const kept = await issueApproved(apps[0]);
    const revoked = await issueApproved(apps[1]);
    expect(kept.length).toBeGreaterThan(0);
    expectStatus(await revokeCertificate(admin, apps[1], revoked), "Good");
    // one request left waiting for a decision
    expectStatus(await startNewKeyPairRequest(admin, apps[2], { privateKeyFormat: "PEM" }), "Good");
    // a refused call: unregistering an application that does not exist
    const missing = await unregister(admin, new NodeId(NodeId.NodeIdType.GUID, "72962b91-fa75-4ae6-8d28-b404dc7daf63", apps[0].namespace));
    expect(missing.statusCode.value).toBe(StatusCodes.BadNotFound.value);

    let e = await scrape();
    expect(valueOf(e, "gds_applications_registered")).toBe(3);
    const app = { group: "DefaultApplicationGroup", type: "RsaSha256ApplicationCertificateType" };
    expect(valueOf(e, "gds_certificates_issued_total", app)).toBe(2);
    expect(valueOf(e, "gds_certificates_revoked_total", app)).toBe(1);
    expect(valueOf(e, "gds_certificates", { state: "valid" })).toBe(1);
    expect(valueOf(e, "gds_certificates", { state: "revoked" })).toBe(1);
    expect(valueOf(e, "gds_certificates", { state: "expiring" })).toBe(0);
    expect(valueOf(e, "gds_certificates_expiring")).toBe(0);
    expect(valueOf(e, "gds_requests_pending")).toBe(1);

    const good = { method: "RegisterApplication", status: "Good" };
    expect(valueOf(e, "gds_method_calls_total", good)).toBe(3);
    expect(valueOf(e, "gds_method_call_duration_seconds_count", good)).toBe(3);
    expect(valueOf(e, "gds_method_call_duration_seconds_bucket", { ...good, le: "+Inf" })).toBe(3);
    expect(valueOf(e, "gds_method_call_duration_seconds_sum", good)).toBeGreaterThan(0);
    expect(valueOf(e, "gds_method_calls_total", { method: "ApproveRequest", status: "Good" })).toBe(2);
    expect(valueOf(e, "gds_method_calls_total", { method: "RevokeCertificate", status: "Good" })).toBe(1);
    expect(valueOf(e, "gds_method_calls_total", { method: "UnregisterApplication", status: "BadNotFound" })).toBe(1);
    expect(valueOf(e, "gds_method_calls_total", { method: "UnregisterApplication", status: "Good" })).toBeUndefined();

    // 340 days later the certificate that was kept has 25 days left: expiring (GDS_RENEW_BEFORE 30d)
    offsetMs = 340 * DAY;
    try {
      e = await scrape();
      expect(valueOf(e, "gds_certificates_expiring")).toBe(1);
      expect(valueOf(e, "gds_certificates", { state: "expiring" })).toBe(1);
      expect(valueOf(e, "gds_certificates", { state: "valid" })).toBe(0);
      expect(valueOf(e, "gds_certificates_issued_total", app)).toBe(2);
    } finally {
      offsetMs = 0;
    }
  });

  it("shows the same figures as variables of the admin object, and in GetStatus", async () => {
    const names = ["ApplicationCount", "PendingRequestCount", "ExpiringCertificateCount", "RevokedCertificateCount", "PushManagedCount", "FailedPushCount", "ServerStartTime"];
    expect(ADMIN_VARIABLES.map((v) => v.name)).toEqual(names);
    const read = async () => {
      const values = await admin.session.read(ADMIN_VARIABLES.map((v) => ({ nodeId: new NodeId(NodeId.NodeIdType.NUMERIC, v.id, adminNs), attributeId: AttributeIds.Value })));
      for (const dv of values) expect(dv.statusCode.value).toBe(StatusCodes.Good.value);
      return Object.fromEntries(ADMIN_VARIABLES.map((v, i) => [v.name, values[i].value]));
    };
    let v = await read();
    expect(Object.fromEntries(names.slice(0, 6).map((n) => [n, v[n].value]))).toEqual({
      ApplicationCount: 3,
      PendingRequestCount: 1,
      ExpiringCertificateCount: 0,
      RevokedCertificateCount: 1,
      PushManagedCount: 0,
      FailedPushCount: 0,
    });
    expect(v.ApplicationCount.dataType).toBe(DataType.UInt32);
    expect(v.ServerStartTime.dataType).toBe(DataType.DateTime);
    const started = (v.ServerStartTime.value as Date).getTime();
    expect(Date.now() - started).toBeGreaterThanOrEqual(0);
    expect(Date.now() - started).toBeLessThan(10 * 60_000);

    offsetMs = 340 * DAY;
    try {
      v = await read();
      expect(v.ExpiringCertificateCount.value).toBe(1);
    } finally {
      offsetMs = 0;
    }
    apps.push(await registerOk(admin, sampleServer()));
    expect((await read()).ApplicationCount.value).toBe(4);

    const status = await adminCall("GetStatus", []);
    expectStatus(status, "Good");
    const { pushManagedDevices, failedPushes, ...json } = JSON.parse(status.outputs[0].value as string);
    // null without push management; 0 with it (no device is push-managed here)
    expect([null, 0]).toContain(pushManagedDevices);
    expect([null, 0]).toContain(failedPushes);
    expect(json).toEqual({
      endpoint: t.endpointUrl,
      startedAt: new Date(started).toISOString(),
      uptimeSeconds: expect.any(Number),
      applications: 4,
      certificates: { issued: 2, valid: 1, expiring: 0, expired: 0, revoked: 1 },
      renewBeforeSeconds: 30 * 86_400,
      pendingRequests: 1,
    });
  });

  it("the figure variables are readable by the admin roles and Observer only", async () => {
    const nodesToRead = ADMIN_VARIABLES.map((v) => ({ nodeId: new NodeId(NodeId.NodeIdType.NUMERIC, v.id, adminNs), attributeId: AttributeIds.Value }));
    await t.gds.users.add("watcher", ["Observer"], "watcher-password-1");
    await t.gds.users.add("plain", ["Operator"], "plain-password-1");
    const anonymous = await connect(t.endpointUrl, { user: null });
    const plain = await connect(t.endpointUrl, { user: { userName: "plain", password: "plain-password-1" } });
    const observer = await connect(t.endpointUrl, { user: { userName: "watcher", password: "watcher-password-1" } });
    try {
      for (const s of [anonymous, plain]) {
        const values = await s.session.read(nodesToRead);
        expect(values.map((dv) => dv.statusCode.name)).toEqual(ADMIN_VARIABLES.map(() => "BadUserAccessDenied"));
      }
      const seen = await observer.session.read(nodesToRead);
      expect(seen.map((dv) => dv.statusCode.name)).toEqual(ADMIN_VARIABLES.map(() => "Good"));
      expect(seen[0].value.value).toBeGreaterThanOrEqual(3);
    } finally {
      await Promise.all([anonymous.close(), plain.close(), observer.close()]);
    }
  });

  it("GetStatus needs an administrative role", async () => {
    const anonymous = await connect(t.endpointUrl, { user: null });
    try {
      const m = ADMIN_METHODS.find((x) => x.name === "GetStatus")!;
      const r = await callMethod(anonymous, new NodeId(NodeId.NodeIdType.NUMERIC, ADMIN_OBJECT_ID, adminNs), new NodeId(NodeId.NodeIdType.NUMERIC, m.id, adminNs), []);
      expectStatus(r, "BadUserAccessDenied");
    } finally {
      await anonymous.close();
    }
  });

  it("/healthz: 200 while the endpoint answers and the store writes", async () => {
    const r = await get(`${base}/healthz`);
    expect(r.status).toBe(200);
    expect(r.type).toBe("application/json");
    expect(JSON.parse(r.text)).toEqual({ status: "ok", endpoint: "accepting", store: "writable", endpointUrl: t.endpointUrl, uptimeSeconds: expect.any(Number) });
  });

  it("/healthz: 503 naming the store while the data dir cannot be written, 200 again after", async () => {
    // As root, chmod does not stop writes: move the data dir away and put a file in its place.
    const dir = t.config.dataDir;
    const moved = `${dir}.moved`;
    fs.renameSync(dir, moved);
    fs.writeFileSync(dir, "not a directory\n");
    try {
      const r = await get(`${base}/healthz`);
      expect(r.status).toBe(503);
      expect(JSON.parse(r.text)).toMatchObject({ status: "failing", failed: ["store"], store: "not writable", endpoint: "accepting" });
    } finally {
      fs.unlinkSync(dir);
      fs.renameSync(moved, dir);
    }
    expect((await get(`${base}/healthz`)).status).toBe(200);
  });

  it("/healthz: 503 naming the endpoint while it does not accept connections, 200 again after", async () => {
    await t.gds.opcuaServer.suspendEndPoints();
    try {
      const r = await get(`${base}/healthz`);
      expect(r.status).toBe(503);
      const body = JSON.parse(r.text);
      expect(body).toMatchObject({ status: "failing", failed: ["endpoint"], store: "writable" });
      expect(body.endpoint).toMatch(/^not accepting connections: ECONNREFUSED/);
    } finally {
      await t.gds.opcuaServer.resumeEndPoints();
    }
    expect((await get(`${base}/healthz`)).status).toBe(200);
  });

  it("answers 404 to anything else", async () => {
    for (const [url, method] of [
      [`${base}/`, "GET"],
      [`${base}/metrics/x`, "GET"],
      [`${base}/metrics`, "POST"],
      [`${base}/healthz`, "DELETE"],
    ] as const) {
      const r = await get(url, { method });
      expect([url, method, r.status]).toEqual([url, method, 404]);
    }
    expect((await get(`${base}/metrics?x=1`)).status).toBe(200);
  });
});

describe("the HTTP listener's settings", () => {
  it("refuses a port in use with a ConfigError naming GDS_HTTP_PORT, and leaves the data dir free", async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as net.AddressInfo).port;
    const dataDir = tempDir("gds-it-http-busy-");
    try {
      const err = await startTestGds({ dataDir, httpPort: port }).then(
        (t) => t.stop().then(() => undefined),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).setting).toBe("GDS_HTTP_PORT");
      expect((err as Error).message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}.*EADDRINUSE`));
      // the failed start released the data dir and the OPC UA port: a second start works
      const again = await startTestGds({ dataDir, httpPort: 0 });
      expect(again.gds.httpUrl).toBeUndefined();
      await again.stop();
    } finally {
      await new Promise((resolve) => busy.close(resolve));
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);

  it("binds GDS_HTTP_HOST", async () => {
    const t = await startTestGds({ httpPort: await freePort(), httpHost: "localhost" });
    try {
      expect(t.gds.httpUrl).toMatch(/^http:\/\/localhost:\d+$/);
      expect((await get(`${t.gds.httpUrl}/healthz`)).status).toBe(200);
    } finally {
      await t.stop();
    }
  }, 60_000);
});

