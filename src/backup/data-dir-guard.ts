import { acquireDataDirLock, lockOwner } from "../data-dir-lock.js";
import { CliError, errorMessage, ExitCode } from "../cli/cli-error.js";

/** The one line an offline command prints when a server holds the data dir (exit 2, as `ca import`). */
export function serverHoldsDataDir(owner: number, dataDir: string): CliError {
  return new CliError(`the server (pid ${owner}) holds ${dataDir}; stop it first`, ExitCode.Usage);
}

/** Refuses (exit 2) when a live server holds the data dir. */
export function refuseIfServerRuns(dataDir: string): void {
  const owner = lockOwner(dataDir);
  if (owner !== undefined && owner !== process.pid) throw serverHoldsDataDir(owner, dataDir);
}

/** Takes the data dir's lock so a server cannot start while we work; returns its release. */
export function lockDataDir(dataDir: string): () => void {
  refuseIfServerRuns(dataDir);
  try {
    return acquireDataDirLock(dataDir);
  } catch (err) {
    const now = lockOwner(dataDir); // a server started between the check and the lock
    if (now !== undefined && now !== process.pid) throw serverHoldsDataDir(now, dataDir);
    throw new CliError(`cannot lock ${dataDir}: ${errorMessage(err)}`, ExitCode.Failure);
  }
}
