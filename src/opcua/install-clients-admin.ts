import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { OPCUACertificateManager } from "node-opcua";
import type { AuditLog } from "../audit/audit-log.types.js";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AccessPolicy } from "./access-policy.js";
import { stringArg } from "./arguments.js";
import type { AdminBody } from "./install-admin.js";
import type { SeenClientCertificate, SeenClientCertificates } from "./seen-client-certificates.js";

export interface ClientsAdminOptions {
  /** The PKI that judges client certificates on secure channels (server-pki). */
  pki: OPCUACertificateManager;
  seen: SeenClientCertificates;
  access: AccessPolicy;
  audit: AuditLog;
  log: Logger;
}

/** A client application certificate as ListClientCertificates shows it. */
export interface ClientCertificateEntry {
  thumbprint: string;
  state: "trusted" | "seen";
  subject: string;
  applicationUri: string;
  notBefore: string;
  notAfter: string;
  firstSeen?: string;
  lastSeen?: string;
  connections?: number;
  verdict?: SeenClientCertificate["verdict"];
  status?: string;
}

const ROLES = ["SecurityAdmin"];

/**
 * ListClientCertificates, TrustClientCertificate, RemoveClientCertificate (rows in
 * src/admin/operator-admin-model.ts): what the channel PKI trusts (application certificates in
 * server-pki/trusted; the GDS CAs there are not listed and cannot be removed here) and what it
 * has seen without trusting (SeenClientCertificates). Trust and removal are audited.
 */
export function clientsAdminBodies(opts: ClientsAdminOptions): Record<string, AdminBody> {
  const { pki, seen, access, audit, log } = opts;
  return {
    ListClientCertificates: async (_args, call) => {
      access.requireAnyRole(call, ROLES);
      const trusted = await trustedApplicationCertificates(pki.trustedFolder);
      const known = new Set(trusted.map((t) => t.entry.thumbprint));
      const entries: ClientCertificateEntry[] = [...trusted.map((t) => t.entry), ...seen.list().filter((s) => !known.has(s.thumbprint)).map(seenEntry)];
      return [JSON.stringify(entries)];
    },
    TrustClientCertificate: async (args, call) => {
      access.requireAnyRole(call, ROLES);
      const thumbprint = thumbprintArg(stringArg(args, 0, "Thumbprint", 128));
      if ((await trustedApplicationCertificates(pki.trustedFolder)).some((t) => t.entry.thumbprint === thumbprint)) {
        throw new GdsError("BadEntryExists", `client certificate ${thumbprint} is already trusted`);
      }
      const entry = seen.get(thumbprint);
      const der = entry ? await seen.certificateOf(thumbprint) : undefined;
      if (!entry || !der) throw new GdsError("BadNotFound", `no client certificate ${thumbprint} in the seen list (gds clients list shows the certificates the server has seen)`);
      if (new crypto.X509Certificate(der).ca) throw new GdsError("BadCertificateInvalid", `certificate ${thumbprint} is a CA certificate: trusting it would trust everything it issued; not trusted`);
      await pki.trustCertificate(der);
      seen.remove(thumbprint);
      await seen.flush();
      const trusted: ClientCertificateEntry = { ...seenEntry(entry), state: "trusted" };
      await audit.record({ event: "ClientCertificateTrusted", actor: access.actorOf(call), outcome: "Good", thumbprint, applicationUri: entry.applicationUri || undefined, detail: `subject ${entry.subject}` });
      log.info({ thumbprint, subject: entry.subject, applicationUri: entry.applicationUri, user: call.userName }, "client certificate trusted");
      return [JSON.stringify(trusted)];
    },
    RemoveClientCertificate: async (args, call) => {
      access.requireAnyRole(call, ROLES);
      const thumbprint = thumbprintArg(stringArg(args, 0, "Thumbprint", 128));
      const inTrusted = await trustedCertificateFiles(pki.trustedFolder);
      const file = inTrusted.find((f) => f.thumbprint === thumbprint);
      let removed: ClientCertificateEntry;
      if (file) {
        if (file.x509.ca) throw new GdsError("BadInvalidArgument", `certificate ${thumbprint} in the trusted folder is a CA certificate (the GDS trusts its own CAs there); not removed`);
        const gone = await pki.removeTrustedCertificate(thumbprint);
        if (!gone) {
          // not in the manager's index yet (placed by hand moments ago): remove the file and rescan
          await fs.promises.rm(file.path, { force: true });
          await pki.reloadCertificates();
        }
        removed = file.entry;
      } else {
        const entry = seen.get(thumbprint);
        if (!entry || !seen.remove(thumbprint)) throw new GdsError("BadNotFound", `no client certificate ${thumbprint} is trusted or in the seen list (gds clients list)`);
        await seen.flush();
        removed = seenEntry(entry);
      }
      await audit.record({
        event: "ClientCertificateRemoved",
        actor: access.actorOf(call),
        outcome: "Good",
        thumbprint,
        applicationUri: removed.applicationUri || undefined,
        detail: `${removed.state === "trusted" ? "removed from the trusted certificates" : "dropped from the seen list"}; subject ${removed.subject}`,
      });
      log.info({ thumbprint, subject: removed.subject, applicationUri: removed.applicationUri, was: removed.state, user: call.userName }, "client certificate removed");
      return [JSON.stringify(removed)];
    },
  };
}

/** 40 hex digits (colons, spaces and upper case allowed) → lower case; BadInvalidArgument otherwise. */
export function thumbprintArg(text: string): string {
  const t = text.replace(/[:\s]/g, "").toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(t)) throw new GdsError("BadInvalidArgument", `Thumbprint: expected the SHA-1 thumbprint, 40 hex digits, got ${JSON.stringify(text.slice(0, 100))}`);
  return t;
}

function seenEntry(s: SeenClientCertificate): ClientCertificateEntry {
  return { ...s, state: "seen" };
}

interface TrustedFile {
  path: string;
  thumbprint: string;
  x509: crypto.X509Certificate;
  entry: ClientCertificateEntry;
}

/** Every certificate file in the trusted folder (PEM or DER; other files skipped). */
async function trustedCertificateFiles(folder: string): Promise<TrustedFile[]> {
  let names: string[];
  try {
    names = (await fs.promises.readdir(folder)).sort();
  } catch {
    return [];
  }
  const out: TrustedFile[] = [];
  for (const name of names) {
    const file = path.join(folder, name);
    let x509: crypto.X509Certificate;
    try {
      x509 = new crypto.X509Certificate(await fs.promises.readFile(file));
    } catch {
      continue;
    }
    const thumbprint = crypto.createHash("sha1").update(x509.raw).digest("hex");
    const uri = /(?:^|,\s*)URI:([^,]*)/.exec(x509.subjectAltName ?? "")?.[1] ?? "";
    out.push({
      path: file,
      thumbprint,
      x509,
      entry: {
        thumbprint,
        state: "trusted",
        subject: x509.subject.replace(/\n/g, ", "),
        applicationUri: uri,
        notBefore: new Date(x509.validFrom).toISOString(),
        notAfter: new Date(x509.validTo).toISOString(),
      },
    });
  }
  return out;
}

/** The application (not CA) certificates of the trusted folder. */
async function trustedApplicationCertificates(folder: string): Promise<TrustedFile[]> {
  return (await trustedCertificateFiles(folder)).filter((f) => !f.x509.ca);
}
