import crypto from "node:crypto";
import fs from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { BackupCommand } from "../cli/args.js";
import { CliError, errorMessage, ExitCode } from "../cli/cli-error.js";
import { formatJson } from "../cli/format.js";
import { fsyncDir, writeFully } from "../durable-fs.js";
import { BackupError, buildArchive, DATA_DIR_MARKERS, gdsVersion, looksLikeDataDir, readDataDir, sha256 } from "./archive.js";
import { lockDataDir } from "./data-dir-guard.js";
import { DEFAULT_SCRYPT, encryptArchive } from "./encryption.js";

export const ARCHIVE_MODE = 0o600;

/**
 * `gds backup --out FILE --passphrase-env VAR`: an offline command. Holds the data dir's lock while
 * it reads (a server cannot start meanwhile, and refuses while one runs), encrypts the gzip'd tar
 * with the passphrase (encryption.ts; `--unencrypted` leaves it plain), then writes it atomically:
 * a temp file beside FILE, mode 0600, fsync, rename, fsync of the directory. FILE holds the CA
 * private keys and secrets.key.
 */
export async function backupCommand(cmd: BackupCommand, now: () => Date = () => new Date()): Promise<string> {
  let st: fs.Stats;
  try {
    st = fs.statSync(cmd.dataDir);
  } catch (err) {
    throw new CliError(`no data dir at ${cmd.dataDir}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, ExitCode.Usage);
  }
  if (!st.isDirectory()) throw new CliError(`${cmd.dataDir} is not a directory`, ExitCode.Usage);
  const realData = fs.realpathSync(cmd.dataDir);
  const outDir = path.dirname(cmd.out);
  let realOutDir: string;
  try {
    realOutDir = fs.realpathSync(outDir);
  } catch (err) {
    throw new CliError(`cannot write --out ${cmd.out}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)} (${outDir})`, ExitCode.Usage);
  }
  if (realOutDir === realData || realOutDir.startsWith(realData + path.sep)) {
    throw new CliError(`--out ${cmd.out} is inside the data dir ${cmd.dataDir}: write the backup somewhere else`, ExitCode.Usage);
  }
  if (fs.existsSync(cmd.out) && !fs.statSync(cmd.out).isFile()) throw new CliError(`--out ${cmd.out} exists and is not a file`, ExitCode.Usage);

  const release = lockDataDir(cmd.dataDir);
  let archive: Buffer;
  let contents;
  try {
    contents = await readDataDir(cmd.dataDir, { now: now(), gdsVersion: gdsVersion() });
    if (contents.files.length === 0) throw new CliError(`the data dir ${cmd.dataDir} holds no files: nothing to back up`, ExitCode.Usage);
    if (!looksLikeDataDir(contents.files.map((f) => f.path))) {
      throw new CliError(`${cmd.dataDir} is not a GDS data dir: it holds neither ${DATA_DIR_MARKERS}; check --data-dir / GDS_DATA_DIR. Nothing was written`, ExitCode.Usage);
    }
    archive = buildArchive(contents);
  } catch (err) {
    if (err instanceof CliError) throw err;
    if (err instanceof BackupError) throw new CliError(`cannot back up ${cmd.dataDir}: ${err.message}`, ExitCode.Failure);
    throw new CliError(`cannot back up ${cmd.dataDir}: ${errorMessage(err)}`, ExitCode.Failure);
  } finally {
    release();
  }

  // The data is in memory: the lock is released before the (deliberately slow) key derivation.
  if (!cmd.unencrypted) archive = await encryptArchive(archive, cmd.passphrase!);
  try {
    await writeAtomically(cmd.out, archive, ARCHIVE_MODE);
  } catch (err) {
    throw new CliError(`cannot write ${cmd.out}: ${errorMessage(err)}`, ExitCode.Failure);
  }

  const { manifest } = contents;
  const archiveSha256 = sha256(archive);
  const dataBytes = manifest.files.reduce((n, f) => n + f.size, 0);
  if (cmd.json) {
    return formatJson({
      archive: cmd.out,
      dataDir: cmd.dataDir,
      createdAt: manifest.createdAt,
      gdsVersion: manifest.gdsVersion,
      formatVersion: manifest.formatVersion,
      files: manifest.files.length,
      directories: manifest.directories.length,
      dataBytes,
      archiveBytes: archive.length,
      archiveSha256,
      mode: "0600",
      excluded: manifest.excluded,
      containsSecrets: true,
      encrypted: !cmd.unencrypted,
      ...(cmd.unencrypted ? {} : { encryption: { cipher: "AES-256-GCM", kdf: "scrypt", N: 2 ** DEFAULT_SCRYPT.logN, r: DEFAULT_SCRYPT.r, p: DEFAULT_SCRYPT.p } }),
    });
  }
  return (
    `backed up ${cmd.dataDir} to ${cmd.out}\n` +
    `  files:    ${manifest.files.length} (${dataBytes} bytes) in ${manifest.directories.length} directories\n` +
    `  archive:  ${archive.length} bytes, sha256 ${archiveSha256}\n` +
    (manifest.excluded.length > 0 ? `  left out: ${manifest.excluded.join(", ")} (lock and temp files)\n` : "") +
    (cmd.unencrypted
      ? "The archive is NOT encrypted: it holds the CA private keys and secrets.key in the clear (mode 0600).\n"
      : `  encrypted: AES-256-GCM, key from the passphrase by scrypt (N=2^${DEFAULT_SCRYPT.logN}, r=${DEFAULT_SCRYPT.r}, p=${DEFAULT_SCRYPT.p})\n` +
        "The archive holds the CA private keys: keep the passphrase apart from it; without the passphrase it cannot be restored.\n")
  );
}

/** Temp file beside `file` (mode `mode`), fsync, rename over `file`, fsync the directory. */
async function writeAtomically(file: string, data: Buffer, mode: number): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${crypto.randomBytes(4).toString("hex")}`);
  const fh = await open(tmp, "wx", mode);
  let renamed = false;
  try {
    await fh.chmod(mode);
    await writeFully(fh, data);
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
    renamed = true;
    await fsyncDir(dir);
  } finally {
    await fh.close().catch(() => undefined);
    if (!renamed) await rm(tmp, { force: true });
  }
}
