/**
 * Output formats of the `gds` CLI: pure functions from the server's JSON to text. The server
 * returns lists and records as JSON strings (src/admin/admin-model.ts); `--json` prints them
 * re-indented, the default is a table or a key/value listing.
 */
import { formatDuration } from "../duration.js";
import { CliError, ExitCode } from "./cli-error.js";

type Json = Record<string, unknown>;

const APPLICATION_TYPES = ["Server", "Client", "ClientAndServer", "DiscoveryServer"];

/** Parses a JSON result of an admin method; a broken reply is an error, not a crash. */
export function parseJsonResult(text: unknown, what: string): unknown {
  if (typeof text !== "string") {
    throw new CliError(`the server returned no ${what}`, ExitCode.Failure);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CliError(`the server returned invalid JSON for ${what}`, ExitCode.Failure);
  }
}

export function expectArray(value: unknown, what: string): Json[] {
  if (!Array.isArray(value)) throw new CliError(`the server returned no ${what} list`, ExitCode.Failure);
  return value.map((v) => (v && typeof v === "object" ? (v as Json) : {}));
}

export function expectObject(value: unknown, what: string): Json {
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new CliError(`the server returned no ${what}`, ExitCode.Failure);
  }
  return value as Json;
}

export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Text of a value for a table cell or listing; never multi-line. */
function text(value: unknown): string {
  if (value === undefined || value === null) return "";
  const s = typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
  return s.replace(/[\r\n\t]+/g, " ");
}

/** Columns padded to their widest cell, two spaces apart; no trailing blanks. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/** "Server", "Client", … for an ApplicationType number (or string as given). */
export function applicationTypeName(value: unknown): string {
  if (typeof value === "number" && Number.isInteger(value) && APPLICATION_TYPES[value]) return APPLICATION_TYPES[value];
  return text(value);
}

/** The first application name's text (names are LocalizedText {locale, text} or strings). */
export function applicationName(app: Json): string {
  const names = app.applicationNames;
  const first: unknown = Array.isArray(names) ? names[0] : names;
  if (first && typeof first === "object" && "text" in first) return text((first as { text: unknown }).text);
  return text(first);
}

export function formatApplicationsTable(apps: readonly Json[]): string {
  if (apps.length === 0) return "no applications registered\n";
  return formatTable(
    ["APPLICATION ID", "APPLICATION URI", "TYPE", "NAME"],
    apps.map((a) => [text(a.applicationId), text(a.applicationUri), applicationTypeName(a.applicationType), applicationName(a)]),
  );
}

function listOf(value: unknown, item: (v: unknown) => string = text): string[] {
  return Array.isArray(value) ? value.map(item) : value === undefined || value === null ? [] : [item(value)];
}

function localizedName(v: unknown): string {
  if (v && typeof v === "object" && "text" in v) {
    const { text: t, locale } = v as { text: unknown; locale?: unknown };
    return locale ? `${text(t)} [${text(locale)}]` : text(t);
  }
  return text(v);
}

/** One application as `key: value` lines; lists get one line per entry. */
export function formatApplication(app: Json): string {
  const fields: [string, string[]][] = [
    ["applicationId", [text(app.applicationId)]],
    ["applicationUri", [text(app.applicationUri)]],
    ["type", [applicationTypeName(app.applicationType)]],
    ["names", listOf(app.applicationNames, localizedName)],
    ["productUri", [text(app.productUri)]],
    ["discoveryUrls", listOf(app.discoveryUrls)],
    ["serverCapabilities", listOf(app.serverCapabilities)],
    ["createdAt", [text(app.createdAt)]],
    ["updatedAt", [text(app.updatedAt)]],
  ];
  const width = Math.max(...fields.map(([k]) => k.length)) + 1;
  const lines: string[] = [];
  for (const [key, values] of fields) {
    const label = `${key}:`.padEnd(width);
    if (values.length === 0) {
      lines.push(`${label} -`);
      continue;
    }
    values.forEach((v, i) => lines.push(`${i === 0 ? label : " ".repeat(width)} ${v}`.trimEnd()));
  }
  return lines.join("\n") + "\n";
}

