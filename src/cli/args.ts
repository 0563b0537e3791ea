import path from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { REQUEST_STATES } from "../admin/admin-model.js";
import { CERTIFICATE_GROUP_NAMES, type CertificateGroupName } from "../ca/certificate-types.js";
import type { RequestState } from "../requests/certificate-manager.types.js";
import { findRole, ROLES } from "../users/roles.js";
import { CliError, errorMessage, ExitCode } from "./cli-error.js";
import { parseDuration } from "../duration.js";
import { BACKUP_USAGE, MIN_PASSPHRASE_LENGTH, RESTORE_USAGE } from "./usage.js";
import { parseSince, SINCE_FORMS } from "../ops-cli/since.js";
import { PUSH_USAGE } from "./usage.js";
import { TRUSTLIST_USAGE } from "./usage.js";
import { APPS_ADD_OPTIONS, parseAppsAddValues, type AppsAddCommand, type AppsAddValues } from "./apps-add-args.js";
import { APPS_USAGE, CA_USAGE, CERTS_USAGE, CLIENTS_USAGE, LEAF_USAGE, MAIN_USAGE, REQUESTS_USAGE, USERS_USAGE } from "./usage.js";

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
  /** `gds apps add` (src/cli/apps-add-args.ts): AddApplication through the admin object. */
  | AppsAddCommand
  | { kind: "users add"; admin: AdminOptions; name: string; roles: string[]; password: string }
  | { kind: "users list"; admin: AdminOptions }
  | { kind: "users remove"; admin: AdminOptions; name: string }
  | { kind: "users add-cert"; admin: AdminOptions; name: string; certFile: string }
  | { kind: "users set-roles"; admin: AdminOptions; name: string; roles: string[] }
  /** `password` from the variable --password-env names. */
  | { kind: "users passwd"; admin: AdminOptions; name: string; password: string }
  /** `state` undefined: every state. */
  | { kind: "requests list"; admin: AdminOptions; state?: RequestState }
  | { kind: "requests show"; admin: AdminOptions; requestId: string }
  | { kind: "requests approve"; admin: AdminOptions; requestId: string }
  /** `gds clients …`: client application certificates of the server's PKI; thumbprint: 40 lower-case hex digits. */
  | { kind: "clients list"; admin: AdminOptions }
  | { kind: "clients trust"; admin: AdminOptions; thumbprint: string }
  | { kind: "clients remove"; admin: AdminOptions; thumbprint: string }
  | { kind: "requests reject"; admin: AdminOptions; requestId: string; reason: string }
  | OpsCommand
  | TrustlistExportCommand
  | PushCommand
  | CaImportCommand
  | BackupCommand
  | RestoreCommand
  /** `gds status` (issue 5): GetStatus through the admin object. */
  | { kind: "status"; admin: AdminOptions };

/** `gds certs list|revoke`, `gds ca show`, `gds audit` (issue 5, through the admin object). */
export type OpsCommand =
  /** Filters combine; absent = no filter. `expiringWithin` is the duration as typed (checked). */
  | { kind: "certs list"; admin: AdminOptions; applicationId?: string; expiringWithin?: string; revoked: boolean }
  /** Exactly one of applicationId and serial; reason "" = unspecified. */
  | { kind: "certs revoke"; admin: AdminOptions; applicationId?: string; serial?: string; reason: string }
  | { kind: "ca show"; admin: AdminOptions }
  /** `since` as typed (a duration or an ISO time, checked); `limit` undefined = the server's default (1000). */
  | { kind: "audit"; admin: AdminOptions; since?: string; limit?: number };

/**
 * `gds push set|remove|now|status` (issue 4, through the admin object). In `push set`, --endpoint
 * is the device's endpoint; the GDS's comes from --gds-endpoint or GDS_ENDPOINT there.
 */
