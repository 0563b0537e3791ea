import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { makeDirs } from "./durable-fs.js";
import { formatDuration, parseDuration } from "./duration.js";
import { ConfigError } from "./errors.js";
import { DEFAULT_MAX_RECORDS_PER_QUERY, DEFAULT_QUERY_BUDGET_MS_PER_SECOND } from "./directory/limits.js";

/**
 * Settings: env var = CLI flag of `gds start` = key in `<data dir>/gds.config.json`.
 * Precedence: env > flag > config file > default. Only the composition root reads this.
 */
export interface GdsConfig {
  port: number;
  hostname: string;
  dataDir: string;
  /**
   * Password for the `admin` user created on the first start (from GDS_ADMIN_PASSWORD or read from
   * GDS_ADMIN_PASSWORD_FILE); undefined → random, written to `<data dir>/initial-admin-password`.
   */
  adminPassword?: string;
  /** The file the admin password was read from (it may end with one newline, not part of the password). */
  adminPasswordFile?: string;
  logLevel: string;
  /** Accept (and record) unknown client application certificates on the secure channel. */
  acceptUnknownCertificates: boolean;
  /** At most this many unknown client certificates are listed in server-pki/seen (least recently seen evicted). */
  maxSeenClientCertificates: number;
  /** RSA size of the CA keys created on the first start. */
  caKeySize: number;
  /** Validity of the CA certificates created on the first start (ms). */
  caLifetimeMs: number;
  /** Subject of created CA certificates; `{group}` is replaced by the certificate group's name. */
  caSubject: string;
  /** Import this CA (certificate + key files) for DefaultApplicationGroup on the first start. */
  caCertFile?: string;
  caKeyFile?: string;
  /** Lifetime of issued application certificates (ms). */
  certLifetimeMs: number;
  /** A certificate with less than this left (ms) needs renewal (GetCertificateStatus, push). */
  renewBeforeMs: number;
  /** Approve certificate requests at once; false queues them for a RegistrationAuthorityAdmin. */
  autoApprove: boolean;
  /** O= in the subject of every issued certificate; undefined → no O attribute. */
  certOrganization?: string;
  /** Certificates per application and certificate group in any 24 hours. */
  maxCertificatesPerDay: number;
  /** How long a CRL is valid (nextUpdate - thisUpdate, ms); CRLs are re-signed at half-life. */
  crlLifetimeMs: number;
  /** How often the push scheduler looks for due pushes without being told (ms). */
  pushIntervalMs: number;
  /** At most this many push cycles (one per device) at once. */
  pushConcurrency: number;
  /** Timeout of each call the GDS makes to a push-managed device (ms). */
  pushTimeoutMs: number;
  /** Port of the HTTP listener for GET /metrics and GET /healthz; 0 = no listener. */
  httpPort: number;
  /** Address the HTTP listener binds to (127.0.0.1: only this machine). */
  httpHost: string;
  /** Address the opc.tcp listener binds to; undefined: all interfaces. */
  bindAddress?: string;
  /** Sessions of the whole server (OPC UA MaxSessions). */
  maxSessions: number;
  /** Session slots kept for authenticated (user name / X509) sessions: anonymous ones cannot take them. */
  reservedAuthenticatedSessions: number;
  /** Open opc.tcp connections per remote IP address. */
  maxChannelsPerAddress: number;
  /** Activated anonymous sessions per remote IP address. */
  maxAnonymousSessionsPerAddress: number;
  /** Sessions created but not yet activated (or failing to activate) per remote IP address. */
  maxPendingSessionsPerAddress: number;
  /** A session not activated within this time (ms) after CreateSession is closed. */
  sessionActivationTimeoutMs: number;
  /** An anonymous session idle this long (ms) is closed, whatever timeout it asked for. */
  anonymousSessionTimeoutMs: number;
  /** Most records one QueryApplications / QueryServers call returns (MaxRecordsToReturn 0 or larger → this). */
  maxRecordsPerQuery: number;
  /** Directory scan time (ms) a session earns per second for its queries; 0 = unlimited. */
  queryBudgetMs: number;
}