export function formatUsersTable(users: readonly Json[]): string {
  if (users.length === 0) return "no users\n";
  const thumbprints = (u: Json) => (Array.isArray(u.certificates) ? u.certificates : []).map((c) => text((c as Json).thumbprint));
  // The CERTIFICATES column (bound X509 user-token certificates) only when some user has one.
  const withCerts = users.some((u) => thumbprints(u).length > 0);
  return formatTable(
    withCerts ? ["NAME", "ROLES", "CREATED", "CERTIFICATES"] : ["NAME", "ROLES", "CREATED"],
    users.map((u) => [text(u.name), listOf(u.roles).join(","), text(u.createdAt), ...(withCerts ? [thumbprints(u).join(",")] : [])]),
  );
}

/**
 * Certificate requests, one block each, newest first: what an approver needs to decide: who asks
 * (application id, URI and name), for what (group, type) and what the certificate will hold
 * (subject, DNS names, IP addresses, as the server's issuance policy decides them).
 */
export function formatRequestsList(requests: readonly Json[], state?: string): string {
  if (requests.length === 0) return `no ${state ? `${state} ` : ""}certificate requests\n`;
  return requests.map((r) => requestBlock(r, false)).join("\n");
}

/** `gds requests show`: one request with everything, the key included. */
export function formatRequest(r: Json): string {
  return requestBlock(r, true);
}

function requestBlock(r: Json, full: boolean): string {
  const rows: [string, string][] = [];
  const add = (label: string, value: unknown) => {
    const v = text(value);
    if (v !== "") rows.push([label, v]);
  };
  add("application", [text(r.applicationId), text(r.applicationUri), r.applicationName ? JSON.stringify(text(r.applicationName)) : ""].filter(Boolean).join("  "));
  if (r.applicationUri === undefined) add("", "(the application is no longer registered)");
  add("group", r.group);
  add("type", r.type);
  add("subject", r.subject);
  add("dns names", listOf(r.dnsNames).join(", ") || "(none)");
  add("ip addresses", listOf(r.ipAddresses).join(", ") || "(none)");
  if (r.issuanceProblem) add("cannot issue", r.issuanceProblem);
  if (full) {
    const key = r.key && typeof r.key === "object" ? (r.key as Json) : undefined;
    if (key) {
      const size = key.curve ? `${text(key.curve)}${key.keySize ? ` (${text(key.keySize)} bits)` : ""}` : key.keySize ? `${text(key.keySize)} bits` : "";
      add("key", `${text(key.keyType)} ${size}${key.source === "generated" ? ", generated by the GDS" : key.source === "csr" ? ", from the CSR" : ""}`.replace(/ ,/, ","));
    }
  }
  add("requested", `${text(r.createdAt)} by ${text(r.requestedBy)}`);
  if (r.decidedAt) add("decided", `${text(r.decidedAt)} by ${text(r.decidedBy)}`);
  if (r.reason) add("reason", r.reason);
  if (r.serialHex) add("serial", r.serialHex);
  const width = Math.max(...rows.map(([l]) => l.length));
  return `request ${text(r.requestId)}  ${text(r.state)}  ${text(r.kind)}\n` + rows.map(([l, v]) => `  ${l.padEnd(width)}  ${v}`.trimEnd()).join("\n") + "\n";
}

/** `gds clients list`: client application certificates the server trusts or has seen. */
export function formatClientsTable(clients: readonly Json[]): string {
  if (clients.length === 0) return "no client certificates (none trusted, none seen)\n";
  return formatTable(
    ["THUMBPRINT", "STATE", "APPLICATION URI", "SUBJECT", "NOT AFTER", "LAST SEEN", "CONNECTIONS", "LAST ANSWER"],
    clients.map((c) => [
      text(c.thumbprint),
      text(c.state),
      text(c.applicationUri),
      text(c.subject),
      text(c.notAfter),
      text(c.lastSeen),
      c.connections === undefined ? "" : text(c.connections),
      c.verdict === undefined ? "" : `${text(c.verdict)} (${text(c.status)})`,
    ]),
  );
}