export type PushCommand =
  | {
      kind: "push set";
      admin: AdminOptions;
      applicationId: string;
      endpointUrl: string;
      securityPolicy: string;
      securityMode: string;
      /** "" with useGdsCertificate. */
      userName: string;
      password: string;
      useGdsCertificate: boolean;
      regeneratePrivateKey: boolean;
    }
  | { kind: "push remove"; admin: AdminOptions; applicationId: string }
  /** wait: until the cycle ends (at most timeoutMs); otherwise return once it is scheduled. */
  | { kind: "push now"; admin: AdminOptions; applicationId: string; wait: boolean; timeoutMs: number }
  | { kind: "push status"; admin: AdminOptions; applicationId?: string };

/** How long `gds push now` waits for the cycle by default. */
export const PUSH_NOW_DEFAULT_TIMEOUT_MS = 5 * 60_000;

/** `gds trustlist export` (issue 4): through the admin object; the CLI writes the files. */
export interface TrustlistExportCommand {
  kind: "trustlist export";
  admin: AdminOptions;
  group: CertificateGroupName;
  /** Absolute path of the folder to write (created when missing). */
  outDir: string;
}

/** `gds ca import`: offline, on the data dir; no server connection. */
export interface CaImportCommand {
  kind: "ca import";
  /** Absolute. */
  dataDir: string;
  group: CertificateGroupName;
  /** Absolute paths of the CA certificate and its private key. */
  certFile: string;
  keyFile: string;
  force: boolean;
  json: boolean;
}

/** `gds backup --out FILE`: offline, on the data dir. */
export interface BackupCommand {
  kind: "backup";
  /** Absolute. */
  dataDir: string;
  /** Absolute path of the archive to write. */
  out: string;
  /** From the variable --passphrase-env names; undefined with --unencrypted. */
  passphrase?: string;
  /** --unencrypted: a plain tar.gz (for tests), with a warning on stderr. */
  unencrypted: boolean;
  json: boolean;
}

/** `gds restore FILE`: offline, into the data dir. */
export interface RestoreCommand {
  kind: "restore";
  /** Absolute. */
  dataDir: string;
  /** Absolute path of the archive to read. */
  archive: string;
  /** From the variable --passphrase-env names; undefined with --unencrypted. */
  passphrase?: string;
  /** --unencrypted: the archive is a plain tar.gz (for tests), restored with a warning on stderr. */
  unencrypted: boolean;
  force: boolean;
  json: boolean;
}

export type Env = Readonly<Record<string, string | undefined>>;

const GROUPS: Record<string, { usage: string; leaves: Record<string, LeafSpec> }> = {
  push: {
    usage: PUSH_USAGE,
    leaves: {
      set: {
        positionals: ["ID"],
        options: {
          user: { type: "string" },
          "password-env": { type: "string" },
          "security-policy": { type: "string" },
          "security-mode": { type: "string" },
          "use-gds-certificate": { type: "boolean" },
          "no-regenerate-key": { type: "boolean" },
          "gds-endpoint": { type: "string" },
        },
      },
      remove: { positionals: ["ID"], options: { "gds-endpoint": { type: "string" } } },
      now: { positionals: ["ID"], options: { "no-wait": { type: "boolean" }, timeout: { type: "string" }, "gds-endpoint": { type: "string" } } },
      status: { positionals: [], optionalPositionals: ["ID"], options: { "gds-endpoint": { type: "string" } } },
    },
  },
  apps: {
    usage: APPS_USAGE,
    leaves: {
      list: { positionals: [] },
      show: { positionals: ["ID"] },
      remove: { positionals: ["ID"] },
      add: { positionals: [], options: APPS_ADD_OPTIONS },
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
      "add-cert": { positionals: ["NAME"], options: { cert: { type: "string" } } },
      "set-roles": { positionals: ["NAME"], options: { role: { type: "string", multiple: true } } },
      passwd: { positionals: ["NAME"], options: { "password-env": { type: "string" } } },
    },
  },
  requests: {
    usage: REQUESTS_USAGE,
    leaves: {
      list: { positionals: [], options: { state: { type: "string" } } },
      show: { positionals: ["ID"] },
      approve: { positionals: ["ID"] },
      reject: { positionals: ["ID"], options: { reason: { type: "string" } } },
    },
  },
  clients: {
    usage: CLIENTS_USAGE,
    leaves: {
      list: { positionals: [] },
      trust: { positionals: ["THUMBPRINT"] },
      remove: { positionals: ["THUMBPRINT"] },
    },
  },
  certs: {
    usage: CERTS_USAGE,
    leaves: {
      list: { positionals: [], options: { app: { type: "string" }, "expiring-within": { type: "string" }, revoked: { type: "boolean" } } },
      revoke: { positionals: [], options: { app: { type: "string" }, serial: { type: "string" }, reason: { type: "string" } } },
    },
  },
  trustlist: {
    usage: TRUSTLIST_USAGE,
    leaves: {
      export: { positionals: [], options: { group: { type: "string" }, out: { type: "string" } } },
    },
  },
  ca: {
    usage: CA_USAGE,
    leaves: {
      show: { positionals: [] },
      import: {
        positionals: [],
        offline: true,
        options: {
          group: { type: "string" },
          cert: { type: "string" },
          key: { type: "string" },
          "data-dir": { type: "string" },
          force: { type: "boolean" },
        },
      },
    },
  },
};

