import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { decryptArchive, encryptArchive, MIN_SCRYPT } from "../../src/backup/encryption.js";
import { readTar, writeTar, type TarEntry } from "../../src/backup/tar.js";
import { sha256, type BackupManifest } from "../../src/backup/archive.js";
import { connect, startTestGds, tempDir } from "../integration/helpers/gds-harness.js";
import { issueNewKeyPair } from "../integration/helpers/certificate-client.js";
import { registerOk, sampleServer } from "../integration/helpers/directory-client.js";
import { assertCliBuilt, gdsCli } from "../integration/helpers/gds-cli.js";

/**
 * A backup holds the CA private keys. `gds backup` encrypts and authenticates it with a passphrase;
 * `gds restore` verifies it before writing anything, sets the modes itself, bounds what it
 * decompresses, and ignores a lock file inside the archive.
 */

const PASSPHRASE = "security test backup passphrase";
const PASS = ["--passphrase-env", "BK_PASS"];
const ENV = { BK_PASS: PASSPHRASE, WRONG_PASS: "not the backup passphrase" };

/** Every file and directory under `dir` with its mode and content hash. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(dir, r));
      out[r] = `${(st.mode & 0o777).toString(8)} ${st.isFile() ? sha256(fs.readFileSync(path.join(dir, r))) : "dir"}`;
      if (st.isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

function chmodAll(dir: string, fileMode: number, dirMode: number): void {
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    if (fs.lstatSync(p).isDirectory()) {
      chmodAll(p, fileMode, dirMode);
      fs.chmodSync(p, dirMode);
    } else fs.chmodSync(p, fileMode);
  }
}

/** Rewrites an encrypted backup's tar (decrypt, edit entries and manifest, encrypt again). */
async function rewriteEncrypted(bytes: Buffer, edit: (entries: TarEntry[], manifest: BackupManifest) => TarEntry[]): Promise<Buffer> {
  const entries = readTar(zlib.gunzipSync(await decryptArchive(bytes, PASSPHRASE)));
  const first = entries[0] as Extract<TarEntry, { type: "file" }>;
  const manifest = JSON.parse(first.data.toString("utf8")) as BackupManifest;
  const rest = edit(entries.slice(1), manifest);
  return encryptArchive(zlib.gzipSync(writeTar([{ ...first, data: Buffer.from(JSON.stringify(manifest)) }, ...rest])), PASSPHRASE, MIN_SCRYPT);
}

