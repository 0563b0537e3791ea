import { X509Certificate } from "node:crypto";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { NodeId, StatusCodes } from "node-opcua";
import { connect, freePort, startTestGds, tempDir, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import { finishRequest, startNewKeyPairRequest } from "./helpers/certificate-client.js";
import { registerOk, sampleServer } from "./helpers/directory-client.js";
import { assertCliBuilt, gdsCli, opensslSelfSigned } from "./helpers/gds-cli.js";

describe("gds CLI against a running server", () => {
  let t: TestGds;
  let admin: TestSession;
  let endpoint: string;
  let cliPki: string;

  /** Runs `gds …` with the admin password and a CLI PKI of this test run. */
  const gds = gdsCli(() => cliPki);
  const at = () => ["--endpoint", endpoint];

  beforeAll(async () => {
    assertCliBuilt();
    cliPki = tempDir("gds-cli-pki-");
    t = await startTestGds();
    endpoint = t.endpointUrl;
    admin = await connect(endpoint);
  });
  afterAll(async () => {
    await admin?.close();
    await t?.stop();
    for (const dir of [cliPki, t?.config.dataDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("pins the server certificate on first use and refuses a changed one", async () => {
    const first = await gds(["users", "list", ...at()]);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/trusting the server certificate of .* on first use/);
    const pinFile = path.join(cliPki, "known-servers.json");
    const pins = JSON.parse(fs.readFileSync(pinFile, "utf8")) as Record<string, string>;
    expect(Object.values(pins)).toHaveLength(1);
    const again = await gds(["users", "list", ...at()]);
    expect(again).toMatchObject({ code: 0, stderr: "" });

    const key = Object.keys(pins)[0];
    fs.writeFileSync(pinFile, JSON.stringify({ [key]: "00".repeat(32) }));
    const changed = await gds(["users", "list", ...at()]);
    expect(changed.code).toBe(3);
    expect(changed.stderr).toMatch(/has changed/);
    fs.writeFileSync(pinFile, JSON.stringify(pins));
  });

  it("lists, shows and removes applications", async () => {
    const app = sampleServer({ applicationNames: [{ text: "CLI Press", locale: "en" }] });
    await registerOk(admin, app);

    const json = await gds(["apps", "list", "--json", ...at()]);
    expect(json).toMatchObject({ code: 0, stderr: "" });
    const apps = JSON.parse(json.stdout) as { applicationId: string; applicationUri: string }[];
    const entry = apps.find((a) => a.applicationUri === app.applicationUri);
    expect(entry?.applicationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/); // the GUID, as the audit log has it
    const id = entry!.applicationId;

    const table = await gds(["apps", "list", ...at()]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^APPLICATION ID\s+APPLICATION URI\s+TYPE\s+NAME\n/);
    expect(table.stdout).toMatch(new RegExp(`${id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s+${app.applicationUri}\\s+Server\\s+CLI Press\\n`));

    const show = await gds(["apps", "show", id, ...at()]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`applicationUri:     ${app.applicationUri}\n`);
    expect(show.stdout).toContain("names:              CLI Press [en]\n");
    const showJson = await gds(["apps", "show", id, "--json", ...at()]);
    expect(JSON.parse(showJson.stdout)).toMatchObject({ applicationId: id, applicationUri: app.applicationUri });

    const removed = await gds(["apps", "remove", id, ...at()]);
    expect(removed).toMatchObject({ code: 0, stdout: `removed application ${id}\n`, stderr: "" });

    const [gone, again] = await Promise.all([gds(["apps", "show", id, ...at()]), gds(["apps", "remove", id, ...at()])]);
    for (const r of [gone, again]) {
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/^gds: not found: .+\n$/);
      expect(r.stdout).toBe("");
    }
  });

  it("adds, lists and removes users; refuses duplicates, wrong passwords and missing roles", async () => {
    const pw = { CAROL_PW: "carol-password-1" };
    const add = await gds(["users", "add", "carol", "--role", "observer", "--password-env", "CAROL_PW", ...at()], pw);
    expect(add).toMatchObject({ code: 0, stdout: "added user carol with roles Observer\n", stderr: "" });

    const dup = await gds(["users", "add", "carol", "--role", "Observer", "--password-env", "CAROL_PW", ...at()], pw);
    expect(dup.code).toBe(6);
    expect(dup.stderr).toMatch(/^gds: already exists: .*carol/);

    const list = await gds(["users", "list", "--json", ...at()]);
    expect(list.code).toBe(0);
    const users = JSON.parse(list.stdout) as { name: string; roles: string[] }[];
    expect(users.find((u) => u.name === "carol")?.roles).toEqual(["Observer"]);
    expect(users.find((u) => u.name === "admin")?.roles).toContain("SecurityAdmin");
    const table = await gds(["users", "list", ...at()]);
    expect(table.stdout).toMatch(/^NAME\s+ROLES\s+CREATED\n/);
    expect(table.stdout).toMatch(/\ncarol\s+Observer\s+\d{4}-/);

    // carol may log in, but is no SecurityAdmin; a wrong password is no login at all
    const [noRole, wrongPw] = await Promise.all([
      gds(["users", "list", ...at()], { GDS_ADMIN_USER: "carol", GDS_ADMIN_PASSWORD: pw.CAROL_PW }),
      gds(["users", "list", ...at()], { GDS_ADMIN_PASSWORD: "not-the-password" }),
    ]);
    for (const r of [noRole, wrongPw]) {
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/^gds: access denied: /);
    }

    const weak = await gds(["users", "add", "dave", "--role", "Observer", "--password-env", "P", ...at()], { P: "short" });
    expect(weak.code).toBe(1);
    expect(weak.stderr).toMatch(/^gds: Bad\w+: /);

    expect(await gds(["users", "remove", "carol", ...at()])).toMatchObject({ code: 0, stdout: "removed user carol\n" });
    const again = await gds(["users", "remove", "carol", ...at()]);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/^gds: not found: .*carol/);
  });

  it("fails fast with exit 3 when nothing listens, and with exit 2 without a password", async () => {
    const port = await freePort();
    const [refused, noPassword] = await Promise.all([
      gds(["apps", "list", "--endpoint", `opc.tcp://127.0.0.1:${port}`]),
      gds(["apps", "list", ...at()], { GDS_ADMIN_PASSWORD: undefined }),
    ]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toBe(`gds: cannot connect to opc.tcp://127.0.0.1:${port}: connection refused by 127.0.0.1:${port} (is the server running?)\n`);
    expect(refused.ms).toBeLessThan(5000);
    expect(noPassword).toMatchObject({ code: 2, stdout: "", stderr: "gds: GDS_ADMIN_PASSWORD is not set\n" });
  });

  it("uses GDS_PORT for the default endpoint", async () => {
    const port = new URL(endpoint).port;
    const r = await gds(["users", "list", "--json"], { GDS_PORT: port });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ name: "admin" })]));
  });

  it("prints help and usage errors without touching the server", async () => {
    const [help, bad] = await Promise.all([gds(["--help"], { GDS_ADMIN_PASSWORD: undefined }), gds(["apps", "lst"])]);
    expect(help).toMatchObject({ code: 0, stderr: "" });
    expect(help.stdout).toMatch(/^Usage: gds <command>/);
    expect(bad).toMatchObject({ code: 2, stdout: "" });
    expect(bad.stderr).toMatch(/^gds: unknown command "apps lst"\n\nUsage: gds apps/);
  });

  it("refuses gds ca import while the server holds the data dir (exit 2), by --data-dir or GDS_DATA_DIR", async () => {
    const dir = tempDir("gds-cli-ca-busy-");
    try {
      const ca = opensslSelfSigned(dir, "busy-ca", { ca: true });
      const dataDir = t.config.dataDir;
      const lockBefore = fs.readFileSync(path.join(dataDir, "gds.lock"), "utf8");
      const [byFlag, byEnv] = await Promise.all([
        gds(["ca", "import", "--cert", ca.cert, "--key", ca.key, "--data-dir", dataDir]),
        gds(["ca", "import", "--cert", ca.cert, "--key", ca.key, "--force"], { GDS_DATA_DIR: dataDir }),
      ]);
      for (const r of [byFlag, byEnv]) {
        expect(r).toMatchObject({ code: 2, stdout: "", stderr: `gds: the server (pid ${process.pid}) holds ${dataDir}; stop it first\n` });
      }
      // the server's lock is untouched and it still answers
      expect(fs.readFileSync(path.join(dataDir, "gds.lock"), "utf8")).toBe(lockBefore);
      expect((await gds(["users", "list", ...at()])).code).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("gds ca import (offline)", () => {
  let dir: string;
  const gds = gdsCli(() => path.join(dir, "cli-pki"));
  let ca: { cert: string; key: string };
  let leaf: { cert: string; key: string };

  beforeAll(() => {
    assertCliBuilt();
    dir = tempDir("gds-cli-ca-import-");
    ca = opensslSelfSigned(dir, "import-ca", { ca: true, subject: "/CN=Imported Test CA/O=Acme" });
    leaf = opensslSelfSigned(dir, "device", { ca: false, subject: "/CN=Not A CA" });
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const lockFile = (dataDir: string) => path.join(dataDir, "gds.lock");

  it("refuses a certificate that is not a CA (exit 1) and a file it cannot read (exit 2)", async () => {
    const dataDir = path.join(dir, "data-leaf");
    const [notCa, missing] = await Promise.all([
      gds(["ca", "import", "--cert", leaf.cert, "--key", leaf.key, "--data-dir", dataDir]),
      gds(["ca", "import", "--cert", path.join(dir, "nope.pem"), "--key", ca.key, "--data-dir", dataDir]),
    ]);
    expect(notCa).toMatchObject({ code: 1, stdout: "" });
    expect(notCa.stderr).toMatch(/^gds: cannot import the CA of DefaultApplicationGroup: .+\n$/);
    expect(missing).toMatchObject({ code: 2, stdout: "", stderr: `gds: cannot read --cert ${path.join(dir, "nope.pem")}: ENOENT\n` });
    expect(fs.existsSync(lockFile(dataDir))).toBe(false);
  });

  it("imports a CA into a new data dir, refuses a second one without --force, and a server started there issues from it", async () => {
    const dataDir = path.join(dir, "data");
    const first = await gds(["ca", "import", "--cert", ca.cert, "--key", ca.key], { GDS_DATA_DIR: dataDir });
    expect(first).toMatchObject({ code: 0, stderr: "" });
    expect(first.stdout).toMatch(new RegExp(`^imported the CA of DefaultApplicationGroup into ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\n`));
    expect(first.stdout).toMatch(/\n  subject: +.*Imported Test CA.*\n/);
    expect(first.stdout).toMatch(/\n  notAfter: +\d{4}-\d\d-\d\dT/);
    expect(first.stdout).toMatch(/next start/);
    expect(fs.existsSync(lockFile(dataDir))).toBe(false);

    const again = await gds(["ca", "import", "--cert", ca.cert, "--key", ca.key, "--data-dir", dataDir]);
    expect(again).toMatchObject({ code: 6, stdout: "" });
    expect(again.stderr).toMatch(/^gds: already exists: .*--force/);

    const forced = await gds(["ca", "import", "--cert", ca.cert, "--key", ca.key, "--data-dir", dataDir, "--force", "--json"]);
    expect(forced).toMatchObject({ code: 0, stderr: "" });
    const caCert = new X509Certificate(fs.readFileSync(ca.cert));
    expect(JSON.parse(forced.stdout)).toMatchObject({
      imported: "DefaultApplicationGroup",
      dataDir,
      subject: expect.stringContaining("Imported Test CA"),
      notAfter: new Date(caCert.validTo).toISOString(),
      restartRequired: true,
    });
    const audit = fs.readFileSync(path.join(dataDir, "audit.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; actor: string });
    expect(audit.filter((e) => e.event === "CaImported")).toHaveLength(2);
    expect(audit[0].actor).toMatch(/^cli:/);

    // the server started on that data dir signs with the imported CA
    const t = await startTestGds({ dataDir });
    let admin: TestSession | undefined;
    try {
      admin = await connect(t.endpointUrl);
      const applicationId = await registerOk(admin, sampleServer());
      const start = await startNewKeyPairRequest(admin, applicationId, { subjectName: "", domainNames: [], privateKeyFormat: "PEM", privateKeyPassword: "" });
      expect(start.statusCode.name).toBe(StatusCodes.Good.name);
      const finish = await finishRequest(admin, applicationId, start.outputs[0].value as NodeId);
      expect(finish.statusCode.name).toBe(StatusCodes.Good.name);
      const issued = new X509Certificate(finish.outputs[0].value as Buffer);
      expect(issued.checkIssued(caCert)).toBe(true);
      expect(issued.verify(caCert.publicKey)).toBe(true);
    } finally {
      await admin?.close();
      await t.stop();
    }
  });
});

describe("gds as the README runs it", () => {
  it("`npx gds --help` works in the package folder (the built bin is executable)", () => {
    assertCliBuilt();
    expect(fs.statSync("dist/src/cli.js").mode & 0o111).not.toBe(0);
    const r = spawnSync("npx", ["--no-install", "gds", "--help"], { encoding: "utf8", timeout: 30_000 });
    expect(r.stderr).not.toMatch(/Permission denied/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/requests/);
  });
});
