import type { AuditEntry } from "../audit/audit-log.types.js";
import type { AuditReadResult } from "../audit/file-audit-log.js";
import type { CaBackend } from "../ca/ca-backend.js";
import { certificateInfo } from "../ca/certificate-info.js";
import { CERTIFICATE_GROUP_NAMES } from "../ca/certificate-types.js";
import { CRL_REASONS } from "../ca/local-ca-backend.js";
import type { Clock } from "../clock.js";
import type { DirectoryService } from "../directory/directory-service.js";
import { parseDuration } from "../duration.js";
import { GdsError } from "../errors.js";
import { parseSince, SINCE_FORMS } from "../ops-cli/since.js";
import { selectCertificates, type ListedCertificate } from "../requests/certificate-listing.js";
import type { CertificateRecord } from "../requests/certificate-manager.types.js";
import { booleanArg, stringArg, uint32Arg } from "./arguments.js";
import { READ_ROLES, type AdminBody, type AdminExtension } from "./install-admin.js";

/** What the operations methods read beyond the endpoint's context (closed over in server.ts). */
export interface OpsAdminDeps {
  directory: DirectoryService;
  ca: CaBackend;
  /** The audit log as the server writes it (FileAuditLog): reads only its acknowledged part. */
  audit: { readWithDamage(options?: { since?: Date }): Promise<AuditReadResult> };
  /** The server's clock: certificate states and `--since 2h` are computed with it. */
  clock: Clock;
  /** GDS_RENEW_BEFORE: a valid certificate with less left is "expiring". */
  renewBeforeMs: number;
}

/** One certificate as ListCertificates and RevokeCertificates show it (a contract: README, CLI). */
export interface CertificateEntryJson {
  applicationId: string;
  applicationUri?: string;
  group: string;
  type: string;
  serialHex: string;
  notBefore: string;
  notAfter: string;
  state: string;
  revokedAt?: string;
  revocationReason?: string;
}

export const DEFAULT_AUDIT_LIMIT = 1000;
export const MAX_AUDIT_LIMIT = 100_000;
/** removeFromCRL belongs to delta CRLs only; everything else RFC 5280 names may be given. */
const REVOCATION_REASONS = Object.keys(CRL_REASONS).filter((r) => r !== "removeFromCRL");

/**
 * The operations side of the admin object (issue 5): certificates at a glance, revocation by
 * serial or application, the CAs and their CRLs, and the audit log, so that `gds certs|ca|audit`
 * work remotely. Rows in src/admin/ops-admin-model.ts.
 */
