import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { ADMIN_PASSWORD, connect, freePort, startTestGds, tempDir, type TestGds, type TestSession } from "./helpers/gds-harness.js";
import { registerOk, sampleServer } from "./helpers/directory-client.js";

/** The compiled CLI, as an operator runs it (`npm run build` first). */
const CLI = path.resolve("dist/src/cli.js");

/** Fails early, with the fix, when dist is missing or older than the CLI sources. */
function assertCliBuilt(): void {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the integration tests`);
  const built = fs.statSync(CLI).mtimeMs;
  const sources = ["src/cli.ts", ...fs.readdirSync("src/cli").map((f) => path.join("src/cli", f))];
  const newer = sources.filter((f) => f.endsWith(".ts") && fs.statSync(f).mtimeMs > built);
  if (newer.length > 0) throw new Error(`dist is older than ${newer.join(", ")}: run \`npm run build\``);
}

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

describe("gds CLI against a running server", () => {
  let t: TestGds;
  let admin: TestSession;
  let endpoint: string;
  let cliPki: string;

  /** Runs `gds …` with the admin password and a CLI PKI of this test run; `undefined` in `env` unsets a variable. */
  function gds(args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
    // jest's NODE_OPTIONS (--experimental-vm-modules) is not for the CLI; GDS_* of the caller's shell must not leak in
    const inherited = Object.entries(process.env).filter(([k]) => k !== "NODE_OPTIONS" && !k.startsWith("GDS_"));
    const childEnv: NodeJS.ProcessEnv = { ...Object.fromEntries(inherited), GDS_ADMIN_PASSWORD: ADMIN_PASSWORD, GDS_CLI_PKI_DIR: cliPki };
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete childEnv[k];
      else childEnv[k] = v;
    }
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })));
  }
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
    expect(entry?.applicationId).toMatch(/^ns=\d+;g=/);
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
});