/**
 * Commands without a subcommand (`gds audit`, `gds status`): each is parsed like a leaf whose key
 * (in LEAF_USAGE and the parse switch) is the command word alone.
 */
const SINGLE_COMMANDS: Record<string, LeafSpec> = {
  audit: { positionals: [], options: { since: { type: "string" }, limit: { type: "string" } } },
  status: { positionals: [] },
};

interface LeafSpec {
  positionals: string[];
  /** Positionals that may follow the required ones (e.g. `push status [ID]`). */
  optionalPositionals?: string[];
  options?: NonNullable<ParseArgsConfig["options"]>;
  /** Works on the data dir, not through a server: no --endpoint, no GDS_ADMIN_PASSWORD. */
  offline?: boolean;
}

const OFFLINE_FLAGS = {
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

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
/** The GDS endpoint when no flag names it: GDS_ENDPOINT, else this machine on GDS_PORT (4840). */
export function defaultEndpoint(env: Env): string {
  return env.GDS_ENDPOINT || `opc.tcp://localhost:${env.GDS_PORT || 4840}`;
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
  const key = leaf === "" ? group : `${group} ${leaf}`;
  const usage = LEAF_USAGE[key];
  if (asksForHelp(args)) return { kind: "help", text: usage };

  let parsed;
  try {
    const common = spec.offline ? OFFLINE_FLAGS : ADMIN_FLAGS;
    parsed = parseArgs({ args, options: { ...common, ...spec.options }, allowPositionals: true, strict: true });
  } catch (err) {
    // node's messages go on with advice about `--`; the first sentence is the point
    const message = errorMessage(err).split(/\. (?=To specify)/)[0];
    throw usageError(message, usage);
  }
  const { positionals } = parsed;
  const values = parsed.values as {
    endpoint?: string;
    json?: boolean;
    role?: string[];
    "password-env"?: string;
    state?: string;
    reason?: string;
    group?: string;
    cert?: string;
    key?: string;
    "data-dir"?: string;
    force?: boolean;
    app?: string;
    "expiring-within"?: string;
    revoked?: boolean;
    serial?: string;
    since?: string;
    limit?: string;
    out?: string;
  };
  if (positionals.length < spec.positionals.length) {
    throw usageError(`missing ${spec.positionals.slice(positionals.length).join(" ")}`, usage);
  }
  const maxPositionals = spec.positionals.length + (spec.optionalPositionals?.length ?? 0);
  if (positionals.length > maxPositionals) {
    throw usageError(`unexpected argument ${JSON.stringify(positionals[maxPositionals])}`, usage);
  }
  for (const [i, p] of positionals.entries()) {
    if (p.trim() === "") throw usageError(`${[...spec.positionals, ...(spec.optionalPositionals ?? [])][i]} must not be empty`, usage);
  }

  switch (key) {
    case "push set":
    case "push remove":
    case "push now":
    case "push status":
      return parsePushLeaf(key, parsed.values as PushValues, positionals, env, usage);
    case "apps list":
      return { kind: key, admin: adminOptions(values, env, usage) };
    case "apps show":
    case "apps remove":
      return { kind: key, admin: adminOptions(values, env, usage), applicationId: positionals[0] };
    case "apps add":
      return { kind: key, ...parseAppsAddValues(parsed.values as AppsAddValues, usage), admin: adminOptions(values, env, usage) };
    case "users list":
      return { kind: key, admin: adminOptions(values, env, usage) };
    case "users remove":
      return { kind: key, admin: adminOptions(values, env, usage), name: positionals[0] };
    case "users add-cert": {
      if (!values.cert?.trim()) throw usageError("missing --cert FILE (the user's certificate, PEM or DER)", usage);
      return { kind: key, admin: adminOptions(values, env, usage), name: positionals[0], certFile: path.resolve(values.cert) };
    }
    case "users set-roles": {
      const roleNames = values.role ?? [];
      if (roleNames.length === 0) throw usageError("missing --role ROLE (at least one)", usage);
      return { kind: key, admin: adminOptions(values, env, usage), name: positionals[0], roles: resolveRoles(roleNames) };
    }
    case "users passwd": {
      const variable = values["password-env"];
      if (!variable) throw usageError("missing --password-env VAR (the environment variable holding the new password)", usage);
      const password = env[variable];
      if (password === undefined || password === "") {
        throw new CliError(`environment variable ${variable} (--password-env) is not set`, ExitCode.Usage);
      }
      return { kind: key, admin: adminOptions(values, env, usage), name: positionals[0], password };
    }
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
    case "requests list": {
      const state = values.state === undefined ? undefined : parseRequestState(values.state, usage);
      return { kind: key, admin: adminOptions(values, env, usage), ...(state ? { state } : {}) };
    }
    case "requests show":
    case "requests approve":
      return { kind: key, admin: adminOptions(values, env, usage), requestId: positionals[0] };
    case "requests reject":
      return { kind: key, admin: adminOptions(values, env, usage), requestId: positionals[0], reason: values.reason ?? "" };
    case "certs list": {
      const within = values["expiring-within"];
      if (within !== undefined && parseDuration(within) === undefined) {
        throw usageError(`invalid --expiring-within ${JSON.stringify(within)}: expected a duration such as 90s, 10m, 12h, 30d, 1y`, usage);
      }
      const app = nonEmpty(values.app, "--app", usage);
      return {
        kind: key,
        admin: adminOptions(values, env, usage),
        ...(app !== undefined ? { applicationId: app } : {}),
        ...(within !== undefined ? { expiringWithin: within.trim() } : {}),
        revoked: values.revoked ?? false,
      };
    }
    case "certs revoke": {
      const app = nonEmpty(values.app, "--app", usage);
      const serial = nonEmpty(values.serial, "--serial", usage);
      if ((app === undefined) === (serial === undefined)) throw usageError("give exactly one of --app ID and --serial HEX", usage);
      if (serial !== undefined && !/^(0x)?[0-9a-f]+(:[0-9a-f]+)*$/i.test(serial)) {
        throw usageError(`invalid --serial ${JSON.stringify(serial)}: expected hexadecimal digits (colons allowed)`, usage);
      }
      return {
        kind: key,
        admin: adminOptions(values, env, usage),
        ...(app !== undefined ? { applicationId: app } : {}),
        ...(serial !== undefined ? { serial } : {}),
        reason: values.reason?.trim() ?? "",
      };
    }
    case "ca show":
      return { kind: key, admin: adminOptions(values, env, usage) };
    case "clients list":
      return { kind: key, admin: adminOptions(values, env, usage) };
    case "clients trust":
    case "clients remove":
      return { kind: key, admin: adminOptions(values, env, usage), thumbprint: parseThumbprint(positionals[0], usage) };
    case "status":
      return { kind: key, admin: adminOptions(values, env, usage) };
    case "audit": {
      const since = values.since;
      if (since !== undefined && !parseSince(since, new Date()).ok) {
        throw usageError(`invalid --since ${JSON.stringify(since)}: expected ${SINCE_FORMS}`, usage);
      }
      let limit: number | undefined;
      if (values.limit !== undefined) {
        limit = /^\s*\d{1,6}\s*$/.test(values.limit) ? Number(values.limit) : NaN;
        if (!(limit >= 1 && limit <= 100_000)) throw usageError(`invalid --limit ${JSON.stringify(values.limit)}: expected a number from 1 to 100000`, usage);
      }
      return {
        kind: key,
        admin: adminOptions(values, env, usage),
        ...(since !== undefined ? { since: since.trim() } : {}),
        ...(limit !== undefined ? { limit } : {}),
      };
    }
    case "trustlist export": {
      if (!values.out?.trim()) throw usageError("missing --out DIR (the folder to write the certificates and CRLs to)", usage);
      return {
        kind: key,
        admin: adminOptions(values, env, usage),
        group: parseGroup(values.group ?? "DefaultApplicationGroup", usage),
        outDir: path.resolve(values.out),
      };
    }
    case "ca import": {
      const group = parseGroup(values.group ?? "DefaultApplicationGroup", usage);
      if (!values.cert?.trim()) throw usageError("missing --cert FILE (the CA certificate, PEM or DER)", usage);
      if (!values.key?.trim()) throw usageError("missing --key FILE (the CA private key, PEM or DER)", usage);
      return {
        kind: key,
        dataDir: resolveDataDir(values["data-dir"], env),
        group,
        certFile: path.resolve(values.cert),
        keyFile: path.resolve(values.key),
        force: values.force ?? false,
        json: values.json ?? false,
      };
    }
  }
  throw new Error(`no parser for ${key}`);
}

/** An option's value, trimmed; given but blank is a usage error. */
function nonEmpty(value: string | undefined, flag: string, usage: string): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === "") throw usageError(`${flag} must not be empty`, usage);
  return value.trim();
}