export function opsAdminExtension(deps: OpsAdminDeps): AdminExtension {
  return ({ certificates, codec, access, log }) => {
    const idString = (guid: string): string => {
      try {
        return codec.idString(guid);
      } catch {
        return guid;
      }
    };
    /** ApplicationUri while the application is registered (cached for one call). */
    const uriLookup = () => {
      const cache = new Map<string, string | undefined>();
      return (applicationId: string): string | undefined => {
        if (!cache.has(applicationId)) {
          let uri: string | undefined;
          try {
            uri = deps.directory.get(applicationId).applicationUri;
          } catch {
            uri = undefined;
          }
          cache.set(applicationId, uri);
        }
        return cache.get(applicationId);
      };
    };
    const entryJson = (l: ListedCertificate, uriOf: (id: string) => string | undefined): CertificateEntryJson => {
      const r = l.record;
      const uri = uriOf(r.applicationId);
      return {
        applicationId: idString(r.applicationId),
        ...(uri !== undefined ? { applicationUri: uri } : {}),
        group: r.group,
        type: r.type,
        serialHex: r.serialHex,
        notBefore: r.notBefore,
        notAfter: r.notAfter,
        state: l.state,
        ...(r.revokedAt ? { revokedAt: r.revokedAt } : {}),
        ...(r.revocationReason ? { revocationReason: r.revocationReason } : {}),
      };
    };
    const listed = (records: CertificateRecord[], filter: Parameters<typeof selectCertificates>[1] = {}) =>
      selectCertificates(records, filter, deps.clock.now().getTime(), deps.renewBeforeMs);

    /** The stored id of an application that is registered or holds certificates; BadNotFound otherwise. */
    const knownApplication = (text: string, all: CertificateRecord[]): string => {
      const id = codec.parseIdString(text);
      let registered = true;
      try {
        deps.directory.get(id);
      } catch {
        registered = false;
      }
      if (!registered && !all.some((c) => c.applicationId === id)) {
        throw new GdsError("BadNotFound", `no application ${text.trim()} is registered or holds a certificate of this GDS`);
      }
      return id;
    };

    const bodies: Record<string, AdminBody> = {
      ListCertificates: async (args, call) => {
        access.requireAnyRole(call, READ_ROLES);
        const appText = stringArg(args, 0, "ApplicationId", 256);
        const within = stringArg(args, 1, "ExpiringWithin", 64).trim();
        const revokedOnly = booleanArg(args, 2, "RevokedOnly");
        let expiringWithinMs: number | undefined;
        if (within !== "") {
          expiringWithinMs = parseDuration(within);
          if (expiringWithinMs === undefined) {
            throw new GdsError("BadInvalidArgument", `ExpiringWithin: ${JSON.stringify(within)} is not a duration (e.g. 90s, 10m, 12h, 30d, 1y)`);
          }
        }
        const all = certificates.listCertificates();
        const applicationId = appText.trim() === "" ? undefined : knownApplication(appText, all);
        const uriOf = uriLookup();
        const entries = listed(all, { applicationId, expiringWithinMs, revokedOnly }).map((l) => entryJson(l, uriOf));
        return [JSON.stringify(entries)];
      },

      RevokeCertificates: async (args, call) => {
        access.requireAnyRole(call, ["CertificateAuthorityAdmin"]);
        const appText = stringArg(args, 0, "ApplicationId", 256).trim();
        const serialText = stringArg(args, 1, "SerialHex", 256).trim();
        const reasonText = stringArg(args, 2, "Reason", 64).trim();
        if ((appText === "") === (serialText === "")) {
          throw new GdsError("BadInvalidArgument", "give exactly one of ApplicationId and SerialHex");
        }
        let reason: string | undefined;
        if (reasonText !== "") {
          reason = REVOCATION_REASONS.find((r) => r.toLowerCase() === reasonText.toLowerCase());
          if (!reason) throw new GdsError("BadInvalidArgument", `Reason: ${JSON.stringify(reasonText)} is not one of ${REVOCATION_REASONS.join(", ")}`);
        }
        const all = certificates.listCertificates();
        let targets: CertificateRecord[];
        if (serialText !== "") {
          const serial = normaliseSerial(serialText);
          if (!/^[0-9a-f]+$/.test(serial)) throw new GdsError("BadInvalidArgument", `SerialHex: ${JSON.stringify(serialText.slice(0, 80))} is not a hexadecimal serial number`);
          const record = all.find((c) => c.serialHex === serial);
          if (!record) throw new GdsError("BadNotFound", `no certificate with serial ${serial} was issued by this GDS`);
          targets = [record];
        } else {
          const id = knownApplication(appText, all);
          const now = deps.clock.now().getTime();
          // Expired certificates are left alone: they are refused for their dates, and the CRL drops them anyway.
          targets = all.filter((c) => c.applicationId === id && (c.revokedAt !== undefined || Date.parse(c.notAfter) > now));
        }
        const revoked: CertificateRecord[] = [];
        const alreadyRevoked: CertificateRecord[] = [];
        for (const target of targets) {
          if (target.revokedAt) {
            alreadyRevoked.push(target);
            continue;
          }
          // The RevokeCertificate path: CRL re-signed, trust lists changed (push follows), audited with the user.
          revoked.push(await certificates.revokeBySerial(target.serialHex, call.userName, reason));
        }
        if (revoked.length > 0) {
          log.info({ serials: revoked.map((r) => r.serialHex), user: call.userName, reason: reason ?? "unspecified" }, "certificates revoked by an admin");
        }
        const uriOf = uriLookup();
        return [JSON.stringify({ revoked: listed(revoked).map((l) => entryJson(l, uriOf)), alreadyRevoked: listed(alreadyRevoked).map((l) => entryJson(l, uriOf)) })];
      },

      GetCaInfo: async (_args, call) => {
        access.requireAnyRole(call, READ_ROLES);
        const groups = CERTIFICATE_GROUP_NAMES.map((group) => {
          const ca = deps.ca.info(group);
          const cert = certificateInfo(ca.chain[0]);
          const crl = certificates.trustLists.crlInfo(group);
          return {
            group,
            subject: ca.subject,
            serialHex: cert.serialHex,
            notBefore: ca.notBefore.toISOString(),
            notAfter: ca.notAfter.toISOString(),
            keyType: ca.keyAlgorithm.replace(/^EC /, "ECDSA "),
            thumbprint: cert.thumbprint,
            issuers: ca.chain.length - 1,
            crl: { crlNumber: crl.crlNumber, thisUpdate: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate.toISOString() },
          };
        });
        return [JSON.stringify(groups)];
      },

      ReadAuditLog: async (args, call) => {
        // The audit trail says who did what to which application: SecurityAdmin only.
        access.requireAnyRole(call, ["SecurityAdmin"]);
        const sinceText = stringArg(args, 0, "Since", 64);
        const limitIn = uint32Arg(args, 1, "Limit");
        if (limitIn > MAX_AUDIT_LIMIT) throw new GdsError("BadInvalidArgument", `Limit: at most ${MAX_AUDIT_LIMIT}`);
        const limit = limitIn === 0 ? DEFAULT_AUDIT_LIMIT : limitIn;
        const since = parseSince(sinceText, deps.clock.now());
        if (!since.ok) throw new GdsError("BadInvalidArgument", `Since: ${JSON.stringify(sinceText.slice(0, 64))} is neither ${SINCE_FORMS}`);
        const result = await deps.audit.readWithDamage({ since: since.since });
        const total = result.entries.length;
        const entries = result.entries.slice(Math.max(0, total - limit)).map((e) => auditEntryJson(e, idString));
        return [JSON.stringify({ entries, total, truncated: total > entries.length, damagedLines: result.damagedLines })];
      },
    };
    return bodies;
  };
}

/** An audit entry with its ApplicationId as the other admin output shows it (codec.idString). */
function auditEntryJson(e: AuditEntry, idString: (guid: string) => string): AuditEntry {
  return e.applicationId ? { ...e, applicationId: idString(e.applicationId) } : e;
}

function normaliseSerial(serial: string): string {
  let s = serial.replace(/[:\s]/g, "").toLowerCase();
  if (s.startsWith("0x")) s = s.slice(2);
  while (s.length > 2 && s.startsWith("00")) s = s.slice(2);
  return s;
}
