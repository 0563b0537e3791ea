import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import {
  ArchiveError,
  BackupError,
  buildArchive,
  gunzipBounded,
  TarSizeWatcher,
  type ArchiveLimits,
  isSafeRelativePath,
  readDataDir,
  sha256,
  verifyArchive,
  writeBackupInto,
  type BackupManifest,
} from "../../src/backup/archive.js";
import { readTar, writeTar, type TarEntry } from "../../src/backup/tar.js";

const dirs: string[] = [];
function tmp(prefix = "gds-bk-unit-"): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const LONG_NAME = `issuer_${"x".repeat(120)} CA[2c5380190b51e95320db6cc4dc5ebd12351ba32c].pem`;

/** A data dir shaped like a real one, with the modes the server uses. */
function makeDataDir(): string {
  return makeDataDirIn(tmp());
}

function makeDataDirIn(d: string): string {
  const w = (rel: string, data: string | Buffer, mode: number) => {
    fs.writeFileSync(path.join(d, rel), data);
    fs.chmodSync(path.join(d, rel), mode);
  };
  const md = (rel: string, mode: number) => {
    fs.mkdirSync(path.join(d, rel));
    fs.chmodSync(path.join(d, rel), mode);
  };
  w("gds.db.json", '{"applications":{}}', 0o600);
  w("gds.db.json.journal", "", 0o600);
  w("secrets.key", Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7)), 0o600);
  w("audit.log", '{"event":"x"}\n', 0o600);
  md("ca", 0o700);
  md("ca/DefaultApplicationGroup", 0o700);
  w("ca/DefaultApplicationGroup/ca.key.pem", "-----BEGIN PRIVATE KEY-----\n", 0o600);
  w("ca/DefaultApplicationGroup/ca.cert.der", Buffer.from([0x30, 0x82, 0, 0xff]), 0o644);
  md("server-pki", 0o755);
  md("server-pki/issuers", 0o755);
  md("server-pki/issuers/certs", 0o755);
  w(`server-pki/issuers/certs/${LONG_NAME}`, "cert", 0o644);
  md("server-pki/rejected", 0o755); // empty directory
  // transient
  w("gds.lock", "999999\n", 0o600);
  w("gds.db.json.tmp-123-abcd", "partial", 0o600);
  md("ca/.DefaultHttpsGroup.staging-1-ab", 0o700);
  md("server-pki/mutex.lock", 0o755);
  md(".restore.staging-1-ab", 0o700);
  return d;
}