/** `gds certs list`: issued certificates as the server sorted them (notAfter, soonest first). */
export function formatCertificatesTable(certs: readonly Json[]): string {
  if (certs.length === 0) return "no certificates\n";
  return formatTable(
    ["NOT AFTER", "STATE", "SERIAL", "GROUP", "TYPE", "APPLICATION ID", "APPLICATION URI"],
    certs.map((c) => [text(c.notAfter), text(c.state), text(c.serialHex), text(c.group), text(c.type), text(c.applicationId), text(c.applicationUri)]),
  );
}

/** `gds certs revoke`: what was revoked now, and what already was. */
export function formatRevoked(result: Json): string {
  const revoked = Array.isArray(result.revoked) ? (result.revoked as Json[]) : [];
  const already = Array.isArray(result.alreadyRevoked) ? (result.alreadyRevoked as Json[]) : [];
  const lines: string[] = [];
  for (const c of revoked) {
    lines.push(`revoked certificate ${text(c.serialHex)} (${text(c.group)}, ${text(c.type)}) of application ${text(c.applicationId)}, reason ${text(c.revocationReason) || "unspecified"}`);
  }
  for (const c of already) {
    lines.push(`certificate ${text(c.serialHex)} of application ${text(c.applicationId)} was already revoked at ${text(c.revokedAt)}${c.revocationReason ? ` (${text(c.revocationReason)})` : ""}`);
  }
  if (lines.length === 0) lines.push("nothing to revoke: no unexpired certificate");
  return lines.join("\n") + "\n";
}

/** `gds ca show`: one block per certificate group. */
export function formatCaInfo(groups: readonly Json[]): string {
  const blocks = groups.map((g) => {
    const crl = g.crl && typeof g.crl === "object" ? (g.crl as Json) : {};
    const fields: [string, string][] = [
      ["subject", text(g.subject)],
      ["serial", text(g.serialHex)],
      ["notBefore", text(g.notBefore)],
      ["notAfter", text(g.notAfter)],
      ["keyType", text(g.keyType)],
      ["thumbprint", text(g.thumbprint)],
      ["crlNumber", text(crl.crlNumber)],
      ["crlThisUpdate", text(crl.thisUpdate)],
      ["crlNextUpdate", text(crl.nextUpdate)],
    ];
    const width = Math.max(...fields.map(([k]) => k.length)) + 1;
    return [`${text(g.group)}:`, ...fields.map(([k, v]) => `  ${`${k}:`.padEnd(width)} ${v || "-"}`.trimEnd())].join("\n");
  });
  return blocks.join("\n\n") + "\n";
}

/** `gds audit`: one line per entry, oldest first; a first line says when older entries were left out. */
export function formatAuditLog(result: Json): string {
  const entries = Array.isArray(result.entries) ? (result.entries as Json[]) : [];
  const lines: string[] = [];
  if (result.truncated === true) {
    lines.push(`(showing the newest ${entries.length} of ${text(result.total)} entries; use --since or --limit for others)`);
  }
  if (typeof result.damagedLines === "number" && result.damagedLines > 0) {
    lines.push(`(${result.damagedLines} damaged line(s) in the audit log were skipped; see the server log)`);
  }
  if (entries.length === 0) lines.push("no audit entries");
  const extras: [string, string][] = [
    ["app", "applicationId"],
    ["uri", "applicationUri"],
    ["request", "requestId"],
    ["group", "group"],
    ["type", "certificateType"],
    ["serial", "serialHex"],
    ["thumbprint", "thumbprint"],
    ["user", "userName"],
    ["from", "clientAddress"],
  ];
  for (const e of entries) {
    const parts = [text(e.time), text(e.event), text(e.actor), text(e.outcome)];
    for (const [label, field] of extras) if (e[field] !== undefined && e[field] !== "") parts.push(`${label}=${text(e[field])}`);
    if (e.detail) parts.push(`- ${text(e.detail)}`);
    lines.push(parts.join("  "));
  }
  return lines.join("\n") + "\n";
}

