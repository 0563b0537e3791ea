import crypto from "node:crypto";
import { parseCertificate, verifyIssuedBy, type ParsedCertificate } from "../ca/certificate-info.js";
import { Tag, children, expectTag, readRoot, whole } from "../ca/der.js";
import type { TrustListContent } from "../requests/certificate-manager.types.js";

/**
 * What the GDS writes into a device's TrustList (OPC 10000-12 §7.10 push): the device keeps its
 * own trusted entries; only what is "ours" is replaced.
 *
 * Ours, on the device, is:
 * - a certificate that IS one of our CA certificates, or has the subject of one (an older copy of
 *   our CA, e.g. before a CA renewal), or was ISSUED by one of our CA certificates;
 * - a CRL issued by one of our CA certificates (an older CRL number);
 * - a certificate that carries the GDS's own ApplicationUri (an older GDS application
 *   certificate).
 * Everything else the device holds is kept as it is, garbage included (it is not ours to judge).
 * Then the GDS's list is added: its CA certificate(s) and current CRL(s) and the external entries
 * an admin added to that group's list; and, when the GDS's own application certificate is not
 * issued by a CA certificate in the resulting trusted list, that certificate too, so that the
 * device keeps trusting the GDS after the push (a written list replaces the device's whole list).
 */

export type TrustListName = keyof TrustListContent;
export const TRUST_LIST_NAMES: readonly TrustListName[] = ["trustedCertificates", "trustedCrls", "issuerCertificates", "issuerCrls"];

export function thumbprintOf(der: Buffer): string {
  return crypto.createHash("sha1").update(der).digest("hex");
}

export interface TrustListMergeInput {
  /** What the device holds now (read back from it). */
  device: TrustListContent;
  /** The GDS's list for the group (certificates.trustList(group)). */
  gds: TrustListContent;
  /** Our CA certificate(s) of that group (the issuing CA first); entries issued by them are ours. */
  caCertificates: Buffer[];
  /** The GDS's own application certificate (its client certificate towards the device). */
  gdsCertificate?: Buffer;
}

export interface TrustListEntry {
  list: TrustListName;
  der: Buffer;
  thumbprint: string;
}

export interface TrustListMergePlan {
  /** The whole list to write. */
  desired: TrustListContent;
  /** Entries the device must hold afterwards (the GDS's entries; its own certificate if needed). */
  required: TrustListEntry[];
  /** Entries of the device's current list that are ours and no longer wanted. */
  toRemove: TrustListEntry[];
  /** Entries the device lacks now (required ones absent from `device`). */
  toAdd: TrustListEntry[];
  /** True when nothing changes. */
  unchanged: boolean;
}

interface CaInfo {
  parsed: ParsedCertificate;
}

function tryParse(der: Buffer): ParsedCertificate | undefined {
  try {
    return parseCertificate(der);
  } catch {
    return undefined;
  }
}

/** DER of the issuer Name of a CRL, or undefined when `der` is not a CRL. */
export function crlIssuerDer(der: Buffer): Buffer | undefined {
  try {
    const root = expectTag(readRoot(der), Tag.SEQUENCE, "CertificateList");
    const tbs = expectTag(children(der, root)[0], Tag.SEQUENCE, "TBSCertList");
    const fields = children(der, tbs);
    let i = 0;
    if (fields[i]?.tag === Tag.INTEGER) i++; // version
    i++; // signature AlgorithmIdentifier
    const issuer = expectTag(fields[i], Tag.SEQUENCE, "issuer");
    return Buffer.from(whole(der, issuer));
  } catch {
    return undefined;
  }
}

function isCertificateList(name: TrustListName): boolean {
  return name === "trustedCertificates" || name === "issuerCertificates";
}