function modesOf(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(root, r));
      out[r] = `${(st.mode & 0o777).toString(8)}${st.isFile() ? `:${sha256(fs.readFileSync(path.join(root, r)))}` : "/"}`;
      if (st.isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

const NOW = new Date("2026-11-25T12:00:00Z");

async function archiveOf(dataDir: string): Promise<Buffer> {
  return buildArchive(await readDataDir(dataDir, { now: NOW, gdsVersion: "9.9.9" }));
}

/** Edits the uncompressed tar: entries → entries, then re-gzips (a well-formed but altered archive). */
function rewrite(archive: Buffer, edit: (entries: TarEntry[]) => TarEntry[]): Buffer {
  return zlib.gzipSync(writeTar(edit(readTar(zlib.gunzipSync(archive)))));
}

function editManifest(archive: Buffer, edit: (m: BackupManifest) => void): Buffer {
  return rewrite(archive, (entries) => {
    const first = entries[0] as Extract<TarEntry, { type: "file" }>;
    const m = JSON.parse(first.data.toString("utf8")) as BackupManifest;
    edit(m);
    return [{ ...first, data: Buffer.from(JSON.stringify(m)) }, ...entries.slice(1)];
  });
}

describe("backup archive", () => {
  it("round trip: every file with its content, every directory; modes set by restore (0600/0700); transient files left out", async () => {
    const src = makeDataDir();
    const contents = await readDataDir(src, { now: NOW, gdsVersion: "9.9.9" });
    expect(contents.manifest.excluded.sort()).toEqual([".restore.staging-1-ab", "ca/.DefaultHttpsGroup.staging-1-ab", "gds.db.json.tmp-123-abcd", "server-pki/mutex.lock"]);
    expect(contents.manifest).toMatchObject({ format: "opcua-gds-backup", formatVersion: 1, gdsVersion: "9.9.9", createdAt: NOW.toISOString(), dataDir: src });
    const key = contents.manifest.files.find((f) => f.path === "ca/DefaultApplicationGroup/ca.key.pem");
    expect(key).toEqual({ path: "ca/DefaultApplicationGroup/ca.key.pem", mode: "0600", size: 28, sha256: sha256(Buffer.from("-----BEGIN PRIVATE KEY-----\n")) });

    const verified = await verifyArchive(buildArchive(contents));
    const dest = tmp();
    await writeBackupInto(dest, verified);

    // Same files and contents; the modes are restore's own (files 0600, folders 0700), whatever
    // they were in the data dir (0644 certificates, 0755 server-pki folders).
    const expected = modesOf(src);
    for (const t of ["gds.lock", "gds.db.json.tmp-123-abcd", "ca/.DefaultHttpsGroup.staging-1-ab", "server-pki/mutex.lock", ".restore.staging-1-ab"]) delete expected[t];
    for (const [k, v] of Object.entries(expected)) expected[k] = v.endsWith("/") ? "700/" : v.replace(/^\d+:/, "600:");
    expect(modesOf(dest)).toEqual(expected);
    expect(modesOf(dest)["ca/DefaultApplicationGroup/ca.cert.der"]).toMatch(/^600:/);
    expect(modesOf(dest)["server-pki/rejected"]).toBe("700/");
    expect(verified.ignored).toEqual([]);
  });

  it("the manifest is the first entry and system tar extracts the same files (long names via pax)", async () => {
    const src = makeDataDir();
    const archive = await archiveOf(src);
    const entries = readTar(zlib.gunzipSync(archive));
    expect(entries[0].path).toBe("manifest.json");
    const file = path.join(tmp(), "b.tar.gz");
    fs.writeFileSync(file, archive);
    const out = tmp();
    execFileSync("tar", ["-xzf", file, "-C", out]);
    expect(fs.readFileSync(path.join(out, "data/server-pki/issuers/certs", LONG_NAME), "utf8")).toBe("cert");
    expect(fs.readFileSync(path.join(out, "data/secrets.key"))).toEqual(fs.readFileSync(path.join(src, "secrets.key")));
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as BackupManifest;
    for (const f of manifest.files) expect(sha256(fs.readFileSync(path.join(out, "data", f.path)))).toBe(f.sha256);
  });

  it("backup refuses a data dir restore would refuse for its size", async () => {
    const contents = await readDataDir(makeDataDir(), { now: NOW, gdsVersion: "1" });
    expect(() => buildArchive(contents, { maxTotalBytes: 1024 ** 3, maxEntryBytes: 10 })).toThrow(/holds .* more than the .* restore accepts for one file/);
    expect(() => buildArchive(contents, { maxTotalBytes: 4096, maxEntryBytes: 1024 })).toThrow(/archive, more than the .* restore accepts/);
  });

  it("the streaming size check finds every header whatever the chunk boundaries", async () => {
    const tar = zlib.gunzipSync(await archiveOf(makeDataDir()));
    const limits = { maxTotalBytes: 1024 ** 3, maxEntryBytes: 64 };
    const feedInChunks = (bytes: Buffer, seed: number) => {
      const w = new TarSizeWatcher(limits);
      let x = seed;
      for (let off = 0; off < bytes.length; ) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        const n = 1 + (x % 700);
        w.feed(bytes.subarray(off, off + n));
        off += n;
      }
    };
    // manifest.json is the first entry and is larger than 64 bytes; a 20-byte file is not.
    for (let seed = 1; seed < 30; seed++) expect(() => feedInChunks(tar, seed)).toThrow(/"manifest\.json" declares .* more than the/);
    const small = writeTar([{ type: "file", path: "data/a", mode: 0o600, mtime: NOW, data: Buffer.alloc(20) }, { type: "dir", path: "data/d", mode: 0o700, mtime: NOW }, { type: "file", path: "data/b", mode: 0o600, mtime: NOW, data: Buffer.alloc(64) }]);
    const big = writeTar([{ type: "file", path: "data/a", mode: 0o600, mtime: NOW, data: Buffer.alloc(20) }, { type: "file", path: "data/b", mode: 0o600, mtime: NOW, data: Buffer.alloc(65) }]);
    for (let seed = 1; seed < 30; seed++) {
      expect(() => feedInChunks(small, seed)).not.toThrow();
      expect(() => feedInChunks(big, seed)).toThrow(/"data\/b" declares/);
    }
  });

  it("refuses a symlink in the data dir (neither followed nor skipped)", async () => {
    const src = makeDataDir();
    fs.symlinkSync("/etc/passwd", path.join(src, "ca", "link"));
    await expect(readDataDir(src, { now: NOW, gdsVersion: "1" })).rejects.toThrow(BackupError);
    await expect(readDataDir(src, { now: NOW, gdsVersion: "1" })).rejects.toThrow(/ca\/link .*symbolic link/);
  });

  describe("verifyArchive refuses", () => {
    let archive: Buffer;
    beforeAll(async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gds-bk-unit-"));
      try {
        archive = await archiveOf(makeDataDirIn(dir));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("(the archive these tests damage verifies as it is, gzip'd or as a plain tar)", async () => {
      expect((await verifyArchive(zlib.gunzipSync(archive))).files).toHaveLength(7);
      expect((await verifyArchive(archive)).files.map((f) => f.path).sort()).toEqual([
        "audit.log",
        "ca/DefaultApplicationGroup/ca.cert.der",
        "ca/DefaultApplicationGroup/ca.key.pem",
        "gds.db.json",
        "gds.db.json.journal",
        "secrets.key",
        `server-pki/issuers/certs/${LONG_NAME}`,
      ]);
    });

    const refuse = async (bytes: Buffer, message: RegExp, limits?: ArchiveLimits) => {
      await expect(verifyArchive(bytes, limits)).rejects.toThrow(ArchiveError);
      await expect(verifyArchive(bytes, limits)).rejects.toThrow(message);
    };

    it("a flipped byte inside a file's data (sha256 mismatch)", async () => {
      const tar = zlib.gunzipSync(archive);
      const at = tar.indexOf("-----BEGIN PRIVATE KEY");
      expect(at).toBeGreaterThan(0);
      tar[at + 3] ^= 0x01;
      await refuse(zlib.gzipSync(tar), /ca\/DefaultApplicationGroup\/ca\.key\.pem: sha256 differs/);
    });

    it("a flipped byte in the compressed archive", async () => {
      const bad = Buffer.from(archive);
      bad[Math.floor(bad.length / 2)] ^= 0xff;
      await refuse(bad, /damaged|checksum|sha256|truncated|not a ustar/);
    });

    it("a truncated archive, compressed or not", async () => {
      await refuse(archive.subarray(0, archive.length - 40), /truncated/);
      const tar = zlib.gunzipSync(archive);
      await refuse(tar.subarray(0, 512 * 3 + 100), /truncated/);
      await refuse(Buffer.alloc(0), /truncated/);
    });

    it("a manifest checksum that does not match the file", async () => {
      await refuse(
        editManifest(archive, (m) => (m.files.find((f) => f.path === "secrets.key")!.sha256 = "0".repeat(64))),
        /secrets\.key: sha256 differs/,
      );
      await refuse(editManifest(archive, (m) => (m.files.find((f) => f.path === "audit.log")!.size = 1)), /audit\.log: size/);
    });

    it("a missing or malformed manifest, or another format version", async () => {
      await refuse(rewrite(archive, (e) => e.slice(1)), /does not start with manifest\.json/);
      await refuse(
        rewrite(archive, (e) => [{ ...(e[0] as Extract<TarEntry, { type: "file" }>), data: Buffer.from("{not json") }, ...e.slice(1)]),
        /manifest\.json is not valid JSON/,
      );
      await refuse(editManifest(archive, (m) => (m.formatVersion = 2)), /format version 2, made by a newer GDS/);
      await refuse(editManifest(archive, (m) => ((m as { format: string }).format = "other")), /format is "other"/);
      await refuse(editManifest(archive, (m) => (m.files[0].mode = "4755")), /invalid mode/);
    });

    it("a file listed in the manifest but missing, and an entry the manifest does not list", async () => {
      await refuse(rewrite(archive, (e) => e.filter((x) => x.path !== "data/secrets.key")), /secrets\.key is listed in the manifest but missing/);
      await refuse(
        rewrite(archive, (e) => [...e, { type: "file", path: "data/extra", mode: 0o600, mtime: NOW, data: Buffer.from("x") }]),
        /unexpected file extra/,
      );
      await refuse(rewrite(archive, (e) => [...e, { type: "file", path: "README", mode: 0o600, mtime: NOW, data: Buffer.from("x") }]), /unexpected entry "README"/);
    });

    it("path traversal and absolute paths, in the tar or in the manifest", async () => {
      const evil = (p: string) =>
        rewrite(archive, (e) => [...e.filter((x) => x.path !== "data/audit.log"), { type: "file", path: p, mode: 0o600, mtime: NOW, data: Buffer.from('{"event":"x"}\n') }]);
      await refuse(evil("data/../audit.log"), /unsafe path "data\/\.\.\/audit\.log"/);
      await refuse(evil("data/ca/../../../tmp/x"), /unsafe path/);
      await refuse(evil("/etc/cron.d/x"), /unexpected entry "\/etc\/cron\.d\/x"/);
      await refuse(evil("data//audit.log"), /unsafe path/);
      await refuse(editManifest(archive, (m) => (m.files.find((f) => f.path === "audit.log")!.path = "../audit.log")), /unsafe or invalid file path "\.\.\/audit\.log"/);
      await refuse(editManifest(archive, (m) => (m.directories[0].path = "/abs")), /unsafe or invalid directory path/);
      for (const p of ["a/../b", "/a", "..", ".", "a//b", "a/", ""]) expect(isSafeRelativePath(p)).toBe(false);
      expect(isSafeRelativePath("ca/DefaultApplicationGroup/ca.key.pem")).toBe(true);
    });

    it("symlinks, hard links and devices in the tar", async () => {
      const tar = zlib.gunzipSync(archive);
      // Turn the header of data/audit.log into a symlink header (type '2') with a valid checksum.
      const at = tar.indexOf("data/audit.log\0");
      expect(at % 512).toBe(0);
      for (const [type, name] of [["2", "symbolic link"], ["1", "hard link"], ["3", "character device"]]) {
        const t = Buffer.from(tar);
        t[at + 156] = type.charCodeAt(0);
        let sum = 0;
        for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : t[at + i];
        t.write(`${sum.toString(8).padStart(6, "0")}\0 `, at + 148, "ascii");
        await refuse(zlib.gzipSync(t), new RegExp(`unexpected ${name} entry "data/audit.log"`));
      }
      // The same edit without fixing the checksum: a damaged header.
      const t = Buffer.from(tar);
      t[at + 156] = "2".charCodeAt(0);
      await refuse(zlib.gzipSync(t), /header checksum mismatch/);
    });

    it("more data than the limits allow: refused while decompressing, with the limit in the message", async () => {
      const small: ArchiveLimits = { maxTotalBytes: 64 * 1024, maxEntryBytes: 16 * 1024 };
      // One entry declaring 4 GiB: refused at its header, long before its data would be inflated.
      const header = writeTar([{ type: "file", path: "data/gds.db.json", mode: 0o600, mtime: NOW, data: Buffer.alloc(0) }]).subarray(0, 512);
      header.write("40000000000\0", 124, "ascii"); // 4 GiB in octal
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
      header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
      const bomb = zlib.gzipSync(Buffer.concat([header, Buffer.alloc(8 * 1024 ** 2)]));
      await refuse(bomb, /"data\/gds\.db\.json" declares 4096 MiB, more than the 512 MiB a file of a GDS backup may have: refused/);
      // Many small entries past the total: refused once the output passes the bound.
      const many: TarEntry[] = Array.from({ length: 20 }, (_, i) => ({ type: "file", path: `data/f${i}`, mode: 0o600, mtime: NOW, data: Buffer.alloc(8 * 1024) }));
      await refuse(zlib.gzipSync(writeTar(many)), /unpacks to more than 0\.1 MiB: refused/, small);
      await refuse(zlib.gzipSync(writeTar([{ type: "file", path: "data/x", mode: 0o600, mtime: NOW, data: Buffer.alloc(20 * 1024) }])), /declares 0 MiB|more than the 0 MiB|declares/, small);
      await refuse(writeTar(many), /larger than 0\.1 MiB/, small);
      // The real archive is well inside them.
      expect((await gunzipBounded(archive, small)).length).toBeGreaterThan(0);
    });

    it("a gds.lock, lock directories and temp files in the archive are verified but not restored", async () => {
      const withLock = rewrite(
        editManifest(archive, (m) => {
          m.files.push({ path: "gds.lock", mode: "0600", size: 4, sha256: sha256(Buffer.from("123\n")) });
          m.directories.push({ path: "ca/x.lock", mode: "0700" });
          m.files.push({ path: "ca/x.lock/held", mode: "0600", size: 0, sha256: sha256(Buffer.alloc(0)) });
        }),
        (e) => [
          ...e,
          { type: "file", path: "data/gds.lock", mode: 0o600, mtime: NOW, data: Buffer.from("123\n") },
          { type: "dir", path: "data/ca/x.lock", mode: 0o700, mtime: NOW },
          { type: "file", path: "data/ca/x.lock/held", mode: 0o600, mtime: NOW, data: Buffer.alloc(0) },
        ],
      );
      const verified = await verifyArchive(withLock);
      expect(verified.ignored).toEqual(["ca/x.lock/", "ca/x.lock/held", "gds.lock"]);
      const dest = tmp();
      await writeBackupInto(dest, verified);
      expect(fs.existsSync(path.join(dest, "gds.lock"))).toBe(false);
      expect(fs.existsSync(path.join(dest, "ca/x.lock"))).toBe(false);
      expect(fs.existsSync(path.join(dest, "gds.db.json"))).toBe(true);
    });
  });
});
