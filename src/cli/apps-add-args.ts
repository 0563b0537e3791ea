/**
 * `gds apps add`: registers an application through the admin object's AddApplication, from flags
 * or from what the device announces at its endpoint (GetEndpoints, read by the CLI: the admin's
 * machine is the one that can reach the device). Parsing only; no node-opcua here.
 */
import type { AdminOptions } from "./args.js";
import { CliError, ExitCode } from "./cli-error.js";

export const APPLICATION_TYPE_NAMES = ["Server", "Client", "ClientAndServer", "DiscoveryServer"] as const;

export interface AppsAddCommand {
  kind: "apps add";
  admin: AdminOptions;
  /** The device's endpoint to read its ApplicationDescription from (GetEndpoints, SecurityPolicy None). */
  fromEndpoint?: string;
  /** Explicit values; each overrides what was read from the endpoint. */
  applicationUri?: string;
  name?: string;
  /** 0 Server, 1 Client, 2 ClientAndServer, 3 DiscoveryServer. */
  applicationType?: number;
  productUri?: string;
  /** Given (≥ 1 --discovery-url): replaces the device's list. */
  discoveryUrls?: string[];
  capabilities?: string[];
}

/** The flags of `gds apps add` besides --endpoint/--json/--help (node:util parseArgs options). */
export const APPS_ADD_OPTIONS = {
  uri: { type: "string" },
  name: { type: "string" },
  type: { type: "string" },
  "product-uri": { type: "string" },
  "discovery-url": { type: "string", multiple: true },
  capability: { type: "string", multiple: true },
  "from-endpoint": { type: "string" },
} as const;

export interface AppsAddValues {
  uri?: string;
  name?: string;
  type?: string;
  "product-uri"?: string;
  "discovery-url"?: string[];
  capability?: string[];
  "from-endpoint"?: string;
}

/** scheme:rest, as an ApplicationUri or ProductUri must be (the server checks the details). */
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/;
/** [rcp+]scheme://authority[...] (the server checks the details). */
const DISCOVERY_URL = /^(rcp\+)?[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/?#]+\S*$/i;
const OPC_TCP_URL = /^opc\.tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/:[\]]+)(:\d{1,5})?(\/\S*)?$/;

function usageError(message: string, usage: string): CliError {
  return new CliError(message, ExitCode.Usage, usage);
}

function trimmed(value: string | undefined, flag: string, usage: string): string | undefined {
  if (value === undefined) return undefined;
  const s = value.trim();
  if (s === "") throw usageError(`${flag} must not be empty`, usage);
  return s;
}

/** "Server", "client", "ClientAndServer", "discoveryserver" or 0–3 → the ApplicationType number. */
export function parseApplicationType(text: string, usage: string): number {
  const s = text.trim();
  if (/^[0-3]$/.test(s)) return Number(s);
  const i = APPLICATION_TYPE_NAMES.findIndex((n) => n.toLowerCase() === s.toLowerCase());
  if (i < 0) throw usageError(`invalid --type ${JSON.stringify(text)}: expected one of ${APPLICATION_TYPE_NAMES.join(", ")}`, usage);
  return i;
}

/** Everything of the command but `kind` and `admin`; usage errors exit 2. */
export function parseAppsAddValues(values: AppsAddValues, usage: string): Omit<AppsAddCommand, "kind" | "admin"> {
  const fromEndpoint = trimmed(values["from-endpoint"], "--from-endpoint", usage);
  if (fromEndpoint !== undefined && !OPC_TCP_URL.test(fromEndpoint)) {
    throw usageError(`invalid --from-endpoint ${JSON.stringify(fromEndpoint)}: expected the device's opc.tcp://host[:port][/path]`, usage);
  }
  const applicationUri = trimmed(values.uri, "--uri", usage);
  const name = trimmed(values.name, "--name", usage);
  if (fromEndpoint === undefined) {
    if (applicationUri === undefined) throw usageError("missing --uri URN (the application's ApplicationUri), or --from-endpoint URL", usage);
    if (name === undefined) throw usageError("missing --name NAME (the application's name), or --from-endpoint URL", usage);
  }
  if (applicationUri !== undefined && !ABSOLUTE_URI.test(applicationUri)) {
    throw usageError(`invalid --uri ${JSON.stringify(applicationUri)}: expected an absolute URI such as urn:plc7:vendor:device`, usage);
  }
  const productUri = trimmed(values["product-uri"], "--product-uri", usage);
  if (productUri !== undefined && !ABSOLUTE_URI.test(productUri)) {
    throw usageError(`invalid --product-uri ${JSON.stringify(productUri)}: expected an absolute URI such as urn:vendor:product`, usage);
  }
  const applicationType = values.type === undefined ? undefined : parseApplicationType(values.type, usage);
  let discoveryUrls: string[] | undefined;
  if (values["discovery-url"] !== undefined) {
    discoveryUrls = values["discovery-url"].map((u) => trimmed(u, "--discovery-url", usage)!);
    for (const url of discoveryUrls) {
      if (!DISCOVERY_URL.test(url)) throw usageError(`invalid --discovery-url ${JSON.stringify(url)}: expected scheme://host[:port][/path], e.g. opc.tcp://plc7:4840`, usage);
    }
  }
  const capabilities = values.capability?.map((c) => trimmed(c, "--capability", usage)!);
  return {
    ...(fromEndpoint !== undefined ? { fromEndpoint } : {}),
    ...(applicationUri !== undefined ? { applicationUri } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(applicationType !== undefined ? { applicationType } : {}),
    ...(productUri !== undefined ? { productUri } : {}),
    ...(discoveryUrls !== undefined ? { discoveryUrls } : {}),
    ...(capabilities !== undefined ? { capabilities } : {}),
  };
}
