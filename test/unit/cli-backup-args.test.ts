import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import { parseCli, type Env } from "../../src/cli/args.js";
import { CliError, ExitCode } from "../../src/cli/cli-error.js";
import { runCli } from "../../src/cli/main.js";
import { BACKUP_USAGE, MAIN_USAGE, RESTORE_USAGE, UNENCRYPTED_WARNING } from "../../src/cli/usage.js";

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

const PASS = "a long enough backup passphrase";
const PASS_ENV: Env = { BK_PASS: PASS };

describe("parsing gds backup / gds restore", () => {
  it("backup: --out resolved to an absolute path, the passphrase read from --passphrase-env, the data dir as for ca import", () => {
    expect(parseCli(["backup", "--out", "b.gdsbak", "--passphrase-env", "BK_PASS", "--data-dir", "/srv/gds"], PASS_ENV)).toEqual({
      kind: "backup",
      dataDir: "/srv/gds",
      out: path.resolve("b.gdsbak"),
      passphrase: PASS,
      unencrypted: false,
      json: false,
    });
    expect(parseCli(["backup", "--out", "/x/b.tgz", "--unencrypted", "--json"], { GDS_DATA_DIR: "/d" })).toEqual({
      kind: "backup",
      dataDir: "/d",
      out: "/x/b.tgz",
      unencrypted: true,
      json: true,
    });
    expect(parseCli(["backup", "--out", "/x/b.tgz", "--passphrase-env", "BK_PASS"], PASS_ENV)).toMatchObject({ dataDir: path.resolve("./pki") });
  });

  it("restore: FILE positional, --passphrase-env or --unencrypted, --force, --json", () => {
    expect(parseCli(["restore", "b.gdsbak", "--passphrase-env", "BK_PASS", "--data-dir", "/srv/gds", "--force", "--json"], PASS_ENV)).toEqual({
      kind: "restore",
      dataDir: "/srv/gds",
      archive: path.resolve("b.gdsbak"),
      passphrase: PASS,
      unencrypted: false,
      force: true,
      json: true,
    });
    expect(parseCli(["restore", "/b.tgz", "--unencrypted"], { GDS_DATA_DIR: "/d" })).toEqual({ kind: "restore", dataDir: "/d", archive: "/b.tgz", unencrypted: true, force: false, json: false });
    // Restore takes whatever passphrase the backup was written with; only backup enforces a minimum.
    expect(parseCli(["restore", "/b", "--passphrase-env", "P"], { P: "short" })).toMatchObject({ passphrase: "short" });
  });

  it("usage errors exit 2 with the command's usage", () => {
    const cases: [string[], RegExp, string][] = [
      [["backup", "--passphrase-env", "BK_PASS"], /missing --out FILE/, BACKUP_USAGE],
      [["backup", "--out", " ", "--unencrypted"], /missing --out FILE/, BACKUP_USAGE],
      [["backup", "--out", "x", "extra"], /unexpected argument "extra"/, BACKUP_USAGE],
      [["backup", "--out", "x", "--force"], /Unknown option '--force'/, BACKUP_USAGE],
      [["backup", "--out", "x"], /missing --passphrase-env VAR: the archive holds the CA private keys .*--unencrypted writes a plain archive, for tests only/, BACKUP_USAGE],
      [["backup", "--out", "x", "--passphrase-env", "BK_PASS", "--unencrypted"], /--passphrase-env and --unencrypted exclude each other/, BACKUP_USAGE],
      [["restore"], /missing FILE/, RESTORE_USAGE],
      [["restore", "a", "b"], /unexpected argument "b"/, RESTORE_USAGE],
      [["restore", "a", "--out", "x"], /Unknown option '--out'/, RESTORE_USAGE],
      [["restore", "a"], /missing --passphrase-env VAR \(the variable holding the passphrase the backup was written with\), or --unencrypted for a plain archive/, RESTORE_USAGE],
      [["restore", "a", "--unencrypted", "--passphrase-env", "BK_PASS"], /exclude each other/, RESTORE_USAGE],
    ];
    for (const [argv, message, usage] of cases) {
      const err = parseError(argv, PASS_ENV);
      expect(err.message).toMatch(message);
      expect(err.exitCode).toBe(ExitCode.Usage);
      expect(err.usage).toBe(usage);
    }
    const both = parseError(["backup", "--out", "x", "--data-dir", "/a", "--unencrypted"], { GDS_DATA_DIR: "/b" });
    expect(both.message).toMatch(/name different data dirs/);
    // The passphrase: its variable must be set, and for a backup long enough.
    const unset = parseError(["backup", "--out", "x", "--passphrase-env", "NOPE"], {});
    expect([unset.message, unset.exitCode]).toEqual(["environment variable NOPE (--passphrase-env) is not set", ExitCode.Usage]);
    const short = parseError(["backup", "--out", "x", "--passphrase-env", "P"], { P: "eleven-char" });
    expect([short.message, short.exitCode]).toEqual(["the passphrase in P is too short: at least 12 characters (the archive can be attacked offline)", ExitCode.Usage]);
    expect(parseError(["restore", "x", "--passphrase-env", "NOPE"], {}).message).toMatch(/NOPE .* is not set/);
  });

  it("help", () => {
    expect(parseCli(["backup", "--help"], {})).toEqual({ kind: "help", text: BACKUP_USAGE });
    expect(parseCli(["restore", "-h"], {})).toEqual({ kind: "help", text: RESTORE_USAGE });
    expect(MAIN_USAGE).toMatch(/backup --out FILE --passphrase-env VAR/);
    expect(MAIN_USAGE).toMatch(/restore FILE --passphrase-env VAR/);
    expect(BACKUP_USAGE).toMatch(/0600/);
    expect(BACKUP_USAGE).toMatch(/AES-256-GCM/);
    expect(RESTORE_USAGE).toMatch(/folders 0700, files 0600/);
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

  it("backup writes an encrypted 0600 archive atomically and says it holds the CA keys; --json", async () => {
    const d = dataDir();
    const out = path.join(tmp(), "b.gdsbak");
    const r = await run(["backup", "--out", out, "--passphrase-env", "BK_PASS", "--data-dir", d], PASS_ENV);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/backed up .* to .*b\.gdsbak/);
    expect(r.stdout).toMatch(/encrypted: AES-256-GCM, key from the passphrase by scrypt \(N=2\^17, r=8, p=1\)/);
    expect(r.stdout).toMatch(/holds the CA private keys: keep the passphrase apart from it/);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(out).subarray(0, 8).toString("latin1")).toBe("GDSBKENC");
    expect(fs.readdirSync(path.dirname(out))).toEqual(["b.gdsbak"]); // no temp file left
    expect(fs.existsSync(path.join(d, "gds.lock"))).toBe(false); // lock released

    const j = await run(["backup", "--out", out, "--passphrase-env", "BK_PASS", "--data-dir", d, "--json"], PASS_ENV);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({
      archive: out,
      dataDir: d,
      files: 2,
      directories: 1,
      mode: "0600",
      containsSecrets: true,
      formatVersion: 1,
      encrypted: true,
      encryption: { cipher: "AES-256-GCM", kdf: "scrypt", N: 131072, r: 8, p: 1 },
    });
  });

  it("--unencrypted: a plain tar.gz, with a loud warning on stderr for backup and restore; each kind restores only with its own flag", async () => {
    const d = dataDir();
    const out = path.join(tmp(), "b.tar.gz");
    const r = await run(["backup", "--out", out, "--unencrypted", "--data-dir", d]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(UNENCRYPTED_WARNING);
    expect(r.stderr).toMatch(/WARNING: --unencrypted: the archive is NOT encrypted and NOT authenticated/);
    expect(r.stdout).toMatch(/NOT encrypted/);
    expect(fs.readFileSync(out).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));

    const target = path.join(tmp(), "t");
    const withPass = await run(["restore", out, "--passphrase-env", "BK_PASS", "--data-dir", target], PASS_ENV);
    expect(withPass.code).toBe(2);
    expect(withPass.stderr).toMatch(/is not an encrypted GDS backup: a plain archive \(gds backup --unencrypted\) restores only with --unencrypted/);
    expect(fs.existsSync(target)).toBe(false);
    const plain = await run(["restore", out, "--unencrypted", "--data-dir", target]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toBe(UNENCRYPTED_WARNING);

    const enc = path.join(tmp(), "b.gdsbak");
    expect((await run(["backup", "--out", enc, "--passphrase-env", "BK_PASS", "--data-dir", d], PASS_ENV)).code).toBe(0);
    const target2 = path.join(tmp(), "t2");
    const noPass = await run(["restore", enc, "--unencrypted", "--data-dir", target2]);
    expect(noPass.code).toBe(2);
    expect(noPass.stderr).toMatch(/is encrypted: restore it with --passphrase-env VAR, not --unencrypted/);
    expect(fs.existsSync(target2)).toBe(false);
  });

  it("backup refuses while a server holds the data dir (exit 2), an --out inside the data dir, a missing data dir", async () => {
    const d = dataDir();
    fs.writeFileSync(path.join(d, "gds.lock"), `${sleeper.pid}\n`);
    const out = path.join(tmp(), "b.tar.gz");
    const r = await run(["backup", "--out", out, "--data-dir", d, "--passphrase-env", "BK_PASS"], PASS_ENV);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`gds: the server (pid ${sleeper.pid}) holds ${d}; stop it first\n`);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readFileSync(path.join(d, "gds.lock"), "utf8")).toBe(`${sleeper.pid}\n`);

    fs.rmSync(path.join(d, "gds.lock"));
    expect((await run(["backup", "--out", path.join(d, "ca", "b.tgz"), "--data-dir", d, "--passphrase-env", "BK_PASS"], PASS_ENV)).stderr).toMatch(/inside the data dir/);
    const missing = await run(["backup", "--out", out, "--data-dir", path.join(d, "nope"), "--passphrase-env", "BK_PASS"], PASS_ENV);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no data dir at .*nope: ENOENT/);
  });

  it("restore: into a new dir; a non-empty dir refused (exit 6) unless --force, which moves it aside; refused while a server holds it", async () => {
    const d = dataDir();
    const out = path.join(tmp(), "b.gdsbak");
    expect((await run(["backup", "--out", out, "--data-dir", d, "--passphrase-env", "BK_PASS"], PASS_ENV)).code).toBe(0);

    const target = path.join(tmp(), "new", "data");
    const r = await run(["restore", out, "--data-dir", target, "--passphrase-env", "BK_PASS"], PASS_ENV);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/restored .* into .*new\/data/);
    expect(fs.readFileSync(path.join(target, "ca", "k.pem"), "utf8")).toBe("key");
    expect(fs.statSync(path.join(target, "ca", "k.pem")).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(target).sort()).toEqual(["ca", "gds.db.json"]);

    fs.writeFileSync(path.join(target, "gds.db.json"), '{"changed":true}');
    const again = await run(["restore", out, "--data-dir", target, "--passphrase-env", "BK_PASS"], PASS_ENV);
    expect(again.code).toBe(ExitCode.AlreadyExists);
    expect(again.stderr).toMatch(/is not empty .*--force/);
    expect(fs.readFileSync(path.join(target, "gds.db.json"), "utf8")).toBe('{"changed":true}');

    fs.writeFileSync(path.join(target, "gds.lock"), `${sleeper.pid}\n`);
    const held = await run(["restore", out, "--data-dir", target, "--force", "--passphrase-env", "BK_PASS"], PASS_ENV);
    expect(held.code).toBe(2);
    expect(held.stderr).toMatch(/holds .*stop it first/);
    fs.rmSync(path.join(target, "gds.lock"));

    const forced = await run(["restore", out, "--data-dir", target, "--force", "--json", "--passphrase-env", "BK_PASS"], PASS_ENV);
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
    const out = path.join(tmp(), "b.gdsbak");
    expect((await run(["backup", "--out", out, "--data-dir", d, "--passphrase-env", "BK_PASS"], PASS_ENV)).code).toBe(0);
    fs.truncateSync(out, fs.statSync(out).size - 30);
    const target = path.join(tmp(), "t");
    const r = await run(["restore", out, "--data-dir", target, "--passphrase-env", "BK_PASS"], PASS_ENV);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gds: refused .*b\.gdsbak: cannot decrypt: wrong passphrase, or the archive was changed or damaged \(authentication failed\); nothing was written\n$/);
    expect(fs.existsSync(target)).toBe(false);
    const plain = path.join(tmp(), "b.tar.gz");
    expect((await run(["backup", "--out", plain, "--data-dir", d, "--unencrypted"])).code).toBe(0);
    fs.truncateSync(plain, fs.statSync(plain).size - 30);
    const p = await run(["restore", plain, "--data-dir", target, "--unencrypted"]);
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/gds: refused .*b\.tar\.gz: the archive is damaged or truncated .*; nothing was written\n$/);
    expect(fs.existsSync(target)).toBe(false);
    const missing = await run(["restore", path.join(d, "nope.tgz"), "--data-dir", target, "--unencrypted"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*nope\.tgz: ENOENT/);
  });
});
