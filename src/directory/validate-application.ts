/**
 * Validation of an ApplicationRecordDataType given to RegisterApplication / UpdateApplication
 * (OPC 10000-12 §3 rules plus the .NET reference GDS checks). Every failure is
 * GdsError("BadInvalidArgument", "<Field>: <what is wrong>"), with the OPC UA field name.
 *
 * Input is whatever the OPC UA layer decoded: null strings, null arrays and null array elements
 * are expected. Null arrays count as empty; null required strings as missing. Lengths are checked
 * before any pattern is applied, so the cost is O(size of input) even for hostile values.
 */
import { GdsError } from "../errors.js";
import { ApplicationKind, type ApplicationInput, type LocalizedName } from "./application-record.js";
import {
  MAX_APPLICATION_NAME_LENGTH,
  MAX_APPLICATION_NAMES,
  MAX_DISCOVERY_URL_LENGTH,
  MAX_DISCOVERY_URLS,
  MAX_LOCALE_LENGTH,
  MAX_SERVER_CAPABILITIES,
  MAX_SERVER_CAPABILITY_LENGTH,
  MAX_URI_LENGTH,
} from "./limits.js";

function bad(field: string, problem: string): GdsError {
  return new GdsError("BadInvalidArgument", `${field}: ${problem}`);
}

/** Characters a URI never holds unescaped: whitespace (any Unicode space), controls, <>"{}|\^` */
const FORBIDDEN_URI_CHAR = /[\s\u0000-\u001f\u007f-\u009f<>"{}|\\^`]/u;
const MALFORMED_PERCENT = /%(?![0-9A-Fa-f]{2})/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/** Short, printable excerpt of a (possibly huge) value for error messages. */
function excerpt(value: string): string {
  const s = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return JSON.stringify(s);
}

/**
 * Checks an absolute URI (RFC 3986 `scheme ":" rest`, e.g. urn:, http:, opc.tcp:) and returns
 * the reason it is not one, or null when it is. Non-ASCII characters are allowed (IRIs);
 * whitespace, control characters and malformed %-escapes are not.
 */
export function absoluteUriProblem(value: string, maxLength: number = MAX_URI_LENGTH): string | null {
  if (value.length === 0) return "must not be empty";
  if (value.length > maxLength) return `longer than ${maxLength} characters (got ${value.length})`;
  const scheme = SCHEME.exec(value);
  if (!scheme) return `${excerpt(value)} is not an absolute URI (no scheme such as urn: or opc.tcp:)`;
  if (scheme[0].length === value.length) return `${excerpt(value)} has nothing after the scheme`;
  const forbidden = FORBIDDEN_URI_CHAR.exec(value);
  if (forbidden) {
    return `${excerpt(value)} contains a character not allowed in a URI (${JSON.stringify(forbidden[0])} at offset ${forbidden.index})`;
  }
  const pct = MALFORMED_PERCENT.exec(value);
  if (pct) return `${excerpt(value)} has a malformed %-escape at offset ${pct.index}`;
  return null;
}

const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2}|[^\u0000-\u007f])+$/u;
/** `[IPv6]`, `[IPv6%25zone]` (RFC 6874) or `[vX.future]`. */
const IP_LITERAL = /^\[(?:[0-9A-Fa-f:.]+(?:%25(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})+)?|[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\]$/;
const PORT = /^[0-9]{0,5}$/;
const RCP_PREFIX = "rcp+";

/** True when the DiscoveryUrl is a reverse-connect URL (`rcp+` prefix, any case). */
export function isReverseConnectUrl(url: string): boolean {
  return url.length >= 4 && url.slice(0, 4).toLowerCase() === RCP_PREFIX;
}

/** The reason `url` (already stripped of `rcp+`) is not `scheme://host[:port][/...]`, or null. */
function discoveryUrlProblem(url: string): string | null {
  const uriProblem = absoluteUriProblem(url, MAX_DISCOVERY_URL_LENGTH);
  if (uriProblem) return uriProblem;
  const scheme = SCHEME.exec(url)![0];
  if (!url.startsWith("//", scheme.length)) return `${excerpt(url)} has no "//" authority after the scheme`;
  const authorityStart = scheme.length + 2;
  let authorityEnd = url.length;
  for (let i = authorityStart; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x2f /* / */ || c === 0x3f /* ? */ || c === 0x23 /* # */) {
      authorityEnd = i;
      break;
    }
  }
  let authority = url.slice(authorityStart, authorityEnd);
  const at = authority.lastIndexOf("@");
  if (at >= 0) authority = authority.slice(at + 1);
  let host: string;
  let port = "";
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) return `${excerpt(url)} has an unclosed IPv6 literal`;
    host = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest.length > 0) {
      if (!rest.startsWith(":")) return `${excerpt(url)} has text after the IPv6 literal`;
      port = rest.slice(1);
    }
    if (!IP_LITERAL.test(host)) return `${excerpt(url)} has a malformed IP literal`;
  } else {
    const colon = authority.indexOf(":");
    host = colon >= 0 ? authority.slice(0, colon) : authority;
    port = colon >= 0 ? authority.slice(colon + 1) : "";
    if (host.length === 0) return `${excerpt(url)} has no host`;
    if (!REG_NAME.test(host)) return `${excerpt(url)} has an invalid host`;
  }
  if (!PORT.test(port) || (port.length > 0 && Number(port) > 65535)) {
    return `${excerpt(url)} has an invalid port`;
  }
  return null;
}