interface PushValues {
  endpoint?: string;
  json?: boolean;
  user?: string;
  "password-env"?: string;
  "security-policy"?: string;
  "security-mode"?: string;
  "use-gds-certificate"?: boolean;
  "no-regenerate-key"?: boolean;
  "gds-endpoint"?: string;
  "no-wait"?: boolean;
  timeout?: string;
}

const OPC_TCP_URL = /^opc\.tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/:[\]]+)(:\d{1,5})?(\/\S*)?$/;

/**
 * `gds push …`. The GDS endpoint: --gds-endpoint, else (not for `push set`, where --endpoint is
 * the device) --endpoint, else the default (GDS_ENDPOINT, else localhost).
 */
function parsePushLeaf(key: "push set" | "push remove" | "push now" | "push status", values: PushValues, positionals: string[], env: Env, usage: string): PushCommand {
  // A flag beats the environment; GDS_ENDPOINT is the default (defaultEndpoint) as for every admin command.
  const gdsEndpoint = values["gds-endpoint"] ?? (key === "push set" ? undefined : values.endpoint);
  if (gdsEndpoint !== undefined && !OPC_TCP_URL.test(gdsEndpoint)) {
    throw usageError(`invalid GDS endpoint ${JSON.stringify(gdsEndpoint)} (--gds-endpoint or GDS_ENDPOINT): expected opc.tcp://host[:port][/path]`, usage);
  }
  const admin = () => adminOptions({ endpoint: gdsEndpoint, json: values.json }, env, usage);
  switch (key) {
    case "push set": {
      const endpointUrl = values.endpoint?.trim();
      if (!endpointUrl) throw usageError("missing --endpoint URL (the device's endpoint, opc.tcp://host:port)", usage);
      if (!/^opc\.tcp:\/\/\S+:\d{1,5}(\/\S*)?$/.test(endpointUrl)) throw usageError(`invalid --endpoint ${JSON.stringify(endpointUrl)}: expected the device's opc.tcp://host:port[/path]`, usage);
      const useGdsCertificate = values["use-gds-certificate"] ?? false;
      let userName = "";
      let password = "";
      if (useGdsCertificate) {
        if (values.user !== undefined || values["password-env"] !== undefined) throw usageError("--use-gds-certificate goes without --user and --password-env", usage);
      } else {
        userName = values.user?.trim() ?? "";
        if (!userName) throw usageError("missing --user U (the device user holding SecurityAdmin), or --use-gds-certificate", usage);
        const variable = values["password-env"];
        if (!variable) throw usageError("missing --password-env VAR (the environment variable holding the device user's password)", usage);
        const value = env[variable];
        if (value === undefined || value === "") throw new CliError(`environment variable ${variable} (--password-env) is not set`, ExitCode.Usage);
        password = value;
      }
      return {
        kind: key,
        admin: admin(),
        applicationId: positionals[0],
        endpointUrl,
        securityPolicy: values["security-policy"]?.trim() ?? "",
        securityMode: values["security-mode"]?.trim() ?? "",
        userName,
        password,
        useGdsCertificate,
        regeneratePrivateKey: !(values["no-regenerate-key"] ?? false),
      };
    }
    case "push remove":
      return { kind: key, admin: admin(), applicationId: positionals[0] };
    case "push now": {
      let timeoutMs = PUSH_NOW_DEFAULT_TIMEOUT_MS;
      if (values.timeout !== undefined) {
        const ms = parseDuration(values.timeout.trim());
        if (ms === undefined || ms < 1000) throw usageError(`invalid --timeout ${JSON.stringify(values.timeout)}: expected a duration such as 90s or 10m`, usage);
        timeoutMs = ms;
      }
      return { kind: key, admin: admin(), applicationId: positionals[0], wait: !(values["no-wait"] ?? false), timeoutMs };
    }
    case "push status":
      return { kind: key, admin: admin(), ...(positionals[0] !== undefined ? { applicationId: positionals[0] } : {}) };
  }
}

