import type { CertificateRecord } from "./certificate-manager.types.js";

/**
 * Issued certificates as operators see them (`gds certs list`, the admin object's
 * ListCertificates): the record's dates and a state computed at one instant of the server's clock.
 */
export type CertificateState = "valid" | "expiring" | "expired" | "revoked";

export const CERTIFICATE_STATES = ["valid", "expiring", "expired", "revoked"] as const satisfies readonly CertificateState[];

/**
 * revoked: revoked (whatever its dates); expired: notAfter has passed; expiring: valid and less
 * than `renewBeforeMs` (GDS_RENEW_BEFORE) left; valid otherwise. A certificate whose notBefore
 * lies ahead counts as valid (the CA backdates notBefore, so this only shows clock trouble).
 */
export function certificateState(c: Pick<CertificateRecord, "notAfter" | "revokedAt">, nowMs: number, renewBeforeMs: number): CertificateState {
  if (c.revokedAt) return "revoked";
  const left = Date.parse(c.notAfter) - nowMs;
  if (left <= 0) return "expired";
  return left < renewBeforeMs ? "expiring" : "valid";
}

export interface CertificateFilter {
  /** Only this application's certificates (the stored, lower-case GUID). */
  applicationId?: string;
  /**
   * Only certificates that are not revoked and expire within this many ms from now (already
   * expired ones are not included: they are past, not expiring).
   */
  expiringWithinMs?: number;
  /** Only revoked certificates. */
  revokedOnly?: boolean;
}

export interface ListedCertificate {
  record: CertificateRecord;
  state: CertificateState;
}

/** The certificates that pass every filter given, sorted by notAfter (soonest first), then serial. */
export function selectCertificates(
  records: Iterable<CertificateRecord>,
  filter: CertificateFilter,
  nowMs: number,
  renewBeforeMs: number,
): ListedCertificate[] {
  const out: ListedCertificate[] = [];
  for (const record of records) {
    if (filter.applicationId !== undefined && record.applicationId !== filter.applicationId) continue;
    if (filter.revokedOnly && !record.revokedAt) continue;
    if (filter.expiringWithinMs !== undefined) {
      if (record.revokedAt) continue;
      const left = Date.parse(record.notAfter) - nowMs;
      if (left <= 0 || left > filter.expiringWithinMs) continue;
    }
    out.push({ record, state: certificateState(record, nowMs, renewBeforeMs) });
  }
  return out.sort((a, b) => Date.parse(a.record.notAfter) - Date.parse(b.record.notAfter) || a.record.serialHex.localeCompare(b.record.serialHex));
}
