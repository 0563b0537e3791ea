/** Admin methods of the operations side (issue 5): ids 1200–1299. See admin-model.ts. */
import type { AdminMethod, AdminVariable } from "./admin-model.js";

export const OPS_ADMIN_METHODS: AdminMethod[] = [
  // --- certificates, CA and audit (src/opcua/install-ops-admin.ts) ---
  {
    name: "ListCertificates",
    id: 1200,
    description:
      "Every certificate this GDS issued as a JSON array sorted by notAfter: applicationId (GUID), applicationUri (while registered), group, type, serialHex, notBefore, notAfter, state (valid, expiring, expired, revoked; expiring = less than GDS_RENEW_BEFORE left, by the server clock), revokedAt and revocationReason when revoked.",
    inputs: [
      { name: "ApplicationId", type: "String", description: "only this application's certificates (GUID, or a NodeId string ns=…;g=…); empty for all" },
      { name: "ExpiringWithin", type: "String", description: "only certificates not revoked that expire within this duration from now (e.g. 30d; already expired ones excluded); empty for no filter" },
      { name: "RevokedOnly", type: "Boolean", description: "only revoked certificates" },
    ],
    outputs: [{ name: "CertificatesJson", type: "String", description: "JSON array of certificate entries" }],
  },
  {
    name: "RevokeCertificates",
    id: 1210,
    description:
      "Revokes one certificate by serial, or every unexpired certificate of an application, as RevokeCertificate does (CRL re-signed, trust lists updated, audited). Requires CertificateAuthorityAdmin.",
    inputs: [
      { name: "ApplicationId", type: "String", description: "revoke every unexpired, unrevoked certificate of this application (GUID, or a NodeId string ns=…;g=…); empty when SerialHex is given" },
      { name: "SerialHex", type: "String", description: "serial number (hex, colons allowed) of the certificate to revoke; empty when ApplicationId is given" },
      { name: "Reason", type: "String", description: "RFC 5280 reason: unspecified (default when empty), keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise" },
    ],
    outputs: [{ name: "RevokedJson", type: "String", description: "JSON {revoked: [...], alreadyRevoked: [...]} with entries as ListCertificates shows them" }],
  },
  {
    name: "GetCaInfo",
    id: 1220,
    description: "The CA of each certificate group (subject, serialHex, notBefore, notAfter, keyType, thumbprint) and its current CRL (crlNumber, thisUpdate, nextUpdate) as a JSON array.",
    inputs: [],
    outputs: [{ name: "CaJson", type: "String", description: "JSON array, one entry per certificate group" }],
  },
  {
    name: "ReadAuditLog",
    id: 1230,
    description: "The audit log (oldest first, newest last), at most Limit entries (the newest ones). Requires SecurityAdmin.",
    inputs: [
      { name: "Since", type: "String", description: "only entries from this far back (a duration such as 2h or 7d) or from this time (ISO 8601, e.g. 2026-11-25T10:00:00Z); empty for all" },
      { name: "Limit", type: "UInt32", description: "at most this many entries, the newest (0 = 1000; at most 100000)" },
    ],
    outputs: [{ name: "AuditJson", type: "String", description: "JSON {entries: [...], total, truncated, damagedLines}" }],
  },
  // --- status (src/opcua/install-status-admin.ts) ---
  {
    name: "GetStatus",
    id: 1240,
    description:
      "The server at a glance as JSON: endpoint, startedAt, uptimeSeconds, applications, certificates {valid, expiring, expired, revoked, issued} (expiring = less than GDS_RENEW_BEFORE left, by the server clock), renewBeforeSeconds, pendingRequests, pushManagedDevices and failedPushes (null without push management).",
    inputs: [],
    outputs: [{ name: "StatusJson", type: "String", description: "JSON status record" }],
  },
];

/**
 * Variables of the admin object (ids 1300–1399): the figures of GetStatus, readable (and
 * subscribable) without a method call, e.g. in UaExpert. Values come from getters bound at run
 * time (src/opcua/install-ops-variables.ts).
 */
export const ADMIN_VARIABLES: AdminVariable[] = [
  { name: "ApplicationCount", id: 1300, dataType: "UInt32", description: "Applications registered in the Directory." },
  { name: "PendingRequestCount", id: 1301, dataType: "UInt32", description: "Certificate requests waiting for a RegistrationAuthorityAdmin's decision." },
  {
    name: "ExpiringCertificateCount",
    id: 1302,
    dataType: "UInt32",
    description: "Issued certificates, not revoked, that expire within GDS_RENEW_BEFORE (by the server clock).",
  },
  { name: "RevokedCertificateCount", id: 1303, dataType: "UInt32", description: "Issued certificates that have been revoked." },
  { name: "PushManagedCount", id: 1304, dataType: "UInt32", description: "Applications whose certificates and trust lists the GDS pushes (0 without push management)." },
  { name: "FailedPushCount", id: 1305, dataType: "UInt32", description: "Push-managed applications whose last push failed (0 without push management)." },
  { name: "ServerStartTime", id: 1306, dataType: "DateTime", description: "When this server process started serving." },
];
