/**
 * `gds push …` (the compiled CLI, as an operator runs it) against a real GDS and the real demo
 * device (scripts/demo-device, node-opcua 2.157 with a working TrustList Write/CloseAndUpdate, a
 * child process).
 */
import fs from "node:fs";
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { NodeId } from "node-opcua";
import { certificateInfo, verifyIssuedBy } from "../../src/ca/certificate-info.js";
import { announcedCertificate, startDemoDevice, type DemoDevice } from "./helpers/demo-device.js";
import { registerOk, sampleServer } from "./helpers/directory-client.js";
import { assertCliBuilt, gdsCli } from "./helpers/gds-cli.js";
import { connect, startTestGds, tempDir, type TestGds } from "./helpers/gds-harness.js";

describe("gds push against a GDS and the demo device", () => {
  let t: TestGds;
  let device: DemoDevice;
  let cliPki: string;
  let id: string;
  const gds = gdsCli(() => cliPki);
  /** The GDS endpoint for every push command through GDS_ENDPOINT (in `push set`, --endpoint is the device's). */
  const env = () => ({ GDS_ENDPOINT: t.endpointUrl, DEVICE_PASSWORD: device.password, WRONG_PASSWORD: "wrong-device-password-7" });

  beforeAll(async () => {
    assertCliBuilt();
    cliPki = tempDir("gds-cli-push-pki-");
    [t, device] = await Promise.all([startTestGds(), startDemoDevice()]);
    const admin = await connect(t.endpointUrl);
    try {
      const appId: NodeId = await registerOk(admin, sampleServer({ applicationUri: device.applicationUri, discoveryUrls: [device.endpointUrl] }));
      id = String(appId.value).toLowerCase(); // as every admin output shows ApplicationIds
    } finally {
      await admin.close();
    }
    // the first CLI call pins the server certificate (a line on stderr)
    expect((await gds(["push", "status"], env())).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await device?.stop();
    for (const dir of [cliPki, t?.config.dataDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("push set, then push now (exit 0): the device serves a GDS-signed certificate; status shows it and the trust list's LastUpdateTime", async () => {
    const set = await gds(["push", "set", id, "--endpoint", device.endpointUrl, "--user", device.user, "--password-env", "DEVICE_PASSWORD", "--security-policy", "Basic256Sha256"], env());
    expect(set).toMatchObject({ code: 0, stderr: "" });
    expect(set.stdout).toContain(`push target set for ${id}`);
    expect(set.stdout).toContain(`${device.endpointUrl} Basic256Sha256 SignAndEncrypt`);
    expect(set.stdout).not.toContain(device.password);

    const now = await gds(["push", "now", id], env());
    expect(now).toMatchObject({ code: 0, stderr: "" });
    expect(now.stdout).toMatch(/result:\s+ok\n/);
    const m = /certificate:\s+serial ([0-9a-f]+), valid until/.exec(now.stdout);
    expect(m).not.toBeNull();
    const lastUpdateTime = t.gds.certificates.trustList("DefaultApplicationGroup").lastUpdateTime.toISOString();
    expect(now.stdout).toMatch(new RegExp(`trust list:\\s+LastUpdateTime ${lastUpdateTime}, pushed `));
    const served = await announcedCertificate(device.endpointUrl);
    expect(certificateInfo(served).serialHex).toBe(m![1]);
    const gdsCa = t.gds.certificates.trustList("DefaultApplicationGroup").trustedCertificates[0]!;
    expect(await verifyIssuedBy(served, gdsCa)).toBe(true);

    const json = await gds(["push", "status", "--json"], env());
    expect(json).toMatchObject({ code: 0, stderr: "" });
    const list = JSON.parse(json.stdout);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      applicationId: id,
      applicationUri: device.applicationUri,
      endpointUrl: device.endpointUrl,
      identity: { kind: "userName", userName: device.user },
      status: { running: false, lastReason: "admin", lastResult: "ok", consecutiveFailures: 0, certificate: { serialHex: m![1] }, trustList: { group: "DefaultApplicationGroup", lastUpdateTime } },
    });
    expect(list[0].status.pushRequestedAt).toBeUndefined();
    expect(list[0].status.lastError).toBeUndefined();
    expect(json.stdout).not.toContain(device.password);
    expect(json.stdout).not.toContain("sealed");

    const text = await gds(["push", "status", id], env());
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/certificate:\s+serial [0-9a-f]+, valid until/);
    expect(text.stdout).toMatch(/result:\s+ok\n/);
    expect(text.stdout).toContain(`LastUpdateTime ${lastUpdateTime}`);
    expect(text.stdout).not.toContain("last error");
    const table = await gds(["push", "status"], env());
    expect(table.stdout.split("\n")[0]).toMatch(/^APPLICATION\s+ENDPOINT\s+RESULT/);
    expect(table.stdout).toContain(device.endpointUrl);
    expect(table.stdout.split("\n")[1]).toMatch(/\sok\s/);
  }, 180_000);

  it("wrong credentials: push now exits 1 with BadUserAccessDenied at connect; push status records it", async () => {
    expect((await gds(["push", "set", id, "--endpoint", device.endpointUrl, "--user", device.user, "--password-env", "WRONG_PASSWORD"], env())).code).toBe(0);
    const now = await gds(["push", "now", id], env());
    expect(now.code).toBe(1);
    expect(now.stderr).toContain(`push to ${id} failed at step connect: BadUserAccessDenied`);
    const s = JSON.parse((await gds(["push", "status", id, "--json"], env())).stdout);
    expect(s.status.lastError).toMatchObject({ step: "connect", statusCode: "BadUserAccessDenied" });
    const store = fs.readdirSync(t.config.dataDir).filter((f) => fs.statSync(`${t.config.dataDir}/${f}`).isFile());
    for (const f of store) expect(fs.readFileSync(`${t.config.dataDir}/${f}`, "latin1")).not.toContain("wrong-device-password-7");
  }, 120_000);

  it("errors: unknown application (exit 5), not push-managed, refused input (exit 1); push remove", async () => {
    const unknown = crypto.randomUUID();
    const r1 = await gds(["push", "now", unknown], env());
    expect(r1.code).toBe(5);
    const bad = await gds(["push", "set", id, "--endpoint", device.endpointUrl, "--user", device.user, "--password-env", "DEVICE_PASSWORD", "--security-policy", "Basic128Rsa15"], env());
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("BadInvalidArgument");
    expect(bad.stderr).toContain("SecurityPolicy");

    const removed = await gds(["push", "remove", id], env());
    expect(removed).toMatchObject({ code: 0, stdout: `removed push target ${id}\n` });
    const gone = await gds(["push", "status", id], env());
    expect(gone.code).toBe(5);
    expect(gone.stderr).toContain("not push-managed");
    expect(JSON.parse((await gds(["push", "status", "--json"], env())).stdout)).toEqual([]);
  }, 60_000);
});
