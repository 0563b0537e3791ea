import { parseArgs, type ParseArgsConfig } from "node:util";
import { findRole, ROLES } from "../users/roles.js";
import { CliError, errorMessage, ExitCode } from "./cli-error.js";
import { APPS_USAGE, LEAF_USAGE, MAIN_USAGE, USERS_USAGE } from "./usage.js";

/** Connection and output settings shared by every admin command. */
export interface AdminOptions {
  endpoint: string;
  user: string;
  password: string;
  json: boolean;
}

export type CliCommand =
  | { kind: "help"; text: string }
  | { kind: "start"; args: string[] }
  | { kind: "apps list"; admin: AdminOptions }
  | { kind: "apps show"; admin: AdminOptions; applicationId: string }
  | { kind: "apps remove"; admin: AdminOptions; applicationId: string }
  | { kind: "users add"; admin: AdminOptions; name: string; roles: string[]; password: string }
  | { kind: "users list"; admin: AdminOptions }
  | { kind: "users remove"; admin: AdminOptions; name: string };

export type Env = Readonly<Record<string, string | undefined>>;

const GROUPS: Record<string, { usage: string; leaves: Record<string, LeafSpec> }> = {
  apps: {
    usage: APPS_USAGE,
    leaves: {
      list: { positionals: [] },
      show: { positionals: ["ID"] },
      remove: { positionals: ["ID"] },
    },
  },
  users: {
    usage: USERS_USAGE,
    leaves: {
      add: {
        positionals: ["NAME"],
        options: { role: { type: "string", multiple: true }, "password-env": { type: "string" } },
      },
      list: { positionals: [] },
      remove: { positionals: ["NAME"] },
    },
  },
};

interface LeafSpec {
  positionals: string[];
  options?: NonNullable<ParseArgsConfig["options"]>;
}

const ADMIN_FLAGS = {
  endpoint: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

const isHelp = (a: string) => a === "-h" || a === "--help";

/** -h/--help anywhere before a `--` terminator. */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some(isHelp);
}

function usageError(message: string, usage: string): CliError {
  return new CliError(message, ExitCode.Usage, usage);
}

/** The endpoint an admin command uses without --endpoint. */
export function defaultEndpoint(env: Env): string {
  return `opc.tcp://localhost:${env.GDS_PORT || 4840}`;
}

function adminOptions(values: { endpoint?: string; json?: boolean }, env: Env, usage: string): AdminOptions {
  const endpoint = values.endpoint ?? defaultEndpoint(env);
  if (!/^opc\.tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/:[\]]+)(:\d{1,5})?(\/\S*)?$/.test(endpoint)) {
    throw usageError(`invalid --endpoint ${JSON.stringify(endpoint)}: expected opc.tcp://host[:port][/path]`, usage);
  }
  const password = env.GDS_ADMIN_PASSWORD;
  if (password === undefined || password === "") {
    throw new CliError("GDS_ADMIN_PASSWORD is not set", ExitCode.Usage);
  }
  return { endpoint, user: env.GDS_ADMIN_USER || "admin", password, json: values.json ?? false };
}

/** Canonical role names for the given ones; unknown names are a usage error. */
export function resolveRoles(names: readonly string[]): string[] {
  const resolved: string[] = [];
  for (const name of names) {
    const role = findRole(name);
    if (!role) {
      throw new CliError(`unknown role ${name}; known roles: ${ROLES.map((r) => r.name).join(", ")}`, ExitCode.Usage);
    }
    if (!resolved.includes(role.name)) resolved.push(role.name);
  }
  return resolved;
}

function parseLeaf(group: string, leaf: string, spec: LeafSpec, args: string[], env: Env): CliCommand {
  const key = `${group} ${leaf}`;
  const usage = LEAF_USAGE[key];
  if (asksForHelp(args)) return { kind: "help", text: usage };

  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...ADMIN_FLAGS, ...spec.options }, allowPositionals: true, strict: true });
  } catch (err) {
    // node's messages go on with advice about `--`; the first sentence is the point
    const message = errorMessage(err).split(/\. (?=To specify)/)[0];
    throw usageError(message, usage);
  }
  const { positionals } = parsed;
  const values = parsed.values as { endpoint?: string; json?: boolean; role?: string[]; "password-env"?: string };
  if (positionals.length < spec.positionals.length) {
    throw usageError(`missing ${spec.positionals.slice(positionals.length).join(" ")}`, usage);
  }
  if (positionals.length > spec.positionals.length) {
    throw usageError(`unexpected argument ${JSON.stringify(positionals[spec.positionals.length])}`, usage);
  }
  for (const [i, p] of positionals.entries()) {
    if (p.trim() === "") throw usageError(`${spec.positionals[i]} must not be empty`, usage);
  }

  switch (key) {
    case "apps list":
      return { kind: key, admin: adminOptions(values, env, usage) };
    case "apps show":
    case "apps remove":
      return { kind: key, admin: adminOptions(values, env, usage), applicationId: positionals[0] };
    case "users list":
      return { kind: key, admin: adminOptions(values, env, usage) };
    case "users remove":
      return { kind: key, admin: adminOptions(values, env, usage), name: positionals[0] };
    case "users add": {
      const roleNames = values.role ?? [];
      if (roleNames.length === 0) throw usageError("missing --role ROLE (at least one)", usage);
      const roles = resolveRoles(roleNames);
      const variable = values["password-env"];
      if (!variable) throw usageError("missing --password-env VAR", usage);
      const password = env[variable];
      if (password === undefined || password === "") {
        throw new CliError(`environment variable ${variable} (--password-env) is not set`, ExitCode.Usage);
      }
      return { kind: key, admin: adminOptions(values, env, usage), name: positionals[0], roles, password };
    }
  }
  throw new Error(`no parser for ${key}`);
}

/**
 * Turns argv (without node and the script) into a command. Usage problems throw CliError with
 * exit code 2 and the usage text to print; `--help`/`-h` yields a help command (exit 0).
 */
export function parseCli(argv: readonly string[], env: Env): CliCommand {
  const [command, ...rest] = argv;
  if (command === undefined) throw usageError("missing command", MAIN_USAGE);
  if (isHelp(command) || command === "help") return { kind: "help", text: MAIN_USAGE };
  if (command === "start") return { kind: "start", args: rest };

  const group = Object.hasOwn(GROUPS, command) ? GROUPS[command] : undefined;
  if (!group) throw usageError(`unknown command ${JSON.stringify(command)}`, MAIN_USAGE);

  const [sub, ...args] = rest;
  if (sub === undefined) throw usageError(`missing ${command} subcommand`, group.usage);
  if (isHelp(sub)) return { kind: "help", text: group.usage };
  const spec = Object.hasOwn(group.leaves, sub) ? group.leaves[sub] : undefined;
  if (!spec) throw usageError(`unknown command ${JSON.stringify(`${command} ${sub}`)}`, group.usage);
  return parseLeaf(command, sub, spec, args, env);
}
