import crypto, { X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { ExtensionObject, NodeId } from "node-opcua";
import { readTar, writeTar, type TarEntry } from "../../src/backup/tar.js";
import { decryptArchive, encryptArchive, MIN_SCRYPT } from "../../src/backup/encryption.js";
import { connect, tempDir, type TestSession } from "./helpers/gds-harness.js";
import { startGdsProcess, type GdsProcess } from "./helpers/gds-process.js";
import { getCertificates, issueNewKeyPair, statusName } from "./helpers/certificate-client.js";
import { findApplications, getApplication, registerOk, sampleServer } from "./helpers/directory-client.js";
import { assertCliBuilt, gdsCli } from "./helpers/gds-cli.js";

const USER = "backup-op";
const USER_PW = "backup-op-password-1";
const CA_CERT = "ca/DefaultApplicationGroup/ca.cert.der";
/** The backup passphrase, passed as an operator would: in an environment variable. */
const PASSPHRASE = "integration backup passphrase 1";
const PASS = ["--passphrase-env", "BK_PASS"];
const PASS_ENV = { BK_PASS: PASSPHRASE };
/** 2048-bit CAs: a 3072-bit key takes seconds to make. */
const SERVER_ENV = { GDS_CA_KEY_SIZE: "2048", GDS_LOG_LEVEL: "info" };

/** Every file and directory under `dir` with its mode and content hash: "nothing changed" is equality. */
function snapshot(dir: string, skip: (rel: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      const st = fs.lstatSync(path.join(dir, r));
      const hash = st.isFile() ? crypto.createHash("sha256").update(fs.readFileSync(path.join(dir, r))).digest("hex") : "dir";
      out[r] = `${(st.mode & 0o777).toString(8)} ${hash}`;
      if (st.isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

async function stop(p: GdsProcess): Promise<void> {
  if (p.child.exitCode !== null) return;
  p.child.kill("SIGTERM");
  const code = await p.exited;
  expect(code).toBe(0);
}

function thumbprint(der: Buffer): string {
  return crypto.createHash("sha1").update(der).digest("hex");
}

describe("gds backup and restore with a real server", () => {
  const dirs: string[] = [];
  const servers: GdsProcess[] = [];
  let cliPki: string;
  const gds = gdsCli(() => cliPki);
  const dir = (prefix: string) => {
    const d = tempDir(prefix);
    dirs.push(d);
    return d;
  };

  // What the first server held.
  let dataDir: string;
  let archive: string;
  let appIds: NodeId[];
  let appUris: string[];
  let issued: Buffer;
  let caDer: Buffer;

  beforeAll(async () => {
    assertCliBuilt();
    cliPki = dir("gds-bk-cli-pki-");
    dataDir = dir("gds-bk-data-");
    archive = path.join(dir("gds-bk-out-"), "gds-backup.gdsbak");

    const server = await startGdsProcess({ dataDir, env: SERVER_ENV });
    servers.push(server);
    const admin = await connect(server.endpointUrl);
    try {
      const apps = [sampleServer(), sampleServer()];
      appUris = apps.map((a) => a.applicationUri);
      appIds = [];
      for (const a of apps) appIds.push(await registerOk(admin, a));
      const cert = await issueNewKeyPair(admin, appIds[0]);
      issued = cert.certificate;
      caDer = cert.issuers[0];
      const add = await gds(["users", "add", USER, "--role", "Observer", "--password-env", "OP_PW", "--endpoint", server.endpointUrl], { OP_PW: USER_PW });
      expect(add).toMatchObject({ code: 0 });

      // While the server runs, backup is refused and writes nothing.
      const refused = await gds(["backup", "--out", archive, "--data-dir", dataDir, ...PASS], PASS_ENV);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(`gds: the server (pid ${server.child.pid}) holds ${dataDir}; stop it first\n`);
      expect(fs.existsSync(archive)).toBe(false);
    } finally {
      await admin.close();
    }
    await stop(server);
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) if (s.child.exitCode === null) s.child.kill("SIGKILL");
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("backs up the stopped server's data dir: one encrypted 0600 archive with every file listed in its manifest", async () => {
    const before = snapshot(dataDir);
    const r = await gds(["backup", "--out", archive, "--data-dir", dataDir, "--json", ...PASS], PASS_ENV);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const out = JSON.parse(r.stdout) as { files: number; archive: string; containsSecrets: boolean };
    expect(out).toMatchObject({ archive, containsSecrets: true, encrypted: true });
    expect(fs.statSync(archive).mode & 0o777).toBe(0o600);
    expect(snapshot(dataDir)).toEqual(before); // backup reads only (and its lock is gone)
    expect(fs.readFileSync(archive).includes("PRIVATE KEY")).toBe(false);

    const entries = readTar(zlib.gunzipSync(await decryptArchive(fs.readFileSync(archive), PASSPHRASE)));
    const manifest = JSON.parse((entries[0] as Extract<TarEntry, { type: "file" }>).data.toString("utf8")) as { files: { path: string; mode: string }[] };
    const listed = manifest.files.map((f) => f.path);
    // Every file of the data dir is in the backup: the store, the secrets, the CA, both PKIs, the audit log.
    const onDisk = Object.entries(before).filter(([, v]) => !v.endsWith(" dir")).map(([k]) => k).sort();
    expect(listed.sort()).toEqual(onDisk);
    for (const must of ["gds.db.json", "secrets.key", "audit.log", CA_CERT, "ca/DefaultApplicationGroup/ca.key.pem", "server-pki/own/private/private_key.pem", "server-pki/own/certs/certificate.pem"]) {
      expect(listed).toContain(must);
    }
    expect(manifest.files.find((f) => f.path === "ca/DefaultApplicationGroup/ca.key.pem")!.mode).toBe("0600");
    expect(out.files).toBe(listed.length);
  });

  describe("a damaged archive is refused before anything is written", () => {
    /** Decrypts the real backup, edits the gzip'd tar, encrypts it again with the same passphrase. */
    const damaged = async (name: string, edit: (bytes: Buffer) => Buffer): Promise<string> => {
      const file = path.join(path.dirname(archive), name);
      const plain = await decryptArchive(fs.readFileSync(archive), PASSPHRASE);
      fs.writeFileSync(file, await encryptArchive(edit(plain), PASSPHRASE, MIN_SCRYPT), { mode: 0o600 });
      return file;
    };
    const retar = (bytes: Buffer, edit: (entries: TarEntry[]) => TarEntry[]) => zlib.gzipSync(writeTar(edit(readTar(zlib.gunzipSync(bytes)))));

    const cases: [string, () => Promise<string>, RegExp][] = [
      [
        "a flipped byte in the encrypted file",
        async () => {
          const file = path.join(path.dirname(archive), "flipped-ciphertext.gdsbak");
          const bytes = fs.readFileSync(archive);
          bytes[Math.floor(bytes.length / 2)] ^= 0x01;
          fs.writeFileSync(file, bytes, { mode: 0o600 });
          return file;
        },
        /cannot decrypt: wrong passphrase, or the archive was changed or damaged \(authentication failed\)/,
      ],
      [
        "a flipped byte inside the CA key's data",
        () =>
          damaged("flipped.tar.gz", (b) => {
            const tar = zlib.gunzipSync(b);
            const at = tar.indexOf("-----BEGIN PRIVATE KEY-----");
            tar[at + 40] ^= 0x01;
            return zlib.gzipSync(tar);
          }),
        /ca\.key\.pem: sha256 differs from the manifest/,
      ],
      ["a truncated archive", () => damaged("truncated.tar.gz", (b) => b.subarray(0, Math.floor(b.length * 0.7))), /damaged or truncated/],
      [
        "a manifest whose checksum does not match the file",
        () =>
          damaged("manifest.tar.gz", (b) =>
            retar(b, (entries) => {
              const first = entries[0] as Extract<TarEntry, { type: "file" }>;
              const m = JSON.parse(first.data.toString("utf8")) as { files: { path: string; sha256: string }[] };
              m.files.find((f) => f.path === "gds.db.json")!.sha256 = "ab".repeat(32);
              return [{ ...first, data: Buffer.from(JSON.stringify(m)) }, ...entries.slice(1)];
            }),
          ),
        /gds\.db\.json: sha256 differs from the manifest/,
      ],
    ];

    it.each(cases)("%s: exit 1, one line, the target dir unchanged (missing, empty, or non-empty with --force)", async (_name, make, message) => {
      const file = await make();
      const missing = path.join(dir("gds-bk-t-"), "missing");
      const empty = dir("gds-bk-empty-");
      const full = dir("gds-bk-full-");
      fs.writeFileSync(path.join(full, "gds.db.json"), "{}", { mode: 0o600 });
      for (const [target, extra] of [[missing, []], [empty, []], [full, ["--force"]]] as const) {
        const before = snapshot(target);
        const r = await gds(["restore", file, "--data-dir", target, ...extra, ...PASS], PASS_ENV);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).toMatch(/nothing was written\n$/);
        expect(r.stderr.split("\n")).toHaveLength(2); // one line
        expect(snapshot(target)).toEqual(before);
        expect(fs.existsSync(target)).toBe(target !== missing);
        expect(fs.readdirSync(path.dirname(target)).filter((n) => n.includes("before-restore"))).toEqual([]);
      }
    });
  });

  it("restores into an empty data dir; a server on it serves the same CA, applications, certificates and users; restore refused while it runs", async () => {
    const target = dir("gds-bk-restored-");
    const r = await gds(["restore", archive, "--data-dir", target, ...PASS], PASS_ENV);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/every sha256 checked, decrypted and authenticated/);
    const original = snapshot(dataDir);
    const restored = snapshot(target);
    // Same files, same content; modes are restore's own: every folder 0700, every file 0600.
    const expected = Object.fromEntries(Object.entries(original).map(([k, v]) => [k, v.endsWith(" dir") ? "700 dir" : v.replace(/^\d+ /, "600 ")]));
    expect(restored).toEqual(expected);
    expect(restored["ca/DefaultApplicationGroup/ca.key.pem"]).toMatch(/^600 /);
    expect(restored["ca"]).toBe("700 dir");
    expect(fs.statSync(target).mode & 0o777).toBe(0o700);

    const server = await startGdsProcess({ dataDir: target, env: SERVER_ENV });
    servers.push(server);
    const admin = await connect(server.endpointUrl);
    try {
      // Same CA: the CA certificate on disk and the issuer of a new certificate are the old one.
      expect(thumbprint(fs.readFileSync(path.join(target, CA_CERT)))).toBe(thumbprint(caDer));
      const fresh = await issueNewKeyPair(admin, appIds[1]);
      expect(thumbprint(fresh.issuers[0])).toBe(thumbprint(caDer));
      const ca = new X509Certificate(fresh.issuers[0]);
      expect(new X509Certificate(issued).verify(ca.publicKey)).toBe(true);
      expect(new X509Certificate(fresh.certificate).verify(new X509Certificate(caDer).publicKey)).toBe(true);

      // Same applications.
      for (const [i, id] of appIds.entries()) {
        const found = await findApplications(admin, appUris[i]);
        expect(statusName(found)).toBe("Good");
        const records = found.outputs[0].value as ExtensionObject[];
        expect(records).toHaveLength(1);
        expect((records[0] as unknown as { applicationId: NodeId }).applicationId.toString()).toBe(id.toString());
        expect(statusName(await getApplication(admin, id))).toBe("Good");
      }
      // The certificate issued before the backup is still the application's.
      const certs = await getCertificates(admin, appIds[0]);
      expect(statusName(certs)).toBe("Good");
      const ders = (certs.outputs[1].value as Buffer[]).map((b) => Buffer.from(b).toString("hex"));
      expect(ders).toContain(issued.toString("hex"));

      // Same users: the user added before the backup logs in; a wrong password does not.
      const user = await connect(server.endpointUrl, { user: { userName: USER, password: USER_PW } });
      await user.close();
      await expect(connect(server.endpointUrl, { user: { userName: USER, password: "wrong-password-1" } })).rejects.toThrow();

      // Restore onto the data dir of the running server: refused (exit 2), nothing changed.
      // The running server's list of client certificates it has seen (server-pki/seen) is
      // written on its own timer after the connections above: not restore's doing.
      const notSeenList = (rel: string) => rel.startsWith("server-pki/seen");
      const before = snapshot(target, notSeenList);
      const refused = await gds(["restore", archive, "--data-dir", target, "--force", ...PASS], PASS_ENV);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(`gds: the server (pid ${server.child.pid}) holds ${target}; stop it first\n`);
      expect(snapshot(target, notSeenList)).toEqual(before);
    } finally {
      await admin.close();
    }
    await stop(server);
  }, 120_000);

  it("after kill -9: the stale lock is taken over, and the journal's commits are in the backup and back after restore", async () => {
    const crashedDir = dir("gds-bk-crashed-");
    const server = await startGdsProcess({ dataDir: crashedDir, env: SERVER_ENV });
    servers.push(server);
    const admin = await connect(server.endpointUrl);
    let appId: NodeId;
    const app = sampleServer();
    try {
      appId = await registerOk(admin, app);
    } finally {
      await admin.close();
    }
    server.child.kill("SIGKILL");
    await server.exited;
    expect(fs.readFileSync(path.join(crashedDir, "gds.lock"), "utf8").trim()).toBe(String(server.child.pid));
    expect(fs.statSync(path.join(crashedDir, "gds.db.json.journal")).size).toBeGreaterThan(0); // not compacted

    const file = path.join(path.dirname(archive), "crashed.gdsbak");
    const b = await gds(["backup", "--out", file, "--data-dir", crashedDir, ...PASS], PASS_ENV);
    expect(b).toMatchObject({ code: 0, stderr: "" });
    const target = path.join(dir("gds-bk-crashed-restore-"), "data");
    expect((await gds(["restore", file, "--data-dir", target, ...PASS], PASS_ENV)).code).toBe(0);
    expect(fs.existsSync(path.join(target, "gds.lock"))).toBe(false);

    const restored = await startGdsProcess({ dataDir: target, env: SERVER_ENV });
    servers.push(restored);
    const s = await connect(restored.endpointUrl);
    try {
      const found = await findApplications(s, app.applicationUri);
      const records = (found.outputs[0].value as ExtensionObject[] | null) ?? [];
      expect(records.map((r) => (r as unknown as { applicationId: NodeId }).applicationId.toString())).toEqual([appId.toString()]);
    } finally {
      await s.close();
    }
    await stop(restored);
  }, 120_000);
});