/** Messages of the commands that change something. */
export const formatDone = {
  appRemoved: (id: string) => `removed application ${id}\n`,
  userAdded: (name: string, roles: readonly string[]) => `added user ${name} with roles ${roles.join(", ")}\n`,
  userRemoved: (name: string) => `removed user ${name}\n`,
  userCertificateBound: (name: string, thumbprint: string) => `bound certificate ${thumbprint} to user ${name}: X509 user tokens with exactly this certificate log in as ${name}\n`,
  userRolesSet: (name: string, roles: readonly string[]) => `user ${name} now has roles ${roles.join(", ")}\n`,
  passwordSet: (name: string) => `password of user ${name} changed\n`,
  clientTrusted: (c: Json) => `trusted client certificate ${text(c.thumbprint)} (${text(c.applicationUri) || text(c.subject)})\n`,
  clientRemoved: (c: Json) =>
    `removed client certificate ${text(c.thumbprint)} (${text(c.applicationUri) || text(c.subject)}) from the ${c.state === "trusted" ? "trusted certificates" : "seen list"}\n`,
  requestApproved: (r: Json) => `approved request ${text(r.requestId)} of application ${text(r.applicationId)} (state ${text(r.state)})\n`,
  requestRejected: (r: Json) =>
    `rejected request ${text(r.requestId)} of application ${text(r.applicationId)}${r.reason ? `: ${text(r.reason)}` : ""}\n`,
};

// --- push management (issue 4) -------------------------------------------------------------------

function pushStatusOf(t: Json): Json {
  return t.status && typeof t.status === "object" ? (t.status as Json) : {};
}

function pushIdentity(t: Json): string {
  const id = (t.identity ?? {}) as Json;
  return id.kind === "certificate" ? "GDS certificate" : id.kind === "userName" ? `user ${text(id.userName)}` : "";
}

function pushResult(s: Json): string {
  if (s.running === true) return "running";
  // GDS_AUTO_APPROVE=false: the device's signing request waits for a RegistrationAuthorityAdmin.
  if (s.lastResult === "waitingForApproval") return `waiting for approval (request ${text(s.pendingRequestId)})`;
  if (s.lastResult === "failed") {
    const e = (s.lastError ?? {}) as Json;
    return `failed (${text(e.step)}: ${text(e.statusCode)})`;
  }
  if (s.lastResult === "ok") return s.pendingRequestId ? `ok, certificate waiting for approval (request ${text(s.pendingRequestId)})` : "ok";
  return s.pushRequestedAt ? "requested" : "never pushed";
}

/** `gds push set`: the stored target (no password). */
export function formatPushTarget(t: Json): string {
  return [
    `push target set for ${text(t.applicationId)}${t.applicationUri ? ` (${text(t.applicationUri)})` : ""}`,
    `  endpoint:     ${text(t.endpointUrl)} ${text(t.securityPolicy)} ${text(t.securityMode)}`,
    `  identity:     ${pushIdentity(t)}`,
    `  new key pair: ${t.regeneratePrivateKey === false ? "no" : "yes"}`,
    `  group:        ${text(t.group)}`,
  ].join("\n") + "\n";
}

/** `gds push status`: one line per push target. */
export function formatPushStatusTable(list: readonly Json[]): string {
  if (list.length === 0) return "no push targets\n";
  return formatTable(
    ["APPLICATION", "ENDPOINT", "RESULT", "LAST ATTEMPT", "LAST SUCCESS", "SERIAL", "NOT AFTER", "FAILURES", "NEXT RETRY"],
    list.map((t) => {
      const s = pushStatusOf(t);
      const cert = (s.certificate ?? {}) as Json;
      return [text(t.applicationId), text(t.endpointUrl), pushResult(s), text(s.lastAttempt), text(s.lastSuccess), text(cert.serialHex), text(cert.notAfter), text(s.consecutiveFailures ?? 0), text(s.nextAttemptAt)];
    }),
  );
}