describe("backup secrets: encrypted, authenticated, verified before restore writes", () => {
  const dirs: string[] = [];
  const dir = (prefix: string) => {
    const d = tempDir(prefix);
    dirs.push(d);
    return d;
  };
  const gds = gdsCli(() => dir("gds-sec-bk-cli-"));
  let dataDir: string;
  let out: string;
  let archive: string;

  beforeAll(async () => {
    assertCliBuilt();
    dataDir = dir("gds-sec-bk-data-");
    out = dir("gds-sec-bk-out-");
    archive = path.join(out, "backup.gdsbak");
    // A real data dir: CA keys, the server's own key, a store with an issued key pair.
    const t = await startTestGds({ dataDir });
    const admin = await connect(t.endpointUrl);
    try {
      await issueNewKeyPair(admin, await registerOk(admin, sampleServer()));
    } finally {
      await admin.close();
      await t.stop();
    }
    fs.rmSync(path.join(dataDir, "test-server.log"), { force: true });
    const r = await gds(["backup", "--out", archive, "--data-dir", dataDir, ...PASS], ENV);
    expect(r).toMatchObject({ code: 0, stderr: "" });
  }, 180_000);

  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("the encrypted archive holds no plaintext key material and is not a gzip; it is 0600", () => {
    const plainFiles = [...Object.keys(snapshot(dataDir))].filter((f) => fs.statSync(path.join(dataDir, f)).isFile());
    const keyFiles = plainFiles.filter((f) => fs.readFileSync(path.join(dataDir, f)).includes("PRIVATE KEY"));
    expect(keyFiles.length).toBeGreaterThanOrEqual(2); // CA keys and the server's own: there is something to leak
    const bytes = fs.readFileSync(archive);
    expect(bytes.includes("PRIVATE KEY")).toBe(false);
    expect(bytes.includes("BEGIN")).toBe(false);
    expect(bytes.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(false);
    expect(() => zlib.gunzipSync(bytes)).toThrow();
    expect(bytes.subarray(0, 8).toString("latin1")).toBe("GDSBKENC");
    // No key file's bytes appear anywhere (e.g. an unencrypted DER key or secrets.key).
    const secret = fs.readFileSync(path.join(dataDir, "secrets.key"));
    expect(bytes.includes(secret)).toBe(false);
    expect(fs.statSync(archive).mode & 0o777).toBe(0o600);
  });

  it.each([
    ["a wrong passphrase", async () => ({ file: archive, env: ["--passphrase-env", "WRONG_PASS"] })],
    [
      "a flipped byte in the ciphertext",
      async () => {
        const bytes = fs.readFileSync(archive);
        bytes[Math.floor(bytes.length / 2)] ^= 0x04;
        const file = path.join(out, "flipped.gdsbak");
        fs.writeFileSync(file, bytes);
        return { file, env: PASS };
      },
    ],
    [
      "a flipped byte in the tag",
      async () => {
        const bytes = fs.readFileSync(archive);
        bytes[bytes.length - 3] ^= 0x80;
        const file = path.join(out, "flipped-tag.gdsbak");
        fs.writeFileSync(file, bytes);
        return { file, env: PASS };
      },
    ],
  ])("%s: exit 1 with one clear line; an empty target and a non-empty one (--force) unchanged", async (_name, make) => {
    const { file, env } = await make();
    const empty = path.join(dir("gds-sec-bk-t-"), "missing");
    const full = dir("gds-sec-bk-full-");
    fs.writeFileSync(path.join(full, "gds.db.json"), '{"mine":true}', { mode: 0o600 });
    for (const [target, extra] of [[empty, []], [full, ["--force"]]] as const) {
      const before = snapshot(target);
      const r = await gds(["restore", file, "--data-dir", target, ...extra, ...env], ENV);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`gds: refused ${file}: cannot decrypt: wrong passphrase, or the archive was changed or damaged (authentication failed); nothing was written\n`);
      expect(snapshot(target)).toEqual(before);
      expect(fs.readdirSync(path.dirname(target)).filter((n) => n.includes("before-restore"))).toEqual([]);
    }
  });

  it("weaker key-derivation parameters written into the header are refused", async () => {
    const bytes = fs.readFileSync(archive);
    bytes[10] = 10; // scrypt N=2^10
    const file = path.join(out, "weak.gdsbak");
    fs.writeFileSync(file, bytes);
    const target = path.join(dir("gds-sec-bk-weak-"), "t");
    const r = await gds(["restore", file, "--data-dir", target, ...PASS], ENV);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/scrypt N=2\^10\) is weaker than the minimum N=2\^15: refused; nothing was written/);
    expect(fs.existsSync(target)).toBe(false);
  });

  it.each([
    ["encrypted (made by someone who has the passphrase)", true],
    ["plain, with --unencrypted", false],
  ])("a zip bomb, %s: refused while decompressing, not expanded; nothing written", async (_name, encrypted) => {
    // A tar header declaring a 4 GiB gds.db.json, then 2 GiB of zeros.
    const header = writeTar([{ type: "file", path: "data/gds.db.json", mode: 0o600, mtime: new Date(), data: Buffer.alloc(0) }]).subarray(0, 512);
    header.write(`${(4 * 1024 ** 3).toString(8).padStart(11, "0")}\0`, 124, "ascii");
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
    const manifest = writeTar([{ type: "file", path: "manifest.json", mode: 0o600, mtime: new Date(), data: Buffer.from("{}") }]).subarray(0, 1024);
    // 32 gzip members of 64 MiB of zeros each (gunzip reads them as one stream): 2 GiB from ~2 MiB.
    const zeros = zlib.gzipSync(Buffer.alloc(64 * 1024 ** 2), { level: 9 });
    const gz = Buffer.concat([zlib.gzipSync(Buffer.concat([manifest, header])), ...Array.from({ length: 32 }, () => zeros)]);
    expect(gz.length).toBeLessThan(4 * 1024 ** 2);
    const file = path.join(out, encrypted ? "bomb.gdsbak" : "bomb.tar.gz");
    fs.writeFileSync(file, encrypted ? await encryptArchive(gz, PASSPHRASE, MIN_SCRYPT) : gz);
    const target = path.join(dir("gds-sec-bk-bomb-"), "t");
    const r = await gds(["restore", file, "--data-dir", target, ...(encrypted ? PASS : ["--unencrypted"])], ENV);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused .*: the entry "data\/gds\.db\.json" declares 4096 MiB, more than the 512 MiB a file of a GDS backup may have: refused \(a zip bomb\?\); nothing was written\n$/);
    expect(fs.existsSync(target)).toBe(false);
  });

  it("modes after restore are 0600 for every file and 0700 for every folder, whatever the data dir and the archive said", async () => {
    const loose = dir("gds-sec-bk-loose-");
    fs.cpSync(dataDir, loose, { recursive: true });
    chmodAll(loose, 0o666, 0o777);
    const file = path.join(out, "loose.gdsbak");
    expect((await gds(["backup", "--out", file, "--data-dir", loose, ...PASS], ENV)).code).toBe(0);
    // The archive records the loose modes...
    const entries = readTar(zlib.gunzipSync(await decryptArchive(fs.readFileSync(file), PASSPHRASE)));
    const key = entries.find((e) => e.path === "data/ca/DefaultApplicationGroup/ca.key.pem")!;
    expect(key.mode & 0o777).toBe(0o666);
    // ...restore does not use them.
    const target = path.join(dir("gds-sec-bk-modes-"), "data");
    const r = await gds(["restore", file, "--data-dir", target, ...PASS], ENV);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const modes = snapshot(target);
    expect(Object.keys(modes).length).toBeGreaterThan(10);
    for (const [p, v] of Object.entries(modes)) expect(`${p} ${v.split(" ")[0]}`).toBe(`${p} ${v.endsWith(" dir") ? "700" : "600"}`);
    expect(fs.statSync(target).mode & 0o777).toBe(0o700);
    for (const must of ["ca/DefaultApplicationGroup/ca.key.pem", "secrets.key", "gds.db.json", "gds.db.json.journal", "audit.log"]) expect(modes[must]).toMatch(/^600 /);
  });

  it("a gds.lock in the archive is ignored (a restored lock would name a stranger's process)", async () => {
    const lockData = Buffer.from(`${process.pid}\n`); // a live pid: if restored, the server would think the dir taken
    const file = path.join(out, "with-lock.gdsbak");
    fs.writeFileSync(
      file,
      await rewriteEncrypted(fs.readFileSync(archive), (entries, manifest) => {
        manifest.files.push({ path: "gds.lock", mode: "0600", size: lockData.length, sha256: sha256(lockData) });
        return [...entries, { type: "file", path: "data/gds.lock", mode: 0o600, mtime: new Date(), data: lockData }];
      }),
    );
    const target = path.join(dir("gds-sec-bk-lock-"), "data");
    const r = await gds(["restore", file, "--data-dir", target, "--json", ...PASS], ENV);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(r.stdout)).toMatchObject({ ignored: ["gds.lock"], encrypted: true });
    expect(fs.existsSync(path.join(target, "gds.lock"))).toBe(false);
    expect(fs.existsSync(path.join(target, "gds.db.json"))).toBe(true);
    // The restored dir is usable: backing it up again works (no lock holds it).
    const again = await gds(["backup", "--out", path.join(out, "again.gdsbak"), "--data-dir", target, ...PASS], ENV);
    expect(again.code).toBe(0);
    expect(crypto.createHash("sha256").update(fs.readFileSync(path.join(target, "secrets.key"))).digest("hex")).toBe(sha256(fs.readFileSync(path.join(dataDir, "secrets.key"))));
  });
});