interface SettingSpec {
  key: keyof GdsConfig;
  env: string;
  flag: string;
  parse(raw: unknown, source: string): unknown;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function parsePort(raw: unknown, source: string): number {
  const n = typeof raw === "number" ? raw : Number(String(raw).trim());
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new ConfigError(source, `port must be an integer 1–65535, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function parseHttpPort(raw: unknown, source: string): number {
  const n = typeof raw === "number" ? raw : Number(String(raw).trim());
  if (String(raw).trim() === "" || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ConfigError(source, `port must be an integer 0–65535 (0: no HTTP listener), got ${JSON.stringify(raw)}`);
  }
  return n;
}

function parseHostname(raw: unknown, source: string): string {
  const s = String(raw).trim();
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(s) && !/^[0-9a-fA-F:]+$/.test(s)) {
    throw new ConfigError(source, `not a valid host name: ${JSON.stringify(raw)}`);
  }
  return s;
}

function parseBoolean(raw: unknown, source: string): boolean {
  if (typeof raw === "boolean") return raw;
  const s = String(raw).trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(s)) return true;
  if (["0", "false", "no", "off"].includes(s)) return false;
  throw new ConfigError(source, `expected true or false, got ${JSON.stringify(raw)}`);
}

/** The parse functions of duration settings (shown as e.g. "30d" in help and logs). */
const durationParsers = new WeakSet<SettingSpec["parse"]>();

function durationParser(min: number, max: number) {
  const parse = (raw: unknown, source: string): number => {
    const ms = parseDuration(String(raw));
    if (ms === undefined) throw new ConfigError(source, `expected a duration such as 90s, 10m, 12h, 365d or 20y, got ${JSON.stringify(raw)}`);
    if (ms < min || ms > max) throw new ConfigError(source, `must be between ${formatDuration(min)} and ${formatDuration(max)}, got ${JSON.stringify(raw)}`);
    return ms;
  };
  durationParsers.add(parse);
  return parse;
}

function integerParser(min: number, max: number, note = "") {
  return (raw: unknown, source: string): number => {
    const n = typeof raw === "number" ? raw : Number(String(raw).trim());
    if (String(raw).trim() === "" || !Number.isInteger(n) || n < min || n > max) throw new ConfigError(source, `must be an integer ${min}–${max}${note}, got ${JSON.stringify(raw)}`);
    return n;
  };
}

function parseFilePath(raw: unknown, source: string): string {
  const s = String(raw).trim();
  if (!s) throw new ConfigError(source, "must name a file");
  return s;
}

const SECOND = 1000;
const YEAR = 365 * 86_400_000;

const SETTINGS: SettingSpec[] = [
  { key: "port", env: "GDS_PORT", flag: "port", parse: parsePort },
  { key: "hostname", env: "GDS_HOSTNAME", flag: "hostname", parse: parseHostname },
  {
    key: "adminPassword",
    env: "GDS_ADMIN_PASSWORD",
    flag: "admin-password",
    parse: (raw, source) => {
      const s = String(raw);
      if (s.length < 8) throw new ConfigError(source, "the admin password must have at least 8 characters");
      return s;
    },
  },
  { key: "adminPasswordFile", env: "GDS_ADMIN_PASSWORD_FILE", flag: "admin-password-file", parse: parseFilePath },
  {
    key: "logLevel",
    env: "GDS_LOG_LEVEL",
    flag: "log-level",
    parse: (raw, source) => {
      const s = String(raw).trim().toLowerCase();
      if (!LOG_LEVELS.includes(s)) throw new ConfigError(source, `must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(raw)}`);
      return s;
    },
  },
  {
    key: "acceptUnknownCertificates",
    env: "GDS_ACCEPT_UNKNOWN_CERTIFICATES",
    flag: "accept-unknown-certificates",
    parse: parseBoolean,
  },
  {
    key: "maxSeenClientCertificates",
    env: "GDS_MAX_SEEN_CLIENT_CERTIFICATES",
    flag: "max-seen-client-certificates",
    parse: (raw, source) => {
      const n = typeof raw === "number" ? raw : Number(String(raw).trim());
      if (String(raw).trim() === "" || !Number.isInteger(n) || n < 10 || n > 100_000) throw new ConfigError(source, `must be an integer 10–100000, got ${JSON.stringify(raw)}`);
      return n;
    },
  },
  {
    key: "caKeySize",
    env: "GDS_CA_KEY_SIZE",
    flag: "ca-key-size",
    parse: (raw, source) => {
      const n = Number(String(raw).trim());
      if (![2048, 3072, 4096].includes(n)) throw new ConfigError(source, `must be 2048, 3072 or 4096, got ${JSON.stringify(raw)}`);
      return n;
    },
  },
  { key: "caLifetimeMs", env: "GDS_CA_LIFETIME", flag: "ca-lifetime", parse: durationParser(86_400_000, 100 * YEAR) },
  {
    key: "caSubject",
    env: "GDS_CA_SUBJECT",
    flag: "ca-subject",
    parse: (raw, source) => {
      const s = String(raw).trim();
      if (!/^[A-Za-z.0-9]+=/.test(s) || s.length > 1024) throw new ConfigError(source, `expected a distinguished name such as "CN=opcua-gds {group} CA, O=Acme", got ${JSON.stringify(raw)}`);
      return s;
    },
  },
  { key: "caCertFile", env: "GDS_CA_CERT_FILE", flag: "ca-cert-file", parse: parseFilePath },
  { key: "caKeyFile", env: "GDS_CA_KEY_FILE", flag: "ca-key-file", parse: parseFilePath },
  { key: "certLifetimeMs", env: "GDS_CERT_LIFETIME", flag: "cert-lifetime", parse: durationParser(60 * SECOND, 20 * YEAR) },
  { key: "renewBeforeMs", env: "GDS_RENEW_BEFORE", flag: "renew-before", parse: durationParser(SECOND, 20 * YEAR) },
  { key: "autoApprove", env: "GDS_AUTO_APPROVE", flag: "auto-approve", parse: parseBoolean },
  {
    key: "certOrganization",
    env: "GDS_CERT_ORGANIZATION",
    flag: "cert-organization",
    parse: (raw, source) => {
      const s = String(raw).trim();
      // eslint-disable-next-line no-control-regex
      if (s.length > 64 || /[\x00-\x1f\x7f]/.test(s)) throw new ConfigError(source, `an organization name of at most 64 characters without control characters, got ${JSON.stringify(raw)}`);
      return s || undefined;
    },
  },
  {
    key: "maxCertificatesPerDay",
    env: "GDS_MAX_CERTIFICATES_PER_DAY",
    flag: "max-certificates-per-day",
    parse: (raw, source) => {
      const n = typeof raw === "number" ? raw : Number(String(raw).trim());
      if (String(raw).trim() === "" || !Number.isInteger(n) || n < 1 || n > 100_000) throw new ConfigError(source, `must be an integer 1–100000, got ${JSON.stringify(raw)}`);
      return n;
    },
  },
  { key: "crlLifetimeMs", env: "GDS_CRL_LIFETIME", flag: "crl-lifetime", parse: durationParser(60 * SECOND, 10 * YEAR) },
  { key: "pushIntervalMs", env: "GDS_PUSH_INTERVAL", flag: "push-interval", parse: durationParser(SECOND, 30 * 86_400_000) },
  {
    key: "pushConcurrency",
    env: "GDS_PUSH_CONCURRENCY",
    flag: "push-concurrency",
    parse: (raw, source) => {
      const n = typeof raw === "number" ? raw : Number(String(raw).trim());
      if (String(raw).trim() === "" || !Number.isInteger(n) || n < 1 || n > 256) throw new ConfigError(source, `must be an integer 1–256, got ${JSON.stringify(raw)}`);
      return n;
    },
  },
  { key: "pushTimeoutMs", env: "GDS_PUSH_TIMEOUT", flag: "push-timeout", parse: durationParser(SECOND, 3_600_000) },
  { key: "httpPort", env: "GDS_HTTP_PORT", flag: "http-port", parse: parseHttpPort },
  { key: "httpHost", env: "GDS_HTTP_HOST", flag: "http-host", parse: parseHostname },
  { key: "bindAddress", env: "GDS_BIND_ADDRESS", flag: "bind-address", parse: parseHostname },
  // At least 64 authenticated sessions (and channels) per address are always possible.
  { key: "maxSessions", env: "GDS_MAX_SESSIONS", flag: "max-sessions", parse: integerParser(64, 100_000) },
  { key: "reservedAuthenticatedSessions", env: "GDS_RESERVED_AUTHENTICATED_SESSIONS", flag: "reserved-authenticated-sessions", parse: integerParser(0, 100_000) },
  { key: "maxChannelsPerAddress", env: "GDS_MAX_CHANNELS_PER_ADDRESS", flag: "max-channels-per-address", parse: integerParser(64, 100_000) },
  { key: "maxAnonymousSessionsPerAddress", env: "GDS_MAX_ANONYMOUS_SESSIONS_PER_ADDRESS", flag: "max-anonymous-sessions-per-address", parse: integerParser(1, 100_000) },
  { key: "maxPendingSessionsPerAddress", env: "GDS_MAX_PENDING_SESSIONS_PER_ADDRESS", flag: "max-pending-sessions-per-address", parse: integerParser(1, 100_000) },
  { key: "sessionActivationTimeoutMs", env: "GDS_SESSION_ACTIVATION_TIMEOUT", flag: "session-activation-timeout", parse: durationParser(SECOND, 600 * SECOND) },
  { key: "anonymousSessionTimeoutMs", env: "GDS_ANONYMOUS_SESSION_TIMEOUT", flag: "anonymous-session-timeout", parse: durationParser(SECOND, 3_600_000) },
  { key: "maxRecordsPerQuery", env: "GDS_MAX_RECORDS_PER_QUERY", flag: "max-records-per-query", parse: integerParser(1, 100_000) },
  { key: "queryBudgetMs", env: "GDS_QUERY_BUDGET_MS", flag: "query-budget-ms", parse: integerParser(0, 1000, " (0: unlimited)") },
];

/** Every setting's default except the data dir and host name (which depend on where it runs). */
export function defaultSettings(): Omit<GdsConfig, "dataDir" | "hostname"> {
  return {
    port: 4840,
    logLevel: "info",
    acceptUnknownCertificates: true,
    maxSeenClientCertificates: 1000,
    caKeySize: 3072,
    caLifetimeMs: 20 * YEAR,
    caSubject: "CN=opcua-gds {group} CA",
    certLifetimeMs: 365 * 86_400_000,
    renewBeforeMs: 30 * 86_400_000,
    autoApprove: true,
    maxCertificatesPerDay: 20,
    crlLifetimeMs: 30 * 86_400_000,
    pushIntervalMs: 3_600_000,
    pushConcurrency: 4,
    pushTimeoutMs: 30_000,
    httpPort: 4841,
    httpHost: "127.0.0.1",
    maxSessions: 200,
    reservedAuthenticatedSessions: 20,
    maxChannelsPerAddress: 100,
    maxAnonymousSessionsPerAddress: 16,
    maxPendingSessionsPerAddress: 64,
    sessionActivationTimeoutMs: 15_000,
    anonymousSessionTimeoutMs: 300_000,
    maxRecordsPerQuery: DEFAULT_MAX_RECORDS_PER_QUERY,
    queryBudgetMs: DEFAULT_QUERY_BUDGET_MS_PER_SECOND,
  };
}

export const CONFIG_FILE_NAME = "gds.config.json";

/** Flags understood by `gds start` (for usage text and the parser). */
export const START_FLAGS = [...SETTINGS.map((s) => s.flag), "data-dir"];

export interface LoadConfigInput {
  env: NodeJS.ProcessEnv;
  /** Parsed `gds start` flags (kebab-case names without dashes). */
  flags: Record<string, string | undefined>;
  cwd: string;
}

export function loadConfig(input: LoadConfigInput): GdsConfig {
  const { env, flags, cwd } = input;
  const dataDirRaw = env.GDS_DATA_DIR ?? flags["data-dir"] ?? "./pki";
  if (!dataDirRaw.trim()) throw new ConfigError("GDS_DATA_DIR", "must not be empty");
  const dataDir = path.resolve(cwd, dataDirRaw);
  ensureWritableDir(dataDir);

  const fileValues = readConfigFile(path.join(dataDir, CONFIG_FILE_NAME));
  const config: GdsConfig = { ...defaultSettings(), hostname: os.hostname(), dataDir };
  const out = config as unknown as Record<string, unknown>;
  for (const s of SETTINGS) {
    if (env[s.env] !== undefined && env[s.env] !== "") out[s.key] = s.parse(env[s.env], s.env);
    else if (flags[s.flag] !== undefined) out[s.key] = s.parse(flags[s.flag], `--${s.flag}`);
    else if (fileValues[s.key] !== undefined) out[s.key] = s.parse(fileValues[s.key], `${CONFIG_FILE_NAME}: ${s.key}`);
  }
  if (config.reservedAuthenticatedSessions >= config.maxSessions) {
    throw new ConfigError("GDS_RESERVED_AUTHENTICATED_SESSIONS", `must be less than GDS_MAX_SESSIONS (${config.maxSessions}), got ${config.reservedAuthenticatedSessions}`);
  }
  if (config.adminPasswordFile !== undefined) {
    if (config.adminPassword !== undefined) throw new ConfigError("GDS_ADMIN_PASSWORD_FILE", "GDS_ADMIN_PASSWORD and GDS_ADMIN_PASSWORD_FILE both set: set one of them");
    config.adminPassword = readPasswordFile(path.resolve(cwd, config.adminPasswordFile), "GDS_ADMIN_PASSWORD_FILE");
  }
  if ((config.caCertFile === undefined) !== (config.caKeyFile === undefined)) {
    throw new ConfigError(config.caCertFile === undefined ? "GDS_CA_CERT_FILE" : "GDS_CA_KEY_FILE", "GDS_CA_CERT_FILE and GDS_CA_KEY_FILE go together: set both or neither");
  }
  return config;
}

/** A password file's content; one trailing newline (LF or CRLF) is not part of the password. */
export function readPasswordFile(file: string, setting: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(setting, `cannot read ${file}: ${(err as Error).message}`);
  }
  const password = text.replace(/\r?\n$/, "");
  if (password.length < 8) throw new ConfigError(setting, `the password in ${file} must have at least 8 characters`);
  if (password.length > 1024) throw new ConfigError(setting, `the password in ${file} must have at most 1024 characters`);
  if (/[\r\n]/.test(password)) throw new ConfigError(setting, `${file} must hold the password on one line`);
  return password;
}

/** One setting as operators name it: env var, `gds start` flag, config key. */
export interface SettingDescriptor {
  key: keyof GdsConfig;
  env: string;
  flag: string;
  /** A duration (written 90s, 10m, 12h, 365d, 20y). */
  duration: boolean;
  /** Never shown in logs. */
  secret: boolean;
}

const SECRET_SETTINGS = new Set<keyof GdsConfig>(["adminPassword"]);

/** Every setting of `gds start`, in the order of the help text (the data dir after the host name). */
export const SETTING_DESCRIPTORS: readonly SettingDescriptor[] = SETTINGS.flatMap((s) => {
  const d: SettingDescriptor = { key: s.key, env: s.env, flag: s.flag, duration: durationParsers.has(s.parse), secret: SECRET_SETTINGS.has(s.key) };
  return s.key === "hostname" ? [d, { key: "dataDir", env: "GDS_DATA_DIR", flag: "data-dir", duration: false, secret: false }] : [d];
});

/** A setting's value as it would be written (durations as 30d); undefined when unset. */
export function formatSetting(d: SettingDescriptor, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (d.duration && typeof value === "number") return formatDuration(value);
  return String(value);
}

/**
 * The settings in force by env var name, secrets left out (shown as "(set)"), and the names of
 * those that differ from the default.
 */
export function settingsInForce(config: GdsConfig): { settings: Record<string, string>; notDefault: string[] } {
  const defaults = defaultSettings() as Partial<GdsConfig>;
  const settings: Record<string, string> = {};
  const notDefault: string[] = [];
  for (const d of SETTING_DESCRIPTORS) {
    const value = config[d.key];
    const shown = d.secret ? (value === undefined ? undefined : "(set)") : formatSetting(d, value);
    if (shown === undefined) continue;
    settings[d.env] = shown;
    if (d.key in defaults && defaults[d.key] !== value) notDefault.push(d.env);
    else if (!(d.key in defaults) && d.key !== "hostname" && d.key !== "dataDir") notDefault.push(d.env);
  }
  return { settings, notDefault };
}

function ensureWritableDir(dir: string): void {
  try {
    makeDirs(dir, 0o700);
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.R_OK);
    const probe = path.join(dir, `.write-probe-${process.pid}`);
    fs.writeFileSync(probe, "");
    fs.unlinkSync(probe);
  } catch (err) {
    throw new ConfigError("GDS_DATA_DIR", `data dir ${dir} is not writable: ${(err as Error).message}`);
  }
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new ConfigError(CONFIG_FILE_NAME, `cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(CONFIG_FILE_NAME, `${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError(CONFIG_FILE_NAME, `${file} must hold a JSON object`);
  }
  const known = new Set<string>(SETTINGS.map((s) => s.key));
  for (const k of Object.keys(parsed)) {
    if (!known.has(k)) throw new ConfigError(CONFIG_FILE_NAME, `unknown key ${JSON.stringify(k)} in ${file}; known keys: ${[...known].join(", ")}`);
  }
  return parsed as Record<string, unknown>;
}
