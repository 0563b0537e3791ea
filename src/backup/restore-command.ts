import crypto from "node:crypto";
import fs from "node:fs";
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, unlink } from "node:fs/promises";
import path from "node:path";
import type { RestoreCommand } from "../cli/args.js";
import { CliError, errorMessage, ExitCode } from "../cli/cli-error.js";
import { formatJson } from "../cli/format.js";
import { LOCK_FILE } from "../data-dir-lock.js";
import { fsyncDir, makeDirs } from "../durable-fs.js";
import { ArchiveError, DATA_DIR_MARKERS, DEFAULT_LIMITS, gdsVersion, looksLikeDataDir, RESTORED_DIR_MODE, verifyArchive, writeBackupInto, type VerifiedBackup } from "./archive.js";
import { decryptArchive, isEncryptedArchive } from "./encryption.js";

/** The largest archive file restore reads: the uncompressed bound plus room for gzip and the envelope. */
const MAX_ARCHIVE_FILE_BYTES = DEFAULT_LIMITS.maxTotalBytes + 16 * 1024 ** 2;
import { lockDataDir, refuseIfServerRuns } from "./data-dir-guard.js";

/**
 * `gds restore FILE`: an offline command.
 *
 * 1. Refuses while a server holds the target data dir (exit 2).
 * 2. Reads the archive, decrypts it and checks its GCM tag (a wrong passphrase or any changed byte:
 *    exit 1), then verifies ALL of it (size bounds while gunzipping, manifest, every size and
 *    sha256, paths, entry types); a refused archive is refused before anything is written.
 * 3. The target must be empty or missing; a non-empty one is refused (exit 6) unless --force, which
 *    moves it aside as a whole to `<dir>.before-restore-<time>` (nothing is deleted).
 * 4. Under the data dir's lock, writes everything into `<dir>/.restore.staging-*` (restore's own
 *    modes: folders 0700, files 0600; every file and directory fsync'd), then renames each
 *    top-level entry into place. Lock and temp files in the archive are not restored.
 */
