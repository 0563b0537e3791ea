import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { StatusCodes } from "node-opcua";
import { connect, freePort, tempDir } from "./helpers/gds-harness.js";
import { getApplication, registerOk, sampleServer } from "./helpers/directory-client.js";
import { opensslSelfSigned } from "./helpers/gds-cli.js";
import { runGds, startGdsProcess, type GdsProcess } from "./helpers/gds-process.js";

const started: GdsProcess[] = [];
function fileInTemp(): string {
  const f = path.join(tempDir("gds-file-"), "not-a-dir");
  fs.writeFileSync(f, "");
  return f;
}
afterAll(() => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill("SIGKILL");
});

describe("gds start as a process", () => {
  it("keeps an acknowledged registration through kill -9 and restart", async () => {
    const first = await startGdsProcess();
    started.push(first);
    const s = await connect(first.endpointUrl);
    const app = sampleServer();
    const id = await registerOk(s, app);
    // The reply has arrived: the registration is acknowledged. Kill without any chance to flush.
    first.child.kill("SIGKILL");
    await first.exited;
    await s.close().catch(() => undefined);

    const second = await startGdsProcess({ dataDir: first.dataDir });
    started.push(second);
    const s2 = await connect(second.endpointUrl);
    try {
      const got = await getApplication(s2, id);
      expect(got.statusCode).toBe(StatusCodes.Good);
      expect((got.outputs[0].value as { applicationUri: string }).applicationUri).toBe(app.applicationUri);
      // ids keep their NodeId across restarts and new ones do not reuse record ids
      const id2 = await registerOk(s2, sampleServer());
      expect(id2.toString()).not.toBe(id.toString());
    } finally {
      await s2.close();
      second.child.kill("SIGTERM");
    }
    expect(await second.exited).toBe(0);
  });

  it("stops within 5 s with exit code 0 on SIGTERM and on SIGINT", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const p = await startGdsProcess();
      started.push(p);
      const t0 = Date.now();
      p.child.kill(signal);
      expect(await p.exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(fs.existsSync(path.join(p.dataDir, "gds.lock"))).toBe(false);
    }
  });

  it("logs pino JSON with a listening line naming the endpoint, and names the file of the generated admin password once", async () => {
    const p = await startGdsProcess({ env: { GDS_ADMIN_PASSWORD: "" } });
    started.push(p);
    p.child.kill("SIGTERM");
    await p.exited;
    const lines = p.stdout().trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const listening = lines.find((l) => String(l.msg).includes("listening"));
    expect(String(listening?.msg)).toContain(p.endpointUrl);
    expect(lines.filter((l) => l.passwordFile === path.join(p.dataDir, "initial-admin-password"))).toHaveLength(1);
  });

  it.each([
    [{ GDS_PORT: "70000" }, /GDS_PORT/],
    [{ GDS_PORT: "abc" }, /GDS_PORT/],
    [{ GDS_LOG_LEVEL: "loud" }, /GDS_LOG_LEVEL/],
    // a path below a regular file can never be created
    [{ GDS_DATA_DIR: path.join(fileInTemp(), "data") }, /GDS_DATA_DIR/],
  ])("refuses bad settings %j with one clear line and exit code 2", async (env, pattern) => {
    const r = runGds(["start"], { GDS_DATA_DIR: tempDir("gds-bad-"), ...env });
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(pattern);
    expect(r.stderr().trim().split("\n")).toHaveLength(1);
  });

  it("refuses a malformed config file with exit code 2", async () => {
    const dir = tempDir("gds-badcfg-");
    fs.writeFileSync(path.join(dir, "gds.config.json"), "{ port: ");
    const r = runGds(["start"], { GDS_DATA_DIR: dir });
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/gds\.config\.json/);
  });

  it("refuses to start on a corrupt database instead of replacing it", async () => {
    const dir = tempDir("gds-corrupt-");
    fs.writeFileSync(path.join(dir, "gds.db.json"), '{"format":1,"seq":3,"colle');
    const r = runGds(["start"], { GDS_DATA_DIR: dir, GDS_PORT: String(await freePort()) });
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/gds\.db\.json/);
    expect(fs.readFileSync(path.join(dir, "gds.db.json"), "utf8")).toBe('{"format":1,"seq":3,"colle');
  });

  it("refuses to start when a CA key has lost its certificate, and leaves the key alone", async () => {
    const dir = tempDir("gds-cabad-");
    const groupDir = path.join(dir, "ca", "DefaultApplicationGroup");
    fs.mkdirSync(groupDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(groupDir, "ca.key.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", { mode: 0o600 });
    const r = runGds(["start"], { GDS_DATA_DIR: dir, GDS_PORT: String(await freePort()), GDS_CA_KEY_SIZE: "2048" });
    expect(await r.exited).toBe(2);
    expect(r.stderr().trim().split("\n")).toHaveLength(1);
    expect(r.stderr()).toMatch(/^gds start: .*DefaultApplicationGroup/);
    expect(fs.existsSync(path.join(groupDir, "ca.key.pem"))).toBe(true);
  });

  it("refuses GDS_CA_CERT_FILE naming a certificate that is not a CA, with exit code 2", async () => {
    const dir = tempDir("gds-caimport-");
    const { cert, key } = opensslSelfSigned(dir, "leaf", { ca: false, subject: "/CN=not a CA" });
    const r = runGds(["start"], { GDS_DATA_DIR: dir, GDS_PORT: String(await freePort()), GDS_CA_KEY_SIZE: "2048", GDS_CA_CERT_FILE: cert, GDS_CA_KEY_FILE: key });
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/^gds start: .*CA/);
  });

  it("refuses a second server on the same data dir", async () => {
    const p = await startGdsProcess();
    started.push(p);
    const r = runGds(["start"], { GDS_DATA_DIR: p.dataDir, GDS_PORT: String(p.port + 1) });
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/in use/);
    p.child.kill("SIGTERM");
    await p.exited;
  });
});
