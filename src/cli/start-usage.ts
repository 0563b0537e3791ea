import { defaultSettings, formatSetting, SETTING_DESCRIPTORS, type SettingDescriptor } from "../config.js";

/** What `gds start --help` says about one flag: its argument, its meaning and, where the default is not a plain value, the default in words. */
export interface StartFlagHelp {
  arg: string;
  text: string;
  defaultText?: string;
}

/**
 * One entry per setting (keyed by flag). A setting without one is still listed (flag, env var,
 * default); a unit test insists on a description for each.
 */
export const START_FLAG_HELP: Record<string, StartFlagHelp> = {
  port: { arg: "N", text: "opc.tcp port" },
  hostname: { arg: "NAME", text: "host name in endpoint URLs and in the server's own certificate", defaultText: "this machine's host name" },
  "data-dir": { arg: "DIR", text: "all state: certificates, CA keys, database, users, audit.log", defaultText: "./pki" },
  "admin-password": {
    arg: "PW",
    text: "password of user admin, created on the first start (other local users can read a command line: prefer --admin-password-file)",
    defaultText: "random, written to initial-admin-password in the data dir",
  },
  "admin-password-file": { arg: "FILE", text: "read that password from FILE (one trailing newline is not part of it)", defaultText: "none" },
  "log-level": { arg: "LEVEL", text: "fatal, error, warn, info, debug, trace or silent" },
  "accept-unknown-certificates": { arg: "B", text: "admit client certificates nobody trusted, per connection (never added to the trust store)" },
  "max-seen-client-certificates": { arg: "N", text: "unknown client certificates listed in <data dir>/server-pki/seen" },
  "ca-key-size": { arg: "N", text: "RSA bits of the CA keys made on the first start: 2048, 3072 or 4096" },
  "ca-lifetime": { arg: "DUR", text: "validity of the CA certificates made on the first start" },
  "ca-subject": { arg: "DN", text: "subject of the CA certificates made on the first start; {group} becomes the group's name" },
  "ca-cert-file": { arg: "FILE", text: "on the first start, import this CA certificate (PEM or DER) for DefaultApplicationGroup instead of making one", defaultText: "none" },
  "ca-key-file": { arg: "FILE", text: "its private key (PEM); set both or neither", defaultText: "none" },
  "cert-lifetime": { arg: "DUR", text: "lifetime of issued certificates" },
  "renew-before": { arg: "DUR", text: "a certificate with less left is due for renewal (GetCertificateStatus, push)" },
  "auto-approve": { arg: "B", text: "approve certificate requests at once; false queues them for a RegistrationAuthorityAdmin (gds requests)" },
  "cert-organization": { arg: "NAME", text: "O= of every issued certificate", defaultText: "none" },
  "max-certificates-per-day": { arg: "N", text: "per application and certificate group" },
  "crl-lifetime": { arg: "DUR", text: "nextUpdate of each CRL; CRLs are re-signed at half-life" },
  "push-interval": { arg: "DUR", text: "how often push management looks for work" },
  "push-concurrency": { arg: "N", text: "push cycles at once" },
  "push-timeout": { arg: "DUR", text: "per call to a push-managed device" },
  "http-port": { arg: "N", text: "GET /metrics and /healthz; 0 = off" },
  "http-host": { arg: "ADDR", text: "address the HTTP listener binds" },
  "bind-address": { arg: "ADDR", text: "address the opc.tcp listener binds", defaultText: "all interfaces" },
  "max-sessions": { arg: "N", text: "sessions of the whole server" },
  "reserved-authenticated-sessions": { arg: "N", text: "kept for user/X509 logons" },
  "max-channels-per-address": { arg: "N", text: "connections per client IP" },
  "max-anonymous-sessions-per-address": { arg: "N", text: "activated anonymous sessions per client IP" },
  "max-pending-sessions-per-address": { arg: "N", text: "sessions not yet activated per client IP" },
  "session-activation-timeout": { arg: "DUR", text: "a session not activated by then is closed" },
  "anonymous-session-timeout": { arg: "DUR", text: "idle anonymous sessions close" },
  "max-records-per-query": { arg: "N", text: "records per QueryApplications/QueryServers call (MaxRecordsToReturn 0 or larger gets this)" },
  "query-budget-ms": { arg: "N", text: "directory scan ms per second per session (anonymous ones of one address: 4x); 0 = unlimited" },
};

const WIDTH = 100;
const TEXT_COLUMN = 36;

function defaultOf(d: SettingDescriptor, help: StartFlagHelp | undefined): string {
  if (help?.defaultText) return help.defaultText;
  return formatSetting(d, (defaultSettings() as Record<string, unknown>)[d.key]) ?? "none";
}

/** Words of `text` in lines of at most `width` characters, the first after `first`, the others indented by `indent`. */
function wrap(first: string, text: string, indent: number): string {
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(" ")) {
    if (line.length + 1 + word.length > WIDTH && line.trim() !== "") {
      lines.push(line);
      line = " ".repeat(indent) + word;
    } else {
      line = line.length === 0 || line.endsWith(" ") ? line + word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join("\n");
}

function flagLines(d: SettingDescriptor): string {
  const help = START_FLAG_HELP[d.flag];
  const head = `  --${d.flag}${help ? ` ${help.arg}` : ""}`;
  const text = `${d.env} (${defaultOf(d, help)})${help ? `: ${help.text}` : ""}`;
  if (head.length < TEXT_COLUMN - 1) return wrap(head.padEnd(TEXT_COLUMN), text, TEXT_COLUMN);
  return `${head}\n${wrap(" ".repeat(TEXT_COLUMN), text, TEXT_COLUMN)}`;
}

/** `gds start --help`: every setting, generated from the settings themselves. */
export function startUsage(): string {
  return `Usage: gds start [options]

Runs the GDS server in the foreground. Every option is also an env var and a key in
<data dir>/gds.config.json; env vars win over flags, flags over the file. DUR is a duration: an
integer and a unit, e.g. 90s, 10m, 12h, 365d, 20y. The start log lists the settings in force.
SIGTERM/SIGINT stop it; SIGHUP reopens <data dir>/audit.log (log rotation, pid in gds.lock).

${SETTING_DESCRIPTORS.map(flagLines).join("\n")}
`;
}