/** Builds the list to write to the device; see the module comment for what is replaced. */
export async function planTrustListMerge(input: TrustListMergeInput): Promise<TrustListMergePlan> {
  const cas: CaInfo[] = [];
  for (const der of input.caCertificates) {
    const parsed = tryParse(der);
    if (parsed) cas.push({ parsed });
  }
  const caThumbs = new Set(cas.map((c) => c.parsed.info.thumbprint));
  const gdsParsed = input.gdsCertificate ? tryParse(input.gdsCertificate) : undefined;
  const gdsUris = new Set(gdsParsed?.info.uris ?? []);

  const isOurCertificate = async (der: Buffer): Promise<boolean> => {
    const p = tryParse(der);
    if (!p) return false;
    if (caThumbs.has(p.info.thumbprint)) return true;
    for (const ca of cas) {
      if (p.subjectDer.equals(ca.parsed.subjectDer)) return true;
      if (p.issuerDer.equals(ca.parsed.subjectDer) && (await verifyIssuedBy(der, ca.parsed.der))) return true;
    }
    if (gdsUris.size > 0 && p.info.uris.some((u) => gdsUris.has(u))) return true;
    return false;
  };
  const isOurCrl = (der: Buffer): boolean => {
    const issuer = crlIssuerDer(der);
    return issuer !== undefined && cas.some((ca) => issuer.equals(ca.parsed.subjectDer));
  };

  const desired: TrustListContent = { trustedCertificates: [], trustedCrls: [], issuerCertificates: [], issuerCrls: [] };
  const toRemove: TrustListEntry[] = [];
  const seen: Record<TrustListName, Set<string>> = {
    trustedCertificates: new Set(),
    trustedCrls: new Set(),
    issuerCertificates: new Set(),
    issuerCrls: new Set(),
  };
  const gdsThumbs: Record<TrustListName, Set<string>> = {
    trustedCertificates: new Set(input.gds.trustedCertificates.map(thumbprintOf)),
    trustedCrls: new Set(input.gds.trustedCrls.map(thumbprintOf)),
    issuerCertificates: new Set(input.gds.issuerCertificates.map(thumbprintOf)),
    issuerCrls: new Set(input.gds.issuerCrls.map(thumbprintOf)),
  };
  const ownThumb = input.gdsCertificate ? thumbprintOf(input.gdsCertificate) : undefined;

  // 1. The device's entries, minus ours (kept when the GDS still wants exactly that entry).
  for (const list of TRUST_LIST_NAMES) {
    for (const der of input.device[list]) {
      const thumbprint = thumbprintOf(der);
      if (seen[list].has(thumbprint)) continue;
      const wanted = gdsThumbs[list].has(thumbprint) || thumbprint === ownThumb;
      const ours = isCertificateList(list) ? await isOurCertificate(der) : isOurCrl(der);
      if (ours && !wanted) {
        toRemove.push({ list, der, thumbprint });
        continue;
      }
      seen[list].add(thumbprint);
      desired[list].push(der);
    }
  }

  // 2. The GDS's entries.
  const required: TrustListEntry[] = [];
  for (const list of TRUST_LIST_NAMES) {
    for (const der of input.gds[list]) {
      const thumbprint = thumbprintOf(der);
      if (!required.some((r) => r.list === list && r.thumbprint === thumbprint)) required.push({ list, der, thumbprint });
      if (seen[list].has(thumbprint)) continue;
      seen[list].add(thumbprint);
      desired[list].push(der);
    }
  }

  // 3. The GDS's own certificate, unless a trusted CA certificate of the result issued it.
  if (input.gdsCertificate && ownThumb) {
    let coveredByCa = false;
    if (gdsParsed && !gdsParsed.info.selfSigned) {
      for (const der of desired.trustedCertificates) {
        const p = tryParse(der);
        if (p?.info.isCa && gdsParsed.issuerDer.equals(p.subjectDer) && (await verifyIssuedBy(input.gdsCertificate, der))) {
          coveredByCa = true;
          break;
        }
      }
    }
    if (!coveredByCa) {
      required.push({ list: "trustedCertificates", der: input.gdsCertificate, thumbprint: ownThumb });
      if (!seen.trustedCertificates.has(ownThumb)) {
        seen.trustedCertificates.add(ownThumb);
        desired.trustedCertificates.push(input.gdsCertificate);
      }
    }
  }

  const deviceThumbs = thumbprintSets(input.device);
  const toAdd = required.filter((r) => !deviceThumbs[r.list].has(r.thumbprint));
  return { desired, required, toRemove, toAdd, unchanged: toAdd.length === 0 && toRemove.length === 0 };
}

export function thumbprintSets(content: TrustListContent): Record<TrustListName, Set<string>> {
  return {
    trustedCertificates: new Set(content.trustedCertificates.map(thumbprintOf)),
    trustedCrls: new Set(content.trustedCrls.map(thumbprintOf)),
    issuerCertificates: new Set(content.issuerCertificates.map(thumbprintOf)),
    issuerCrls: new Set(content.issuerCrls.map(thumbprintOf)),
  };
}

export interface TrustListCheck {
  /** Required entries the device does not hold. */
  missing: TrustListEntry[];
  /** Entries that should have gone and are still there (harmless leftovers, e.g. an older CRL). */
  leftovers: TrustListEntry[];
  /** Every required certificate is there (CRLs aside). */
  certificatesConfirmed: boolean;
  /** Everything required is there. */
  complete: boolean;
}

/** Compares what the device holds (read back) with the plan. */
export function checkTrustList(actual: TrustListContent, plan: TrustListMergePlan): TrustListCheck {
  const have = thumbprintSets(actual);
  const missing = plan.required.filter((r) => !have[r.list].has(r.thumbprint));
  const leftovers = plan.toRemove.filter((r) => have[r.list].has(r.thumbprint));
  return {
    missing,
    leftovers,
    certificatesConfirmed: !missing.some((m) => isCertificateList(m.list)),
    complete: missing.length === 0,
  };
}
