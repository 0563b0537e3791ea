import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { CliError, ExitCode } from "./cli-error.js";

export const PINS_FILE = "known-servers.json";

/**
 * Trust on first use, per endpoint, as ssh's known_hosts: the CLI sends the admin password only
 * to a server whose certificate is the one it saw the first time it talked to that endpoint.
 * (Accepting any unknown server certificate, as the certificate manager alone would, hands the
 * password to whoever answers on that address.)
 */
export function checkServerPin(pkiDir: string, endpoint: string, serverCertificateDer: Buffer, warn: (line: string) => void): void {
  const file = path.join(pkiDir, PINS_FILE);
  const key = endpointKey(endpoint);
  const thumbprint = crypto.createHash("sha256").update(serverCertificateDer).digest("hex");
  let pins: Record<string, string> = {};
  try {
    pins = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, string>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new CliError(`cannot read ${file}: ${(err as Error).message}`, ExitCode.Failure);
    }
  }
  const pinned = pins[key];
  if (pinned === thumbprint) return;
  if (pinned !== undefined) {
    throw new CliError(
      `the server certificate of ${endpoint} has changed (known sha256 ${pinned}, now ${thumbprint}); ` +
        `if the server was really re-keyed, delete the entry "${key}" from ${file} and try again`,
      ExitCode.CannotConnect,
    );
  }
  pins[key] = thumbprint;
  fs.mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(pins, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
  warn(`gds: trusting the server certificate of ${endpoint} on first use (sha256 ${thumbprint}), recorded in ${file}\n`);
}

function endpointKey(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.hostname.toLowerCase()}:${u.port || "4840"}`;
  } catch {
    return endpoint;
  }
}
