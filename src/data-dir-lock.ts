import fs from "node:fs";
import path from "node:path";
import { ConfigError } from "./errors.js";

export const LOCK_FILE = "gds.lock";

/**
 * One server per data dir: the lock file holds the owner's pid. A lock left by a process that no
 * longer runs (kill -9) is taken over. Offline commands (backup, restore) check the same file.
 */
export function acquireDataDirLock(dataDir: string): () => void {
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, "wx", 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      return () => {
        try {
          if (readPid(file) === process.pid) fs.unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new ConfigError("GDS_DATA_DIR", `cannot create ${file}: ${(err as Error).message}`);
      const owner = lockOwner(dataDir);
      if (owner !== undefined) throw new ConfigError("GDS_DATA_DIR", `data dir ${dataDir} is in use by a running server (pid ${owner})`);
      fs.rmSync(file, { force: true }); // stale
    }
  }
  throw new ConfigError("GDS_DATA_DIR", `cannot lock ${file}`);
}

/** The pid of a live process holding the data dir, or undefined. */
export function lockOwner(dataDir: string): number | undefined {
  const pid = readPid(path.join(dataDir, LOCK_FILE));
  if (pid === undefined || pid === process.pid) return pid === process.pid ? pid : undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM" ? pid : undefined;
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
