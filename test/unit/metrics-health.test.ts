import net from "node:net";
import { afterEach, describe, expect, it } from "@jest/globals";
import { endpointCheck, HealthChecker, helloMessage, storeCheck, type HealthCheck } from "../../src/http/health.js";
import { GdsMetrics } from "../../src/http/metrics.js";
import { computeFigures, FigureSource, statusOf, type PushFigures, type PushFinishedEvent } from "../../src/ops/gds-figures.js";
import type { CertificateRecord, RequestRecord } from "../../src/requests/certificate-manager.types.js";

const DAY = 86_400_000;
const NOW = Date.parse("2026-11-25T12:00:00Z");
const clock = { now: () => new Date(NOW) };

function cert(serialHex: string, notAfterInDays: number, extra: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serialHex,
    applicationId: "app",
    group: "DefaultApplicationGroup",
    type: "RsaSha256ApplicationCertificateType",
    subject: "CN=x",
    thumbprint: serialHex,
    notBefore: new Date(NOW - DAY).toISOString(),
    notAfter: new Date(NOW + notAfterInDays * DAY).toISOString(),
    issuedAt: new Date(NOW - DAY).toISOString(),
    requestId: "r",
    der: "",
    ...extra,
  };
}

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

async function listen(onConnection: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
    onConnection(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}

describe("figures", () => {
  const certificates = [
    cert("01", 200), // valid
    cert("02", 10), // expiring (30d)
    cert("03", -1), // expired
    cert("04", 200, { revokedAt: new Date(NOW).toISOString() }), // revoked
    cert("05", 200, { group: "DefaultHttpsGroup", type: "HttpsCertificateType" }),
  ];
  const requests = [{ state: "pending" }, { state: "pending" }] as RequestRecord[];
  const sources = {
    directory: { count: () => 7 },
    certificates: {
      listCertificates: () => certificates,
      listRequests: (f?: { state?: string }) => (f?.state === "pending" ? requests : [...requests, { state: "delivered" } as RequestRecord]),
    },
    clock,
    renewBeforeMs: 30 * DAY,
  };

  it("counts by state, by group and type, and pending requests; push null without a push service", () => {
    const f = computeFigures(sources);
    expect(f).toEqual({
      applications: 7,
      certificates: { issued: 5, valid: 2, expiring: 1, expired: 1, revoked: 1 },
      issuedByGroupType: [
        { group: "DefaultApplicationGroup", type: "RsaSha256ApplicationCertificateType", count: 4 },
        { group: "DefaultHttpsGroup", type: "HttpsCertificateType", count: 1 },
      ],
      revokedByGroupType: [{ group: "DefaultApplicationGroup", type: "RsaSha256ApplicationCertificateType", count: 1 }],
      pendingRequests: 2,
      push: null,
    });
    expect(computeFigures({ ...sources, push: () => ({ summary: () => ({ managed: 3, failed: 1 }) }) }).push).toEqual({ managed: 3, failed: 1 });
  });

  it("GetStatus's record", () => {
    const status = statusOf(computeFigures(sources), { endpoint: "opc.tcp://h:4840", startedAt: new Date(NOW - 3_723_000), renewBeforeMs: 30 * DAY, nowMs: NOW });
    expect(status).toEqual({
      endpoint: "opc.tcp://h:4840",
      startedAt: new Date(NOW - 3_723_000).toISOString(),
      uptimeSeconds: 3723,
      applications: 7,
      certificates: { issued: 5, valid: 2, expiring: 1, expired: 1, revoked: 1 },
      renewBeforeSeconds: 30 * 86_400,
      pendingRequests: 2,
      pushManagedDevices: null,
      failedPushes: null,
    });
  });

  it("FigureSource computes once per event-loop turn, afresh in the next", async () => {
    let calls = 0;
    const counted = { ...sources, directory: { count: () => ++calls } };
    const source = new FigureSource(counted);
    expect(source.figures().applications).toBe(1);
    expect(source.figures().applications).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(source.figures().applications).toBe(2);
  });

  it("metrics: a push service made later is counted from the first scrape; pushes by result", async () => {
    let listener: ((e: PushFinishedEvent) => void) | undefined;
    let push: PushFigures | undefined;
    const metrics = new GdsMetrics(new FigureSource({ ...sources, push: () => push }));
    try {
      expect(await metrics.metrics()).toMatch(/^gds_push_managed_devices 0$/m);
      push = {
        summary: () => ({ managed: 4, failed: 2 }),
        onPushFinished: (l) => {
          listener = l;
          return () => (listener = undefined);
        },
      };
      // figures are computed once per event-loop turn (FigureSource): a scrape is its own turn
      await new Promise((resolve) => setImmediate(resolve));
      const text = await metrics.metrics();
      expect(text).toMatch(/^gds_push_managed_devices 4$/m);
      expect(text).toMatch(/^gds_push_failed_devices 2$/m);
      listener!({ applicationId: "a", ok: true });
      listener!({ applicationId: "b", ok: false, statusCode: "BadTimeout", step: "connect" });
      listener!({ applicationId: "c", ok: false });
      await new Promise((resolve) => setImmediate(resolve));
      const after = await metrics.metrics();
      expect(after).toMatch(/^gds_pushes_total\{result="ok"\} 1$/m);
      expect(after).toMatch(/^gds_pushes_total\{result="failed"\} 2$/m);
      expect(after).toMatch(/^gds_certificates_issued_total\{group="DefaultHttpsGroup",type="HttpsCertificateType"\} 1$/m);
      expect(after).toMatch(/^gds_certificates\{state="expired"\} 1$/m);
      expect(after).toMatch(/^gds_applications_registered 7$/m);
    } finally {
      metrics.close();
    }
    expect(listener).toBeUndefined();
  });

  it("two servers in one process keep separate registries", async () => {
    const a = new GdsMetrics(new FigureSource(sources));
    const b = new GdsMetrics(new FigureSource({ ...sources, directory: { count: () => 1 } }));
    try {
      a.observeMethodCall({ method: "RegisterApplication", status: "Good", seconds: 0.002 });
      expect(await a.metrics()).toMatch(/^gds_method_calls_total\{method="RegisterApplication",status="Good"\} 1$/m);
      expect(await b.metrics()).not.toMatch(/gds_method_calls_total\{/);
      expect(await b.metrics()).toMatch(/^gds_applications_registered 1$/m);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe("health checks", () => {
  it("Hello carries the endpoint URL", () => {
    const hello = helloMessage("opc.tcp://h:4840");
    expect(hello.subarray(0, 4).toString()).toBe("HELF");
    expect(hello.readUInt32LE(4)).toBe(hello.length);
    expect(hello.readInt32LE(28)).toBe(16);
    expect(hello.subarray(32).toString()).toBe("opc.tcp://h:4840");
  });

  it("endpoint: accepting when the server acknowledges; refused, silent and foreign servers fail", async () => {
    const ack = await listen((s) => s.once("data", () => s.write(Buffer.from("ACKF\x1c\x00\x00\x00"))));
    expect(await endpointCheck({ host: "127.0.0.1", port: ack, endpointUrl: "opc.tcp://x" }).run()).toEqual({ ok: true, detail: "accepting" });

    const closed = await listen(() => undefined);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    expect(await endpointCheck({ host: "127.0.0.1", port: closed, endpointUrl: "opc.tcp://x" }).run()).toEqual({ ok: false, detail: "not accepting connections: ECONNREFUSED" });

    const http = await listen((s) => s.once("data", () => s.end("HTTP/1.1 400 Bad Request\r\n\r\n")));
    expect(await endpointCheck({ host: "127.0.0.1", port: http, endpointUrl: "opc.tcp://x" }).run()).toEqual({ ok: false, detail: 'answered Hello with "HTTP"' });

    const started = Date.now();
    const silent = await listen(() => undefined);
    expect(await endpointCheck({ host: "127.0.0.1", port: silent, endpointUrl: "opc.tcp://x" }).run()).toEqual({ ok: false, detail: "connected, but no answer to Hello" });
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("a check that hangs fails after the time limit; concurrent reports share one run", async () => {
    let runs = 0;
    const hanging: HealthCheck = { name: "store", run: () => (runs++, new Promise(() => undefined)) };
    const ok: HealthCheck = { name: "endpoint", run: async () => ({ ok: true, detail: "accepting" }) };
    const checker = new HealthChecker([ok, hanging], () => ({ extra: 1 }), 100);
    const [a, b] = await Promise.all([checker.report(), checker.report()]);
    expect(runs).toBe(1);
    expect(a).toBe(b);
    expect(a).toEqual({ ok: false, body: { status: "failing", endpoint: "accepting", store: "no answer within 100 ms", failed: ["store"], extra: 1 } });
    await checker.report();
    expect(runs).toBe(2);
  });

  it("store: writable or not", async () => {
    expect(await storeCheck({ isWritable: async () => true }).run()).toEqual({ ok: true, detail: "writable" });
    expect(await storeCheck({ isWritable: async () => false }).run()).toEqual({ ok: false, detail: "not writable" });
    const checker = new HealthChecker([storeCheck({ isWritable: () => Promise.reject(new Error("EIO")) })]);
    expect((await checker.report()).body).toEqual({ status: "failing", store: "check failed: EIO", failed: ["store"] });
  });
});
