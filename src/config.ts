import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "./errors.js";

/**
 * Settings: env var = CLI flag of `gds start` = key in `<data dir>/gds.config.json`.
 * Precedence: env > flag > config file > default. Only the composition root reads this.
 */
export interface GdsConfig {
  port: number;
  hostname: string;
  dataDir: string;
  /** Password for the `admin` user created on the first start; undefined → random, printed once. */
  adminPassword?: string;
  logLevel: string;
  /** Accept (and record) unknown client application certificates on the secure channel. */
  acceptUnknownCertificates: boolean;
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
];

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
  const config: GdsConfig = {
    port: 4840,
    hostname: os.hostname(),
    dataDir,
    logLevel: "info",
    acceptUnknownCertificates: true,
  };
  const out = config as unknown as Record<string, unknown>;
  for (const s of SETTINGS) {
    if (env[s.env] !== undefined && env[s.env] !== "") out[s.key] = s.parse(env[s.env], s.env);
    else if (flags[s.flag] !== undefined) out[s.key] = s.parse(flags[s.flag], `--${s.flag}`);
    else if (fileValues[s.key] !== undefined) out[s.key] = s.parse(fileValues[s.key], `${CONFIG_FILE_NAME}: ${s.key}`);
  }
  return config;
}

/**
 * mkdir -p one level at a time: Node's recursive mkdir spins forever on some paths (below /proc,
 * for instance) instead of failing.
 */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  let current = dir;
  while (!fs.existsSync(current)) {
    missing.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const d of missing) fs.mkdirSync(d, { mode: 0o700 });
}

function ensureWritableDir(dir: string): void {
  try {
    makeDirs(dir);
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
