import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { buildArchive, readDataDir } from "../../src/backup/archive.js";
import { tempDir } from "./helpers/gds-harness.js";
import { assertCliBuilt, gdsCli } from "./helpers/gds-cli.js";

const PASS = ["--passphrase-env", "BK_PASS"];
const PASS_ENV = { BK_PASS: "backup guard passphrase 1" };

/** A folder that is not a GDS data dir: files, but neither the database nor a CA. */
function notADataDir(dir: string): void {
  fs.mkdirSync(path.join(dir, "docs"), { recursive: true });
  fs.writeFileSync(path.join(dir, "notes.txt"), "not a GDS\n");
  fs.writeFileSync(path.join(dir, "docs", "readme.md"), "# hello\n");
}

describe("gds backup and restore refuse what is not a GDS data dir", () => {
  const dirs: string[] = [];
  const dir = (prefix: string) => {
    const d = tempDir(prefix);
    dirs.push(d);
    return d;
  };
  let cliPki: string;
  const gds = gdsCli(() => cliPki);

  beforeAll(() => {
    assertCliBuilt();
    cliPki = dir("gds-bkg-cli-");
  });
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("backup of a folder with neither database nor CA: exit 2, one line naming the folder, no archive written", async () => {
    const data = dir("gds-bkg-data-");
    notADataDir(data);
    const out = path.join(dir("gds-bkg-out-"), "backup.gdsbak");
    for (const extra of [PASS, ["--unencrypted"]]) {
      const r = await gds(["backup", "--out", out, "--data-dir", data, ...extra], PASS_ENV);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`gds: ${data} is not a GDS data dir: it holds neither the database (gds.db.json) nor a CA`);
      expect(r.stdout).toBe("");
      expect(fs.existsSync(out)).toBe(false);
      expect(fs.readdirSync(path.dirname(out))).toEqual([]);
    }
  });

  it("backup of a data dir with only the database or only a CA is taken", async () => {
    const withDb = dir("gds-bkg-db-");
    fs.writeFileSync(path.join(withDb, "gds.db.json"), "{}", { mode: 0o600 });
    const withCa = dir("gds-bkg-ca-");
    fs.mkdirSync(path.join(withCa, "ca", "DefaultApplicationGroup"), { recursive: true });
    fs.writeFileSync(path.join(withCa, "ca", "DefaultApplicationGroup", "ca.cert.der"), Buffer.from([0x30, 0x00]));
    for (const data of [withDb, withCa]) {
      const out = path.join(dir("gds-bkg-out-"), "backup.tar.gz");
      const r = await gds(["backup", "--out", out, "--data-dir", data, "--unencrypted"]);
      expect(r.code).toBe(0);
      expect(fs.existsSync(out)).toBe(true);
    }
  });

  it("restore of a well-formed archive that holds no GDS data dir: exit 2, nothing written", async () => {
    const source = dir("gds-bkg-src-");
    notADataDir(source);
    const contents = await readDataDir(source, { now: new Date(), gdsVersion: "test" });
    const archive = path.join(dir("gds-bkg-arc-"), "foreign.tar.gz");
    fs.writeFileSync(archive, buildArchive(contents), { mode: 0o600 });
    expect(zlib.gunzipSync(fs.readFileSync(archive)).length).toBeGreaterThan(0);
    const target = path.join(dir("gds-bkg-target-"), "data");
    const r = await gds(["restore", archive, "--data-dir", target, "--unencrypted"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refused .*foreign\.tar\.gz: it holds no GDS data dir \(neither the database \(gds\.db\.json\) nor a CA .*\); nothing was written\n$/);
    expect(fs.existsSync(target)).toBe(false);
  });
});
