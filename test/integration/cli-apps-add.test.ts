/**
 * `gds apps add` (the compiled CLI, as an operator runs it) against a real GDS and the real demo
 * device: register a device that never registers itself, then make it push-managed with the
 * printed ApplicationId — the operator's whole path.
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startDemoDevice, type DemoDevice } from "./helpers/demo-device.js";
import { assertCliBuilt, gdsCli } from "./helpers/gds-cli.js";
import { freePort, startTestGds, tempDir, type TestGds } from "./helpers/gds-harness.js";

/** An ApplicationId as every admin output shows it: the lower-case GUID. */
const NODE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("gds apps add against a GDS and the demo device", () => {
  let t: TestGds;
  let device: DemoDevice;
  let cliPki: string;
  const gds = gdsCli(() => cliPki);
  const env = () => ({ GDS_ENDPOINT: t.endpointUrl, DEVICE_PASSWORD: device.password, OBSERVER_PASSWORD: "observer-password-1" });
  const at = () => ["--endpoint", t.endpointUrl];

  beforeAll(async () => {
    assertCliBuilt();
    cliPki = tempDir("gds-cli-apps-add-pki-");
    [t, device] = await Promise.all([startTestGds(), startDemoDevice({ applicationUri: "urn:opcua-gds:test:apps-add-device" })]);
    // the first CLI call pins the server certificate (a line on stderr)
    expect((await gds(["apps", "list", ...at()], env())).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await device?.stop();
    for (const dir of [cliPki, t?.config.dataDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("with flags: prints the ApplicationId alone; apps show shows the record; audited as ApplicationRegistered by the admin", async () => {
    const add = await gds(
      ["apps", "add", ...at(), "--uri", "urn:plc7:vendor:device", "--name", "PLC 7", "--type", "ClientAndServer", "--product-uri", "urn:vendor:plc",
        "--discovery-url", "opc.tcp://plc7.example:4840", "--capability", "DA"],
      env(),
    );
    expect(add).toMatchObject({ code: 0, stderr: "" });
    expect(add.stdout).toMatch(new RegExp(`^${NODE_ID.source.slice(1, -1)}\\n$`));
    const id = add.stdout.trim();

    const show = await gds(["apps", "show", id, ...at(), "--json"], env());
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({
      applicationId: id,
      applicationUri: "urn:plc7:vendor:device",
      applicationType: 2,
      applicationNames: [{ locale: null, text: "PLC 7" }],
      productUri: "urn:vendor:plc",
      discoveryUrls: ["opc.tcp://plc7.example:4840"],
      serverCapabilities: ["DA"],
    });
    const list = await gds(["apps", "list", ...at()], env());
    expect(list.stdout).toMatch(new RegExp(`${id.replace(/[;]/g, ";")}\\s+urn:plc7:vendor:device\\s+ClientAndServer\\s+PLC 7`));

    const audit = JSON.parse((await gds(["audit", ...at(), "--json"], env())).stdout);
    const entry = audit.entries.find((e: { event: string; applicationUri?: string }) => e.event === "ApplicationRegistered" && e.applicationUri === "urn:plc7:vendor:device");
    expect(entry).toMatchObject({ actor: "admin", applicationId: id });

    // --json: the record sent and the id
    const json = await gds(["apps", "add", ...at(), "--uri", "urn:plc8:vendor:device", "--name", "PLC 8", "--discovery-url", "opc.tcp://plc8:4840", "--json"], env());
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ applicationId: expect.stringMatching(NODE_ID), applicationUri: "urn:plc8:vendor:device", applicationType: 0, productUri: "urn:plc8:vendor:device" });
  }, 120_000);

  it("errors: duplicate ApplicationUri exit 6; usage errors exit 2; the server's BadInvalidArgument exit 1 with its message; no DiscoveryAdmin exit 4", async () => {
    const args = ["apps", "add", ...at(), "--uri", "urn:dup:device", "--name", "Dup", "--discovery-url", "opc.tcp://dup:4840"];
    expect((await gds(args, env())).code).toBe(0);
    const dup = await gds([...args.slice(0, 5), "URN:DUP:DEVICE", ...args.slice(6)], env());
    expect(dup.code).toBe(6);
    expect(dup.stderr).toMatch(/already exists: ApplicationUri: "URN:DUP:DEVICE" is already registered/);

    const missing = await gds(["apps", "add", ...at(), "--name", "X"], env());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing --uri URN");
    const badUrl = await gds(["apps", "add", ...at(), "--uri", "urn:x", "--name", "X", "--discovery-url", "plc7:4840"], env());
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('invalid --discovery-url "plc7:4840"');
    const badFrom = await gds(["apps", "add", ...at(), "--from-endpoint", "http://plc7"], env());
    expect(badFrom.code).toBe(2);

    // a Server without DiscoveryUrls: the server's own check (the CLI passes it on)
    const noUrl = await gds(["apps", "add", ...at(), "--uri", "urn:nourl", "--name", "No URL"], env());
    expect(noUrl.code).toBe(1);
    expect(noUrl.stderr).toMatch(/^gds: BadInvalidArgument: .*DiscoveryUrls/);
    const badCap = await gds(["apps", "add", ...at(), "--uri", "urn:badcap", "--name", "C", "--discovery-url", "opc.tcp://c:1", "--capability", "D-A"], env());
    expect(badCap.code).toBe(1);
    expect(badCap.stderr).toContain("ServerCapabilities[0]");
    const names = JSON.parse((await gds(["apps", "list", ...at(), "--json"], env())).stdout).map((a: { applicationUri: string }) => a.applicationUri);
    expect(names).not.toContain("urn:nourl");
    expect(names).not.toContain("urn:badcap");

    expect((await gds(["users", "add", "observer1", "--role", "Observer", "--password-env", "OBSERVER_PASSWORD", ...at()], env())).code).toBe(0);
    const denied = await gds(["apps", "add", ...at(), "--uri", "urn:denied", "--name", "D", "--discovery-url", "opc.tcp://d:1"], { ...env(), GDS_ADMIN_USER: "observer1", GDS_ADMIN_PASSWORD: "observer-password-1" });
    expect(denied.code).toBe(4);
  }, 120_000);

  it("--from-endpoint: an unreachable device exits 3 and registers nothing", async () => {
    const port = await freePort();
    const before = JSON.parse((await gds(["apps", "list", ...at(), "--json"], env())).stdout).length;
    const r = await gds(["apps", "add", ...at(), "--from-endpoint", `opc.tcp://127.0.0.1:${port}`], env());
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`cannot connect to opc.tcp://127.0.0.1:${port} (--from-endpoint): connection refused`);
    expect(r.ms).toBeLessThan(20_000);
    expect(JSON.parse((await gds(["apps", "list", ...at(), "--json"], env())).stdout)).toHaveLength(before);
  }, 60_000);

  it("--from-endpoint against the demo device registers its ApplicationUri; push set with the printed id, then push now, succeed", async () => {
    const add = await gds(["apps", "add", ...at(), "--from-endpoint", device.endpointUrl], env());
    expect(add).toMatchObject({ code: 0, stderr: "" });
    const id = add.stdout.trim();
    expect(id).toMatch(NODE_ID);
    const app = JSON.parse((await gds(["apps", "show", id, ...at(), "--json"], env())).stdout);
    expect(app).toMatchObject({ applicationUri: device.applicationUri, applicationType: 0 });
    expect(app.applicationNames[0].text).not.toBe("");
    expect(app.discoveryUrls.length).toBeGreaterThan(0);

    // registering it again: the same ApplicationUri is refused
    expect((await gds(["apps", "add", ...at(), "--from-endpoint", device.endpointUrl], env())).code).toBe(6);

    const set = await gds(["push", "set", id, "--endpoint", device.endpointUrl, "--user", device.user, "--password-env", "DEVICE_PASSWORD", "--security-policy", "Basic256Sha256"], env());
    expect(set).toMatchObject({ code: 0, stderr: "" });
    const now = await gds(["push", "now", id], env());
    expect(now).toMatchObject({ code: 0, stderr: "" });
    expect(now.stdout).toMatch(/result:\s+ok\n/);
    expect(now.stdout).toMatch(/certificate:\s+serial [0-9a-f]+, valid until/);
  }, 180_000);
});