/** A SHA-1 thumbprint as typed or copied (colons, spaces, upper case allowed) → 40 lower-case hex digits. */
export function parseThumbprint(text: string, usage: string): string {
  const t = text.replace(/[:\s]/g, "").toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(t)) throw usageError(`invalid THUMBPRINT ${JSON.stringify(text.slice(0, 100))}: expected the SHA-1 thumbprint, 40 hex digits, as gds clients list shows it`, usage);
  return t;
}

function parseRequestState(text: string, usage: string): RequestState {
  const state = REQUEST_STATES.find((s) => s === text.trim().toLowerCase());
  if (!state) throw usageError(`invalid --state ${JSON.stringify(text)}: expected one of ${REQUEST_STATES.join(", ")}`, usage);
  return state;
}

function parseGroup(text: string, usage: string): CertificateGroupName {
  const group = CERTIFICATE_GROUP_NAMES.find((g) => g.toLowerCase() === text.trim().toLowerCase());
  if (!group) throw usageError(`invalid --group ${JSON.stringify(text)}: expected one of ${CERTIFICATE_GROUP_NAMES.join(", ")}`, usage);
  return group;
}

/**
 * The data dir of an offline command, where `gds start` would find it: GDS_DATA_DIR, else
 * --data-dir, else ./pki (gds start lets the env var win over the flag). When both are given and
 * differ, the command refuses rather than guess which one the operator meant.
 */
