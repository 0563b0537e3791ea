/**
 * Issue 5: `gds status [--json]` through the real CLI against a server holding known data, and
 * `gds start` with GDS_HTTP_PORT (the listener answers; a port in use is exit 2 with one line
 * naming GDS_HTTP_PORT). Needs `npm run build`.
 */
import fs from "node:fs";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { issueNewKeyPair, revokeCertificate, expectStatus, startNewKeyPairRequest } from "./helpers/certificate-client.js";
import { registerOk, sampleServer } from "./helpers/directory-client.js";
import { assertCliBuilt, gdsCli } from "./helpers/gds-cli.js";
import { connect, freePort, startTestGds, tempDir, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import { runGds, startGdsProcess } from "./helpers/gds-process.js";

describe("gds status", () => {
  let t: TestGds;
  let admin: TestSession;
  let cliPki: string;
  const gds = gdsCli(() => cliPki);
  const at = () => ["--endpoint", t.endpointUrl];

  beforeAll(async () => {
    assertCliBuilt();
    cliPki = tempDir("gds-cli-status-pki-");
    t = await startTestGds();
    admin = await connect(t.endpointUrl);
    // three applications; one valid certificate, one revoked; no request waits (auto-approval)
    const a = await registerOk(admin, sampleServer());
    const b = await registerOk(admin, sampleServer());
    await registerOk(admin, sampleServer());
    await issueNewKeyPair(admin, a);
    const revoked = await issueNewKeyPair(admin, b);
    expectStatus(await revokeCertificate(admin, b, revoked.certificate), "Good");
    // the first CLI call pins the server certificate (a line on stderr); later calls are quiet
    expect((await gds(["status", ...at()])).code).toBe(0);
  }, 90_000);

  afterAll(async () => {
    await admin?.close();
    await t?.stop();
    for (const dir of [cliPki, t?.config.dataDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("--json: endpoint, uptime, applications, certificates by state, pending requests, push figures", async () => {
    const r = await gds(["status", "--json", ...at()]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const status = JSON.parse(r.stdout);
    expect(status).toEqual({
      endpoint: t.endpointUrl,
      startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      uptimeSeconds: expect.any(Number),
      applications: 3,
      certificates: { issued: 2, valid: 1, expiring: 0, expired: 0, revoked: 1 },
      renewBeforeSeconds: 30 * 86_400,
      pendingRequests: 0,
      pushManagedDevices: status.pushManagedDevices === null ? null : 0,
      failedPushes: status.failedPushes === null ? null : 0,
    });
    expect(Date.now() - Date.parse(status.startedAt)).toBeGreaterThanOrEqual(status.uptimeSeconds * 1000 - 1000);
    expect(status.uptimeSeconds).toBeLessThan(600);
  });

  it("text: one figure per line", async () => {
    // a request waiting for approval is not possible with auto-approval; a new application is
    await registerOk(admin, sampleServer());
    const r = await gds(["status", ...at()]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(7);
    expect(lines[0]).toBe(`endpoint:             ${t.endpointUrl}`);
    expect(lines[1]).toMatch(/^uptime: {15}(\d+m )?\d+s \(since \d{4}-\d\d-\d\dT[\d:.]+Z\)$/);
    expect(lines.slice(2, 5)).toEqual([
      "applications:         4",
      "certificates:         1 valid, 0 expiring within 30d, 0 expired, 1 revoked",
      "pending requests:     0",
    ]);
    expect(lines[5]).toMatch(/^push-managed devices: (0|- \(no push management\))$/);
    expect(lines[6]).toMatch(/^failed pushes: {8}(0|- \(no push management\))$/);
  });

  it("counts a pending request", async () => {
    const manual = await startTestGds({ autoApprove: false });
    const session = await connect(manual.endpointUrl);
    try {
      const app = await registerOk(session, sampleServer());
      expectStatus(await startNewKeyPairRequest(session, app, { privateKeyFormat: "PEM" }), "Good");
      const r = await gds(["status", "--json", "--endpoint", manual.endpointUrl]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ applications: 1, pendingRequests: 1, certificates: { issued: 0 } });
    } finally {
      await session.close();
      await manual.stop();
      fs.rmSync(manual.config.dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("refuses arguments it does not know, and shows its help", async () => {
    const extra = await gds(["status", "now", ...at()]);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/^gds: unexpected argument "now"/);
    const help = await gds(["status", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: gds status \[--endpoint URL\] \[--json\]/);
    expect((await gds(["--help"])).stdout).toMatch(/\n {2}status \[--json\] +endpoint, uptime/);
  });

  it("needs an administrative role: a user without one gets exit 4", async () => {
    const add = await gds(["users", "add", "observer1", "--role", "Observer", "--password-env", "PW", ...at()], { PW: "observer-password-1" });
    expect(add.code).toBe(0);
    const r = await gds(["status", ...at()], { GDS_ADMIN_USER: "observer1", GDS_ADMIN_PASSWORD: "observer-password-1" });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^gds: access denied: GetStatus requires the role DiscoveryAdmin or .*; user observer1 has none of them\n$/);
  });
});

describe("gds start with GDS_HTTP_PORT", () => {
  it("serves /healthz and /metrics on 127.0.0.1", async () => {
    assertCliBuilt();
    const httpPort = await freePort();
    const p = await startGdsProcess({ env: { GDS_HTTP_PORT: String(httpPort), GDS_CA_KEY_SIZE: "2048" } });
    try {
      const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(10_000) });
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: "ok", endpoint: "accepting", store: "writable", endpointUrl: p.endpointUrl });
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
      expect(metrics).toMatch(/^gds_applications_registered 0$/m);
      expect(p.stdout()).toContain(`metrics and health on http://127.0.0.1:${httpPort}/metrics`);
    } finally {
      p.child.kill("SIGTERM");
      expect(await p.exited).toBe(0);
      fs.rmSync(p.dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("exits 2 with one line naming GDS_HTTP_PORT when the port is taken", async () => {
    assertCliBuilt();
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const httpPort = (busy.address() as net.AddressInfo).port;
    const dataDir = tempDir("gds-http-busy-");
    try {
      const r = runGds(["start"], { GDS_DATA_DIR: dataDir, GDS_PORT: String(await freePort()), GDS_HTTP_PORT: String(httpPort), GDS_CA_KEY_SIZE: "2048", GDS_HOSTNAME: "127.0.0.1" });
      expect(await r.exited).toBe(2);
      expect(r.stderr()).toMatch(new RegExp(`^gds start: GDS_HTTP_PORT: cannot listen on 127\\.0\\.0\\.1:${httpPort} .*EADDRINUSE.*\\n$`));
      expect(r.stderr().trimEnd().split("\n")).toHaveLength(1);
    } finally {
      await new Promise((resolve) => busy.close(resolve));
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("exits 2 for a bad GDS_HTTP_PORT", async () => {
    assertCliBuilt();
    const dataDir = tempDir("gds-http-bad-");
    try {
      const r = runGds(["start"], { GDS_DATA_DIR: dataDir, GDS_HTTP_PORT: "http" });
      expect(await r.exited).toBe(2);
      expect(r.stderr()).toMatch(/GDS_HTTP_PORT: port must be an integer 0–65535/);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});