export async function restoreCommand(cmd: RestoreCommand, now: () => Date = () => new Date()): Promise<string> {
  const target = cmd.dataDir;
  let bytes: Buffer;
  try {
    const size = (await stat(cmd.archive)).size;
    // Encryption and gzip add little; a larger file cannot hold a backup restore would accept.
    if (size > MAX_ARCHIVE_FILE_BYTES) throw new CliError(`refused ${cmd.archive}: ${size} bytes, larger than any GDS backup restore accepts; nothing was written`, ExitCode.Failure);
    bytes = await readFile(cmd.archive);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot read ${cmd.archive}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, ExitCode.Usage);
  }
  const encrypted = isEncryptedArchive(bytes);
  if (encrypted && cmd.unencrypted) throw new CliError(`${cmd.archive} is encrypted: restore it with --passphrase-env VAR, not --unencrypted`, ExitCode.Usage);
  if (!encrypted && !cmd.unencrypted) {
    throw new CliError(
      `${cmd.archive} is not an encrypted GDS backup: a plain archive (gds backup --unencrypted) restores only with --unencrypted, instead of --passphrase-env; nothing was written`,
      ExitCode.Usage,
    );
  }
  const targetStat = statOrUndefined(target);
  if (targetStat && !targetStat.isDirectory()) throw new CliError(`${target} exists and is not a directory`, ExitCode.Usage);
  if (targetStat) refuseIfServerRuns(target);

  let backup: VerifiedBackup;
  try {
    // Decrypted and authenticated as a whole before anything is unpacked or written.
    const plain = encrypted ? await decryptArchive(bytes, cmd.passphrase!) : bytes;
    backup = await verifyArchive(plain);
  } catch (err) {
    if (err instanceof ArchiveError) throw new CliError(`refused ${cmd.archive}: ${err.message}; nothing was written`, ExitCode.Failure);
    throw err;
  }
  if (!looksLikeDataDir(backup.files.map((f) => f.path))) {
    throw new CliError(`refused ${cmd.archive}: it holds no GDS data dir (neither ${DATA_DIR_MARKERS}); nothing was written`, ExitCode.Usage);
  }

  let movedAside: string | undefined;
  if (targetStat) {
    const existing = (await readdir(target)).filter((n) => n !== LOCK_FILE);
    if (existing.length > 0) {
      if (!cmd.force) {
        throw new CliError(
          `${target} is not empty (${existing.length} entries); restore into an empty or new dir, or use --force to move the current contents aside to ${target}.before-restore-<time>`,
          ExitCode.AlreadyExists,
        );
      }
      movedAside = await moveAside(target, now());
    }
  }

  try {
    makeDirs(target, RESTORED_DIR_MODE);
    fs.chmodSync(target, RESTORED_DIR_MODE);
  } catch (err) {
    throw new CliError(`cannot create ${target}: ${errorMessage(err)}`, ExitCode.Usage);
  }
  const release = lockDataDir(target);
  try {
    const others = (await readdir(target)).filter((n) => n !== LOCK_FILE);
    if (others.length > 0) throw new CliError(`${target} is no longer empty (${others.join(", ")}): something else writes there; nothing was restored`, ExitCode.Failure);
    await restoreInto(target, backup);
  } finally {
    release();
  }

  const m = backup.manifest;
  const current = gdsVersion();
  if (cmd.json) {
    return formatJson({
      restored: cmd.archive,
      dataDir: target,
      createdAt: m.createdAt,
      gdsVersion: m.gdsVersion,
      formatVersion: m.formatVersion,
      files: backup.files.length,
      directories: backup.directories.length,
      dataBytes: backup.totalBytes,
      encrypted,
      ignored: backup.ignored,
      ...(movedAside ? { movedAside } : {}),
    });
  }
  return (
    `restored ${cmd.archive} into ${target}\n` +
    `  backup of: ${m.dataDir}, taken ${m.createdAt} by opcua-gds ${m.gdsVersion}${m.gdsVersion !== current ? ` (this is ${current})` : ""}\n` +
    `  files:     ${backup.files.length} (${backup.totalBytes} bytes) in ${backup.directories.length} directories, every sha256 checked${encrypted ? ", decrypted and authenticated" : ""}\n` +
    `  modes:     folders 0700, files 0600\n` +
    (backup.ignored.length > 0 ? `  ignored:   ${backup.ignored.join(", ")} (lock and temp files in the archive, not restored)\n` : "") +
    (movedAside ? `  the previous contents of ${target} were moved to ${movedAside}\n` : "") +
    `Start the server on it (gds start with GDS_DATA_DIR=${target}); it serves the CA, applications and users of the backup.\n`
  );
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CliError(`cannot read ${p}: ${errorMessage(err)}`, ExitCode.Usage);
  }
}

/** Renames the whole data dir to `<dir>.before-restore-<time>` under its lock; returns the new name. */
async function moveAside(dir: string, time: Date): Promise<string> {
  const stamp = time.toISOString().replace(/[:.]/g, "-");
  let aside = `${dir}.before-restore-${stamp}`;
  if (fs.existsSync(aside)) aside = `${aside}-${crypto.randomBytes(3).toString("hex")}`;
  const release = lockDataDir(dir);
  try {
    await rename(dir, aside);
  } catch (err) {
    release();
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(
      `cannot move ${dir} aside to ${aside}: ${code ?? errorMessage(err)}${code === "EBUSY" || code === "EXDEV" ? " (a mount point?): empty it yourself, or restore into another dir" : ""}; nothing was restored`,
      ExitCode.Failure,
    );
  }
  // Our lock file went along with the directory: drop it there, so the old dir is not "in use".
  await unlink(path.join(aside, LOCK_FILE)).catch(() => undefined);
  await fsyncDir(path.dirname(dir));
  await mkdir(dir, { mode: 0o700 });
  return aside;
}

/** Writes into a staging dir inside `target`, then renames each top-level entry into place. */
async function restoreInto(target: string, backup: VerifiedBackup): Promise<void> {
  const staging = path.join(target, `.restore.staging-${process.pid}-${crypto.randomBytes(4).toString("hex")}`);
  await mkdir(staging, { mode: 0o700 });
  try {
    await writeBackupInto(staging, backup);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw new CliError(`cannot write into ${target}: ${errorMessage(err)}; nothing was restored`, ExitCode.Failure);
  }
  try {
    for (const name of await readdir(staging)) await rename(path.join(staging, name), path.join(target, name));
    await rmdir(staging);
    await fsyncDir(target);
  } catch (err) {
    throw new CliError(`restore into ${target} failed half-way: ${errorMessage(err)}; empty ${target} and run the restore again`, ExitCode.Failure);
  }
}