export function resolveDataDir(flag: string | undefined, env: Env, cwd: string = process.cwd()): string {
  const fromEnv = env.GDS_DATA_DIR;
  if (fromEnv !== undefined && fromEnv.trim() === "") throw new CliError("GDS_DATA_DIR: must not be empty", ExitCode.Usage);
  if (flag !== undefined && flag.trim() === "") throw new CliError("--data-dir: must not be empty", ExitCode.Usage);
  const envDir = fromEnv === undefined ? undefined : path.resolve(cwd, fromEnv);
  const flagDir = flag === undefined ? undefined : path.resolve(cwd, flag);
  if (envDir !== undefined && flagDir !== undefined && envDir !== flagDir) {
    throw new CliError(
      `GDS_DATA_DIR (${envDir}) and --data-dir (${flagDir}) name different data dirs; gds start would use GDS_DATA_DIR: unset it or drop --data-dir`,
      ExitCode.Usage,
    );
  }
  return envDir ?? flagDir ?? path.resolve(cwd, "./pki");
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
  if (command === "backup" || command === "restore") return parseBackupOrRestore(command, rest, env);
  if (Object.hasOwn(SINGLE_COMMANDS, command)) return parseLeaf(command, "", SINGLE_COMMANDS[command], rest, env);

  const group = Object.hasOwn(GROUPS, command) ? GROUPS[command] : undefined;
  if (!group) throw usageError(`unknown command ${JSON.stringify(command)}`, MAIN_USAGE);

  const [sub, ...args] = rest;
  if (sub === undefined) throw usageError(`missing ${command} subcommand`, group.usage);
  if (isHelp(sub)) return { kind: "help", text: group.usage };
  const spec = Object.hasOwn(group.leaves, sub) ? group.leaves[sub] : undefined;
  if (!spec) throw usageError(`unknown command ${JSON.stringify(`${command} ${sub}`)}`, group.usage);
  return parseLeaf(command, sub, spec, args, env);
}