const CAPABILITY = /^[A-Za-z0-9]+$/;
const FORBIDDEN_LOCALE_CHAR = /[\s\u0000-\u001f\u007f-\u009f]/u;

type Indexable = Record<string, unknown>;

/** Reads an array field: null/undefined → []; anything else but an array → error. */
function arrayField(obj: Indexable, key: string, field: string, max: number): unknown[] {
  const v = obj[key];
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) throw bad(field, "must be an array");
  if (v.length > max) throw bad(field, `at most ${max} entries are allowed (got ${v.length})`);
  return v;
}

function requiredUri(obj: Indexable, key: string, field: string): string {
  const v = obj[key];
  if (v === null || v === undefined) throw bad(field, "is required");
  if (typeof v !== "string") throw bad(field, "must be a string");
  const problem = absoluteUriProblem(v);
  if (problem) throw bad(field, problem);
  return v;
}

function validateName(entry: unknown, index: number): LocalizedName {
  const field = `ApplicationNames[${index}]`;
  if (entry === null || entry === undefined) throw bad(field, "must not be null");
  if (typeof entry !== "object") throw bad(field, "must be a LocalizedText");
  const { text, locale } = entry as Indexable;
  if (text === null || text === undefined) throw bad(`${field}.Text`, "is required");
  if (typeof text !== "string") throw bad(`${field}.Text`, "must be a string");
  const trimmed = text.trim();
  if (trimmed.length === 0) throw bad(`${field}.Text`, "must not be empty");
  if (trimmed.length > MAX_APPLICATION_NAME_LENGTH) {
    throw bad(`${field}.Text`, `longer than ${MAX_APPLICATION_NAME_LENGTH} characters (got ${trimmed.length})`);
  }
  let normalisedLocale: string | null = null;
  if (locale !== null && locale !== undefined) {
    if (typeof locale !== "string") throw bad(`${field}.Locale`, "must be a string");
    if (locale.length > MAX_LOCALE_LENGTH) {
      throw bad(`${field}.Locale`, `longer than ${MAX_LOCALE_LENGTH} characters (got ${locale.length})`);
    }
    if (FORBIDDEN_LOCALE_CHAR.test(locale)) throw bad(`${field}.Locale`, "must not contain whitespace or control characters");
    normalisedLocale = locale.length > 0 ? locale : null;
  }
  return { locale: normalisedLocale, text: trimmed };
}

/**
 * Validates an application record given by a client and returns a normalised copy holding only
 * the ApplicationInput fields (names trimmed, empty locales → null, null arrays → []). Any
 * ApplicationId or other field in the input is ignored.
 *
 * Rules: ApplicationUri and ProductUri absolute URIs (≤ MAX_URI_LENGTH); ApplicationType 0..3;
 * 1..MAX_APPLICATION_NAMES names with non-empty text; DiscoveryUrls `[rcp+]scheme://host[:port]...`;
 * Server/DiscoveryServer: ≥1 DiscoveryUrl, none `rcp+`; ClientAndServer: ≥1 non-`rcp+` URL and
 * `RCP` among the capabilities if any URL is `rcp+`; Client: DiscoveryUrls optional, but if given
 * all `rcp+` and `RCP` among the capabilities; ServerCapabilities: tokens of 1..32 letters/digits,
 * no duplicates (case-insensitive), `NA` and `LDS` only on their own.
 */