/** `gds push status ID` and `gds push now ID`: one device in detail. */
export function formatPushStatus(t: Json): string {
  const s = pushStatusOf(t);
  const cert = (s.certificate ?? {}) as Json;
  const tl = (s.trustList ?? {}) as Json;
  const e = (s.lastError ?? {}) as Json;
  const lines: [string, string][] = [
    ["application", `${text(t.applicationId)}${t.applicationUri ? ` (${text(t.applicationUri)})` : ""}`],
    ["endpoint", `${text(t.endpointUrl)} ${text(t.securityPolicy)} ${text(t.securityMode)}`],
    ["identity", pushIdentity(t)],
    ["result", pushResult(s)],
    ["last attempt", `${text(s.lastAttempt)}${s.lastReason ? ` (${text(s.lastReason)})` : ""}`],
    ["last success", text(s.lastSuccess)],
    ["certificate", cert.serialHex ? `serial ${text(cert.serialHex)}, valid until ${text(cert.notAfter)}` : "none confirmed"],
    ["trust list", tl.lastUpdateTime ? `LastUpdateTime ${text(tl.lastUpdateTime)}, pushed ${text(tl.pushedAt)}` : "never confirmed"],
    ["failures", text(s.consecutiveFailures ?? 0)],
  ];
  if (s.nextAttemptAt) lines.push(["next retry", text(s.nextAttemptAt)]);
  if (s.pendingRequestId) {
    lines.push(["waiting for approval", `signing request ${text(s.pendingRequestId)} since ${text(s.pendingRequestSince)}: approve it (gds requests approve ${text(s.pendingRequestId)}) and the next cycle delivers its certificate`]);
  }
  if (s.pushRequestedAt) lines.push(["push requested", `${text(s.pushRequestedAt)} by ${text(s.pushRequestedBy)}`]);
  if (s.lastError) lines.push(["last error", `${text(e.step)}: ${text(e.statusCode)}: ${text(e.message)} (${text(e.at)})`]);
  if (s.unconfirmedSerialHex) lines.push(["unconfirmed", `serial ${text(s.unconfirmedSerialHex)} was signed but the device was not seen using it`]);
  if (Array.isArray(s.steps) && s.steps.length > 0) {
    lines.push(["steps", (s.steps as Json[]).map((st) => `${text(st.step)} ${text(st.ms)} ms${st.statusCode ? ` ${text(st.statusCode)}` : ""}`).join(", ")]);
  }
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join("\n") + "\n";
}

/** An uptime as operators read it: 3d 4h 5m, 4h 5m 6s, 6s. */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = d > 0 ? [`${d}d`, `${h}h`, `${m}m`] : h > 0 ? [`${h}h`, `${m}m`, `${s % 60}s`] : m > 0 ? [`${m}m`, `${s % 60}s`] : [`${s}s`];
  return parts.join(" ");
}

/** `gds status`: one figure per line. */
export function formatStatus(st: Json): string {
  const c = (st.certificates ?? {}) as Json;
  const renew = typeof st.renewBeforeSeconds === "number" ? formatDuration(st.renewBeforeSeconds * 1000) : "GDS_RENEW_BEFORE";
  const push = (v: unknown) => (v === null || v === undefined ? "- (no push management)" : text(v));
  const lines: [string, string][] = [
    ["endpoint", text(st.endpoint)],
    ["uptime", `${formatUptime(Number(st.uptimeSeconds ?? 0))} (since ${text(st.startedAt)})`],
    ["applications", text(st.applications)],
    ["certificates", `${text(c.valid)} valid, ${text(c.expiring)} expiring within ${renew}, ${text(c.expired)} expired, ${text(c.revoked)} revoked`],
    ["pending requests", text(st.pendingRequests)],
    ["push-managed devices", push(st.pushManagedDevices)],
    ["failed pushes", push(st.failedPushes)],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join("\n") + "\n";
}