/**
 * `gds backup --out FILE (--passphrase-env VAR | --unencrypted) [--data-dir DIR] [--json]`,
 * `gds restore FILE (--passphrase-env VAR | --unencrypted) [--data-dir DIR] [--force] [--json]`.
 */
function parseBackupOrRestore(command: "backup" | "restore", args: string[], env: Env): BackupCommand | RestoreCommand | { kind: "help"; text: string } {
  const usage = command === "backup" ? BACKUP_USAGE : RESTORE_USAGE;
  if (asksForHelp(args)) return { kind: "help", text: usage };
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        ...OFFLINE_FLAGS,
        "data-dir": { type: "string" },
        "passphrase-env": { type: "string" },
        unencrypted: { type: "boolean" },
        ...(command === "backup" ? { out: { type: "string" } } : { force: { type: "boolean" } }),
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw usageError(errorMessage(err).split(/\. (?=To specify)/)[0], usage);
  }
  const values = parsed.values as { json?: boolean; "data-dir"?: string; out?: string; force?: boolean; "passphrase-env"?: string; unencrypted?: boolean };
  const dataDir = resolveDataDir(values["data-dir"], env);
  if (command === "backup") {
    if (parsed.positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`, usage);
    if (!values.out?.trim()) throw usageError("missing --out FILE (the archive to write, e.g. gds-backup.gdsbak)", usage);
  } else {
    if (parsed.positionals.length === 0 || parsed.positionals[0].trim() === "") throw usageError("missing FILE (the archive made by gds backup)", usage);
    if (parsed.positionals.length > 1) throw usageError(`unexpected argument ${JSON.stringify(parsed.positionals[1])}`, usage);
  }
  const secret = passphraseOption(command, values["passphrase-env"], values.unencrypted ?? false, env, usage);
  if (command === "backup") return { kind: "backup", dataDir, out: path.resolve(values.out!), ...secret, json: values.json ?? false };
  return { kind: "restore", dataDir, archive: path.resolve(parsed.positionals[0]), ...secret, force: values.force ?? false, json: values.json ?? false };
}

/** Exactly one of --passphrase-env VAR (VAR set, long enough for a backup) and --unencrypted. */
function passphraseOption(command: "backup" | "restore", variable: string | undefined, unencrypted: boolean, env: Env, usage: string): { passphrase?: string; unencrypted: boolean } {
  if (variable !== undefined && unencrypted) throw usageError("--passphrase-env and --unencrypted exclude each other: give one", usage);
  if (unencrypted) return { unencrypted: true };
  if (variable === undefined) {
    throw usageError(
      command === "backup"
        ? "missing --passphrase-env VAR: the archive holds the CA private keys and is encrypted with the passphrase in $VAR (--unencrypted writes a plain archive, for tests only)"
        : "missing --passphrase-env VAR (the variable holding the passphrase the backup was written with), or --unencrypted for a plain archive",
      usage,
    );
  }
  if (variable.trim() === "") throw usageError("--passphrase-env: give the name of an environment variable", usage);
  const passphrase = env[variable];
  if (passphrase === undefined || passphrase === "") throw new CliError(`environment variable ${variable} (--passphrase-env) is not set`, ExitCode.Usage);
  if (command === "backup" && [...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new CliError(`the passphrase in ${variable} is too short: at least ${MIN_PASSPHRASE_LENGTH} characters (the archive can be attacked offline)`, ExitCode.Usage);
  }
  return { passphrase, unencrypted: false };
}