export function validateApplication(input: unknown): ApplicationInput {
  if (input === null || input === undefined || typeof input !== "object" || Array.isArray(input)) {
    throw bad("Application", "an ApplicationRecordDataType is required");
  }
  const obj = input as Indexable;

  const applicationUri = requiredUri(obj, "applicationUri", "ApplicationUri");

  const applicationType = obj["applicationType"];
  if (
    typeof applicationType !== "number" ||
    !Number.isInteger(applicationType) ||
    applicationType < ApplicationKind.Server ||
    applicationType > ApplicationKind.DiscoveryServer
  ) {
    throw bad("ApplicationType", `must be 0 (Server), 1 (Client), 2 (ClientAndServer) or 3 (DiscoveryServer); got ${String(applicationType).slice(0, 40)}`);
  }

  const rawNames = arrayField(obj, "applicationNames", "ApplicationNames", MAX_APPLICATION_NAMES);
  if (rawNames.length === 0) throw bad("ApplicationNames", "at least one name is required");
  const applicationNames = rawNames.map(validateName);

  const productUri = requiredUri(obj, "productUri", "ProductUri");

  const rawUrls = arrayField(obj, "discoveryUrls", "DiscoveryUrls", MAX_DISCOVERY_URLS);
  const discoveryUrls: string[] = [];
  let reverseCount = 0;
  for (let i = 0; i < rawUrls.length; i++) {
    const field = `DiscoveryUrls[${i}]`;
    const url = rawUrls[i];
    if (url === null || url === undefined) throw bad(field, "must not be null");
    if (typeof url !== "string") throw bad(field, "must be a string");
    if (url.length === 0) throw bad(field, "must not be empty");
    if (url.length > MAX_DISCOVERY_URL_LENGTH) {
      throw bad(field, `longer than ${MAX_DISCOVERY_URL_LENGTH} characters (got ${url.length})`);
    }
    const reverse = isReverseConnectUrl(url);
    const problem = discoveryUrlProblem(reverse ? url.slice(RCP_PREFIX.length) : url);
    if (problem) throw bad(field, problem);
    if (reverse) reverseCount++;
    discoveryUrls.push(url);
  }

  const rawCaps = arrayField(obj, "serverCapabilities", "ServerCapabilities", MAX_SERVER_CAPABILITIES);
  const serverCapabilities: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < rawCaps.length; i++) {
    const field = `ServerCapabilities[${i}]`;
    const cap = rawCaps[i];
    if (cap === null || cap === undefined) throw bad(field, "must not be null");
    if (typeof cap !== "string") throw bad(field, "must be a string");
    if (cap.length === 0 || cap.length > MAX_SERVER_CAPABILITY_LENGTH || !CAPABILITY.test(cap)) {
      throw bad(field, `${excerpt(cap)} is not a capability identifier (1..${MAX_SERVER_CAPABILITY_LENGTH} letters or digits, e.g. DA, HD, LDS, RCP)`);
    }
    const key = cap.toUpperCase();
    if (seen.has(key)) throw bad(field, `${excerpt(cap)} is listed twice`);
    seen.add(key);
    serverCapabilities.push(cap);
  }
  for (const alone of ["NA", "LDS"]) {
    if (seen.has(alone) && seen.size > 1) {
      throw bad("ServerCapabilities", `${alone} must not be combined with other capabilities`);
    }
  }
  const hasRcp = seen.has("RCP");

  switch (applicationType) {
    case ApplicationKind.Server:
    case ApplicationKind.DiscoveryServer: {
      const kind = applicationType === ApplicationKind.Server ? "a Server" : "a DiscoveryServer";
      if (discoveryUrls.length === 0) throw bad("DiscoveryUrls", `at least one is required for ${kind}`);
      if (reverseCount > 0) {
        throw bad("DiscoveryUrls", `reverse-connect (rcp+) URLs are only allowed for Client and ClientAndServer, not for ${kind}`);
      }
      break;
    }
    case ApplicationKind.ClientAndServer:
      if (discoveryUrls.length - reverseCount === 0) {
        throw bad("DiscoveryUrls", "at least one non-reverse-connect (not rcp+) URL is required for a ClientAndServer");
      }
      if (reverseCount > 0 && !hasRcp) {
        throw bad("ServerCapabilities", "must contain RCP when a DiscoveryUrl is reverse-connect (rcp+)");
      }
      break;
    case ApplicationKind.Client:
      if (reverseCount < discoveryUrls.length) {
        throw bad("DiscoveryUrls", "a Client may only list reverse-connect (rcp+) URLs");
      }
      if (discoveryUrls.length > 0 && !hasRcp) {
        throw bad("ServerCapabilities", "must contain RCP for a Client with reverse-connect DiscoveryUrls");
      }
      break;
  }

  return { applicationUri, applicationType, applicationNames, productUri, discoveryUrls, serverCapabilities };
}
