import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import { parseCli, type Env } from "../../src/cli/args.js";
import { CliError, ExitCode } from "../../src/cli/cli-error.js";
import { runCli } from "../../src/cli/main.js";
import { BACKUP_USAGE, MAIN_USAGE, RESTORE_USAGE } from "../../src/cli/usage.js";

const dirs: string[] = [];
function tmp(prefix = "gds-bk-cli-"): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function parseError(argv: string[], env: Env = {}): CliError {
  try {
    parseCli(argv, env);
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error(`parseCli(${argv.join(" ")}) did not fail`);
}

async function run(argv: string[], env: Env = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
  return { code, stdout, stderr };
}

describe("parsing gds backup / gds restore", () => {
  it("backup: --out resolved to an absolute path, the data dir as for ca import", () => {
    expect(parseCli(["backup", "--out", "b.tar.gz", "--data-dir", "/srv/gds"], {})).toEqual({
      kind: "backup",
      dataDir: "/srv/gds",
      out: path.resolve("b.tar.gz"),
      json: false,
    });
    expect(parseCli(["backup", "--out", "/x/b.tgz", "--json"], { GDS_DATA_DIR: "/d" })).toEqual({ kind: "backup", dataDir: "/d", out: "/x/b.tgz", json: true });
    expect(parseCli(["backup", "--out", "/x/b.tgz"], {})).toMatchObject({ dataDir: path.resolve("./pki") });
  });

  it("restore: FILE positional, --force, --json", () => {
    expect(parseCli(["restore", "b.tar.gz", "--data-dir", "/srv/gds", "--force", "--json"], {})).toEqual({
      kind: "restore",
      dataDir: "/srv/gds",
      archive: path.resolve("b.tar.gz"),
      force: true,
      json: true,
    });
    expect(parseCli(["restore", "/b.tgz"], { GDS_DATA_DIR: "/d" })).toEqual({ kind: "restore", dataDir: "/d", archive: "/b.tgz", force: false, json: false });
  });

  it("usage errors exit 2 with the command's usage", () => {
    const cases: [string[], RegExp, string][] = [
      [["backup"], /missing --out FILE/, BACKUP_USAGE],
      [["backup", "--out", " "], /missing --out FILE/, BACKUP_USAGE],
      [["backup", "--out", "x", "extra"], /unexpected argument "extra"/, BACKUP_USAGE],
      [["backup", "--out", "x", "--force"], /Unknown option '--force'/, BACKUP_USAGE],
      [["restore"], /missing FILE/, RESTORE_USAGE],
      [["restore", "a", "b"], /unexpected argument "b"/, RESTORE_USAGE],
      [["restore", "a", "--out", "x"], /Unknown option '--out'/, RESTORE_USAGE],
    ];
    for (const [argv, message, usage] of cases) {
      const err = parseError(argv);
      expect(err.message).toMatch(message);
      expect(err.exitCode).toBe(ExitCode.Usage);
      expect(err.usage).toBe(usage);
    }
    const both = parseError(["backup", "--out", "x", "--data-dir", "/a"], { GDS_DATA_DIR: "/b" });
    expect(both.message).toMatch(/name different data dirs/);
  });

  it("help", () => {
    expect(parseCli(["backup", "--help"], {})).toEqual({ kind: "help", text: BACKUP_USAGE });
    expect(parseCli(["restore", "-h"], {})).toEqual({ kind: "help", text: RESTORE_USAGE });
    expect(MAIN_USAGE).toMatch(/backup --out FILE/);
    expect(MAIN_USAGE).toMatch(/restore FILE/);
    expect(BACKUP_USAGE).toMatch(/0600/);
  });
});

/** The real commands on temp dirs (no server: a live process's pid in gds.lock stands for one). */
describe("gds backup / restore on a data dir", () => {
  let sleeper: ChildProcess;
  beforeAll(() => {
    sleeper = spawn("sleep", ["600"], { stdio: "ignore" });
  });
  afterAll(() => {
    sleeper.kill("SIGKILL");
  });

  function dataDir(): string {
    const d = tmp();
    fs.writeFileSync(path.join(d, "gds.db.json"), "{}", { mode: 0o600 });
    fs.mkdirSync(path.join(d, "ca"), { mode: 0o700 });
    fs.writeFileSync(path.join(d, "ca", "k.pem"), "key", { mode: 0o600 });
    return d;
  }

  it("backup writes a 0600 archive atomically and says it holds secrets; --json", async () => {
    const d = dataDir();
    const out = path.join(tmp(), "b.tar.gz");
    const r = await run(["backup", "--out", out, "--data-dir", d]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/backed up .* to .*b\.tar\.gz/);
    expect(r.stdout).toMatch(/holds the CA private keys and secrets\.key \(mode 0600\)/);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(out))).toEqual(["b.tar.gz"]); // no temp file left
    expect(fs.existsSync(path.join(d, "gds.lock"))).toBe(false); // lock released

    const j = await run(["backup", "--out", out, "--data-dir", d, "--json"]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ archive: out, dataDir: d, files: 2, directories: 1, mode: "0600", containsSecrets: true, formatVersion: 1 });
  });

  it("backup refuses while a server holds the data dir (exit 2), an --out inside the data dir, a missing data dir", async () => {
    const d = dataDir();
    fs.writeFileSync(path.join(d, "gds.lock"), `${sleeper.pid}\n`);
    const out = path.join(tmp(), "b.tar.gz");
    const r = await run(["backup", "--out", out, "--data-dir", d]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`gds: the server (pid ${sleeper.pid}) holds ${d}; stop it first\n`);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readFileSync(path.join(d, "gds.lock"), "utf8")).toBe(`${sleeper.pid}\n`);

    fs.rmSync(path.join(d, "gds.lock"));
    expect((await run(["backup", "--out", path.join(d, "ca", "b.tgz"), "--data-dir", d])).stderr).toMatch(/inside the data dir/);
    const missing = await run(["backup", "--out", out, "--data-dir", path.join(d, "nope")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no data dir at .*nope: ENOENT/);
  });

  it("restore: into a new dir; a non-empty dir refused (exit 6) unless --force, which moves it aside; refused while a server holds it", async () => {
    const d = dataDir();
    const out = path.join(tmp(), "b.tar.gz");
    expect((await run(["backup", "--out", out, "--data-dir", d])).code).toBe(0);

    const target = path.join(tmp(), "new", "data");
    const r = await run(["restore", out, "--data-dir", target]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/restored .* into .*new\/data/);
    expect(fs.readFileSync(path.join(target, "ca", "k.pem"), "utf8")).toBe("key");
    expect(fs.statSync(path.join(target, "ca", "k.pem")).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(target).sort()).toEqual(["ca", "gds.db.json"]);

    fs.writeFileSync(path.join(target, "gds.db.json"), '{"changed":true}');
    const again = await run(["restore", out, "--data-dir", target]);
    expect(again.code).toBe(ExitCode.AlreadyExists);
    expect(again.stderr).toMatch(/is not empty .*--force/);
    expect(fs.readFileSync(path.join(target, "gds.db.json"), "utf8")).toBe('{"changed":true}');

    fs.writeFileSync(path.join(target, "gds.lock"), `${sleeper.pid}\n`);
    const held = await run(["restore", out, "--data-dir", target, "--force"]);
    expect(held.code).toBe(2);
    expect(held.stderr).toMatch(/holds .*stop it first/);
    fs.rmSync(path.join(target, "gds.lock"));

    const forced = await run(["restore", out, "--data-dir", target, "--force", "--json"]);
    expect(forced.code).toBe(0);
    const result = JSON.parse(forced.stdout) as { movedAside: string; files: number };
    expect(result.files).toBe(2);
    expect(result.movedAside).toMatch(/new\/data\.before-restore-\d{4}-\d\d-\d\dT/);
    expect(fs.readFileSync(path.join(result.movedAside, "gds.db.json"), "utf8")).toBe('{"changed":true}');
    expect(fs.existsSync(path.join(result.movedAside, "gds.lock"))).toBe(false);
    expect(fs.readFileSync(path.join(target, "gds.db.json"), "utf8")).toBe("{}");
    expect(fs.readdirSync(target).sort()).toEqual(["ca", "gds.db.json"]);
  });

  it("restore of a damaged archive: exit 1, one line, nothing written", async () => {
    const d = dataDir();
    const out = path.join(tmp(), "b.tar.gz");
    expect((await run(["backup", "--out", out, "--data-dir", d])).code).toBe(0);
    fs.truncateSync(out, fs.statSync(out).size - 30);
    const target = path.join(tmp(), "t");
    const r = await run(["restore", out, "--data-dir", target]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gds: refused .*b\.tar\.gz: the archive is damaged or truncated .*; nothing was written\n$/);
    expect(fs.existsSync(target)).toBe(false);
    const missing = await run(["restore", path.join(d, "nope.tgz"), "--data-dir", target]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*nope\.tgz: ENOENT/);
  });
});
