import fs from "node:fs";
import os from "node:os";
import { FileAuditLog } from "../audit/file-audit-log.js";
import { importCa, type ImportCaResult } from "../ca/ca-import.js";
import { systemClock } from "../clock.js";
import { createLogger } from "../log.js";
import { acquireDataDirLock, lockOwner } from "../data-dir-lock.js";
import { makeDirs } from "../durable-fs.js";
import type { CaImportCommand } from "./args.js";
import { CliError, errorMessage, ExitCode } from "./cli-error.js";
import { formatJson } from "./format.js";

/**
 * `gds ca import`: an offline command. It holds the data dir's lock while it writes, so a server
 * cannot start half-way through, and refuses while a server holds the data dir (the design's rule
 * for offline commands: the store and the CA files belong to the running server).
 */
export async function caImportCommand(cmd: CaImportCommand): Promise<string> {
  for (const [flag, file] of [["--cert", cmd.certFile], ["--key", cmd.keyFile]] as const) {
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (err) {
      throw new CliError(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, ExitCode.Usage);
    }
  }
  try {
    makeDirs(cmd.dataDir, 0o700);
  } catch (err) {
    throw new CliError(`cannot create the data dir ${cmd.dataDir}: ${errorMessage(err)}`, ExitCode.Usage);
  }
  const release = lockDataDir(cmd.dataDir);
  let result: ImportCaResult;
  try {
    result = await importCa({ dataDir: cmd.dataDir, group: cmd.group, certFile: cmd.certFile, keyFile: cmd.keyFile, force: cmd.force });
  } catch (err) {
    release();
    throw importError(err, cmd);
  }
  try {
    // Still under the lock: the audit log belongs to the data dir like the CA does.
    const audit = await FileAuditLog.open({ dataDir: cmd.dataDir, clock: systemClock, log: createLogger("error") });
    await audit.record({
      event: "CaImported",
      actor: `cli:${os.userInfo().username}`,
      outcome: "Good",
      group: result.group,
      detail: `${result.subject}, ${result.keyAlgorithm}, thumbprint ${result.thumbprint}, by gds ca import${result.replacedTo ? `; previous CA moved to ${result.replacedTo}` : ""}`,
    });
    await audit.close();
  } finally {
    release();
  }
  const notAfter = result.notAfter.toISOString();
  if (cmd.json) {
    return formatJson({
      imported: result.group,
      dataDir: cmd.dataDir,
      subject: result.subject,
      notBefore: result.notBefore.toISOString(),
      notAfter,
      keyAlgorithm: result.keyAlgorithm,
      thumbprint: result.thumbprint,
      chainLength: result.chainLength,
      ...(result.replacedTo ? { replacedTo: result.replacedTo } : {}),
      restartRequired: true,
    });
  }
  return (
    `imported the CA of ${result.group} into ${cmd.dataDir}\n` +
    `  subject:    ${result.subject}\n` +
    `  notAfter:   ${notAfter}\n` +
    `  key:        ${result.keyAlgorithm}\n` +
    `  thumbprint: ${result.thumbprint}\n` +
    (result.chainLength > 0 ? `  chain:      ${result.chainLength} issuer certificate(s)\n` : "") +
    (result.replacedTo ? `  the previous CA was moved to ${result.replacedTo}\n` : "") +
    "The server uses it from its next start: (re)start the server on this data dir to pick it up.\n"
  );
}

function refusal(owner: number, dataDir: string): CliError {
  return new CliError(`the server (pid ${owner}) holds ${dataDir}; stop it first`, ExitCode.Usage);
}

function lockDataDir(dataDir: string): () => void {
  const owner = lockOwner(dataDir);
  if (owner !== undefined && owner !== process.pid) throw refusal(owner, dataDir);
  try {
    return acquireDataDirLock(dataDir);
  } catch (err) {
    const now = lockOwner(dataDir); // a server started between the check and the lock
    if (now !== undefined && now !== process.pid) throw refusal(now, dataDir);
    throw new CliError(`cannot lock ${dataDir}: ${errorMessage(err)}`, ExitCode.Failure);
  }
}

/** importCa's refusals keep their message; an existing CA (without --force) is exit 6. */
function importError(err: unknown, cmd: CaImportCommand): CliError {
  if (err instanceof CliError) return err;
  const status = (err as { statusName?: unknown } | null)?.statusName;
  const message = errorMessage(err);
  if (status === "BadEntryExists") {
    return new CliError(`already exists: ${message}${/--force/.test(message) ? "" : "; use --force to replace it"}`, ExitCode.AlreadyExists);
  }
  if (typeof status === "string") return new CliError(`cannot import the CA of ${cmd.group}: ${status}: ${message}`, ExitCode.Failure);
  return new CliError(`cannot import the CA of ${cmd.group}: ${message}`, ExitCode.Failure);
}
