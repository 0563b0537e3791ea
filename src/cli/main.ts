import type { AdminCall, AdminSessionOptions } from "./admin-client.js";
import { runAdminCommand } from "./admin-commands.js";
import { parseCli, type CaImportCommand, type Env } from "./args.js";
import type { BackupCommand, RestoreCommand } from "./args.js";
import { CliError, errorMessage, ExitCode } from "./cli-error.js";
import { UNENCRYPTED_WARNING } from "./usage.js";

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Env;
}

/** What the CLI runs on; replaced in tests. Loaded lazily: `--help` must not import node-opcua. */
export interface CliDeps {
  withAdminSession<T>(opts: AdminSessionOptions, fn: (call: AdminCall) => Promise<T>): Promise<T>;
  startCommand(args: string[]): Promise<number>;
  /** `gds ca import` (offline); returns what to print on stdout. */
  caImport(cmd: CaImportCommand): Promise<string>;
  /** `gds backup` (offline); returns what to print on stdout. */
  backup?(cmd: BackupCommand): Promise<string>;
  /** `gds restore` (offline); returns what to print on stdout. */
  restore?(cmd: RestoreCommand): Promise<string>;
}

const defaultDeps: CliDeps = {
  withAdminSession: async (opts, fn) => (await import("./admin-client.js")).withAdminSession(opts, fn),
  startCommand: async (args) => (await import("./start-command.js")).startCommand(args),
  caImport: async (cmd) => (await import("./ca-import-command.js")).caImportCommand(cmd),
};

/** Optional in CliDeps (tests that do not care about them need not stub them). */
const defaultBackupDeps: Required<Pick<CliDeps, "backup" | "restore">> = {
  backup: async (cmd) => (await import("../backup/backup-command.js")).backupCommand(cmd),
  restore: async (cmd) => (await import("../backup/restore-command.js")).restoreCommand(cmd),
};

/** Runs `gds <argv>`; returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo, deps: CliDeps = defaultDeps): Promise<number> {
  try {
    const cmd = parseCli(argv, io.env);
    switch (cmd.kind) {
      case "help":
        io.stdout(cmd.text);
        return ExitCode.Ok;
      case "start":
        return await deps.startCommand(cmd.args);
      case "ca import":
        io.stdout(await deps.caImport(cmd));
        return ExitCode.Ok;
      case "backup":
        if (cmd.unencrypted) io.stderr(UNENCRYPTED_WARNING);
        io.stdout(await (deps.backup ?? defaultBackupDeps.backup)(cmd));
        return ExitCode.Ok;
      case "restore":
        if (cmd.unencrypted) io.stderr(UNENCRYPTED_WARNING);
        io.stdout(await (deps.restore ?? defaultBackupDeps.restore)(cmd));
        return ExitCode.Ok;
      default: {
        const { endpoint, user, password } = cmd.admin;
        const pkiDir = io.env.GDS_CLI_PKI_DIR || undefined;
        const output = await deps.withAdminSession({ endpoint, user, password, pkiDir }, (call) => runAdminCommand(cmd, call));
        io.stdout(output);
        return ExitCode.Ok;
      }
    }
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`gds: ${err.message}\n${err.usage ? `\n${err.usage}` : ""}`);
      return err.exitCode;
    }
    io.stderr(`gds: unexpected error: ${(err as { stack?: string } | null)?.stack ?? errorMessage(err)}\n`);
    return ExitCode.Failure;
  }
}
