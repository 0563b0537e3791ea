import crypto from "node:crypto";
import net from "node:net";
import type { CertificateGroupName } from "../ca/certificate-types.js";
import type { ParsedCsr } from "../ca/csr.js";
import { normaliseIp } from "../ca/ip-address.js";
import { publicKeyDetails, type PublicKeyDetails } from "../ca/public-key.js";
import { normaliseDistinguishedName } from "../ca/subject-name.js";
import type { ApplicationRecord } from "../directory/application-record.js";
import { GdsError } from "../errors.js";
import { discoveryUrlHosts, splitDomainNames } from "./application-hosts.js";

/**
 * The issuance policy: what the CA may put into a certificate, decided from the registered
 * application record and never from what the requester asks for (the way step-ca templates and
 * EJBCA certificate profiles work). One module for pull (StartSigningRequest,
 * StartNewKeyPairRequest) and push (the push cycle goes through the same CertificateManager).
 *
 * - Groups: DefaultApplicationGroup for every application, DefaultHttpsGroup only with an https
 *   DiscoveryUrl, DefaultUserTokenGroup for every application but never approved automatically
 *   (a RegistrationAuthorityAdmin decides). GetCertificateGroups lists exactly these; a request in
 *   another group is refused with BadInvalidArgument naming the group.
 * - Names: DNS names and IP addresses only from the hosts of the registered DiscoveryUrls (https
 *   ones for DefaultHttpsGroup, none for user tokens); no wildcards; a requested name outside them
 *   → BadInvalidArgument naming it; nothing requested → all of them.
 * - Subject: built here (CN = the application's name, O = the configured organization, DC = the
 *   host; HTTPS: CN = the https host); the CSR's subject and the SubjectName argument are not used;
 *   a subject equal to a CA's subject is refused.
 * - Keys and CSR signatures: RSA exponent 65537 (or an odd prime ≥ 65537 below 2^256), EC keys on a
 *   named curve only, CSRs signed with SHA-256 or stronger; otherwise BadCertificateInvalid with
 *   the reason.
 * - Quota: at most `maxCertificatesPerDay` certificates (issued, or requested and still open) per
 *   application and group in any 24 hours; beyond that BadTooManyOperations.
 */
export interface IssuancePolicyOptions {
  /** O= of every issued subject; undefined or "" → no O attribute. */
  organization?: string;
  /** Certificates per application and group in any rolling 24 hours (requests still open count). */
  maxCertificatesPerDay: number;
  /** Subjects (RFC 4514) of the CAs: no issued certificate may carry one of them. */
  caSubjects: () => string[];
}

/** What goes into the certificate besides the key, the ApplicationUri and the dates. */
export interface IssuanceContent {
  subject: string;
  dnsNames: string[];
  ipAddresses: string[];
}

export const QUOTA_WINDOW_MS = 24 * 3_600_000;
export const DEFAULT_MAX_CERTIFICATES_PER_DAY = 20;

const ACCEPTED_CSR_HASHES = new Set(["sha256", "sha384", "sha512"]);
const RSA_EXPONENT_MIN = 65537n;
const RSA_EXPONENT_LIMIT = 1n << 256n;

export class IssuancePolicy {
  constructor(private readonly opts: IssuancePolicyOptions) {
    if (!Number.isInteger(opts.maxCertificatesPerDay) || opts.maxCertificatesPerDay < 1) {
      throw new Error(`maxCertificatesPerDay must be a positive integer (got ${opts.maxCertificatesPerDay})`);
    }
  }

  get maxCertificatesPerDay(): number {
    return this.opts.maxCertificatesPerDay;
  }

  // --- groups --------------------------------------------------------------------------------

  /** The groups the application may get certificates in (what GetCertificateGroups answers). */
  eligibleGroups(app: ApplicationRecord): CertificateGroupName[] {
    const groups: CertificateGroupName[] = ["DefaultApplicationGroup"];
    if (hostsOf(app, "https").length > 0) groups.push("DefaultHttpsGroup");
    groups.push("DefaultUserTokenGroup");
    return groups;
  }

  /** BadInvalidArgument naming the group when the application may not get certificates in it. */
  checkGroup(app: ApplicationRecord, group: CertificateGroupName): void {
    const eligible = this.eligibleGroups(app);
    if (eligible.includes(group)) return;
    const why = group === "DefaultHttpsGroup" ? " (it has no https DiscoveryUrl)" : "";
    throw new GdsError(
      "BadInvalidArgument",
      `CertificateGroupId: application ${app.applicationId} is not in ${group}${why}; its groups are ${eligible.join(", ")} (GetCertificateGroups)`,
    );
  }

  /** User-token certificates are credentials: a RegistrationAuthorityAdmin approves each one. */
  mayAutoApprove(group: CertificateGroupName): boolean {
    return group !== "DefaultUserTokenGroup";
  }

  // --- names and subject ---------------------------------------------------------------------

  /** The DNS names and IP addresses a certificate of this group may carry for this application. */
  allowedNames(app: ApplicationRecord, group: CertificateGroupName): { dnsNames: string[]; ipAddresses: string[] } {
    if (group === "DefaultUserTokenGroup") return { dnsNames: [], ipAddresses: [] };
    const hosts = hostsOf(app, group === "DefaultHttpsGroup" ? "https" : undefined);
    return splitDomainNames(hosts, "DiscoveryUrls");
  }

  /**
   * The subject and names of the certificate: `requested` (CSR subjectAltName DNS/IP names, or
   * DomainNames) must each be a host of the registered DiscoveryUrls; [] → all of them.
   */
  content(app: ApplicationRecord, group: CertificateGroupName, requested: readonly string[], field: string): IssuanceContent {
    const allowed = this.allowedNames(app, group);
    let names = allowed;
    if (requested.length > 0) {
      for (const [i, raw] of requested.entries()) {
        if (raw.includes("*")) throw new GdsError("BadInvalidArgument", `${field}[${i}]: ${JSON.stringify(raw.slice(0, 100))} is a wildcard name; this CA never certifies wildcards`);
      }
      const asked = splitDomainNames([...requested], field);
      const allowedDns = new Set(allowed.dnsNames.map(canonicalDns));
      const allowedIps = new Set(allowed.ipAddresses.map((ip) => normaliseIp(ip) ?? ip));
      const foreign = requested
        .map((raw) => raw.trim())
        .filter((name) => (net.isIP(name) ? !allowedIps.has(normaliseIp(name) ?? name) : !allowedDns.has(canonicalDns(name))));
      if (foreign.length > 0) {
        const registered = [...allowed.dnsNames, ...allowed.ipAddresses];
        const named = foreign.slice(0, 5).map((n) => JSON.stringify(n.slice(0, 100))).join(", ") + (foreign.length > 5 ? ", …" : "");
        throw new GdsError(
          "BadInvalidArgument",
          `${field}: ${named} ${foreign.length === 1 ? "is not a host" : "are not hosts"} of application ${app.applicationId}'s registered ${group === "DefaultHttpsGroup" ? "https " : ""}DiscoveryUrls (${registered.length ? registered.join(", ") : group === "DefaultUserTokenGroup" ? "user-token certificates carry no host names" : "none"}); register a DiscoveryUrl with that host first`,
        );
      }
      names = asked;
    }
    return { subject: this.subject(app, group, names.dnsNames), dnsNames: names.dnsNames, ipAddresses: names.ipAddresses };
  }

  /** CN = application name (HTTPS: the https host), O = the configured organization, DC = the host. */
  subject(app: ApplicationRecord, group: CertificateGroupName, dnsNames: readonly string[]): string {
    const name = app.applicationNames[0]?.text?.trim() || app.applicationUri;
    const org = this.opts.organization?.trim();
    const parts: string[] = [];
    if (group === "DefaultHttpsGroup") {
      const host = dnsNames[0] ?? hostsOf(app, "https")[0];
      if (!host) throw new GdsError("BadInvalidArgument", `application ${app.applicationId} has no https DiscoveryUrl to name an HTTPS certificate after`);
      parts.push(`CN=${escapeDnValue(host)}`);
      if (org) parts.push(`O=${escapeDnValue(org)}`);
    } else {
      parts.push(`CN=${escapeDnValue(name)}`);
      if (org) parts.push(`O=${escapeDnValue(org)}`);
      if (group === "DefaultApplicationGroup" && dnsNames[0]) parts.push(`DC=${escapeDnValue(dnsNames[0])}`);
    }
    const subject = parts.join(", ");
    // X.520 names compare case-insensitively (caseIgnoreMatch): so does this guard.
    const normalised = comparableDn(subject);
    for (const ca of this.opts.caSubjects()) {
      if (comparableDn(ca) === normalised) {
        throw new GdsError("BadInvalidArgument", `application ${app.applicationId}: the certificate's subject would be ${JSON.stringify(subject)}, the subject of one of this GDS's CAs; rename the application (or set GDS_CERT_ORGANIZATION)`);
      }
    }
    return subject;
  }

  // --- keys and CSR signatures -----------------------------------------------------------------

  /** The CSR's signature algorithm and key, before its signature is verified. BadCertificateInvalid with the reason. */
  checkCsr(csr: ParsedCsr): void {
    if (!ACCEPTED_CSR_HASHES.has(csr.signatureHash ?? "")) {
      throw new GdsError("BadCertificateInvalid", `certificate signing request: signed with ${csr.signatureAlgorithm}${csr.signatureHash && !csr.signatureAlgorithm.toLowerCase().includes(csr.signatureHash) ? ` (${csr.signatureHash})` : ""}; this CA accepts CSR signatures with SHA-256, SHA-384 or SHA-512 only`);
    }
    let details: PublicKeyDetails;
    try {
      details = publicKeyDetails(csr.publicKeySpki);
    } catch (e) {
      throw new GdsError("BadCertificateInvalid", `certificate signing request: public key: ${(e as Error).message}`);
    }
    this.checkKey(details, "certificate signing request");
  }

  /** RSA: exponent 65537 or an odd prime in [65537, 2^256); EC: a named curve. BadCertificateInvalid. */
  checkKey(key: PublicKeyDetails, what: string): void {
    if (key.keyAlgorithm === "RSA") {
      const e = key.rsaPublicExponent;
      if (e === undefined) throw new GdsError("BadCertificateInvalid", `${what}: the RSA public exponent cannot be read`);
      if (e !== RSA_EXPONENT_MIN && (e < RSA_EXPONENT_MIN || e >= RSA_EXPONENT_LIMIT || e % 2n === 0n || !crypto.checkPrimeSync(e))) {
        const shown = e < 1_000_000n ? e.toString() : `0x${e.toString(16).slice(0, 40)}…`;
        throw new GdsError("BadCertificateInvalid", `${what}: RSA public exponent ${shown} is refused (65537 required, or an odd prime of at least 65537)`);
      }
    } else if (key.keyAlgorithm === "EC" && key.ecParameters !== "namedCurve") {
      throw new GdsError("BadCertificateInvalid", `${what}: the EC key gives its curve as ${key.ecParameters === "explicit" ? "explicit parameters" : "implicitlyCA"}; only named curves (P-256, P-384) are accepted (RFC 5480)`);
    }
  }

  // --- quota ---------------------------------------------------------------------------------

  /**
   * BadTooManyOperations when the application already has `maxCertificatesPerDay` certificates of
   * the group issued in the last 24 hours plus requests of the group still open.
   */
  checkQuota(app: ApplicationRecord, group: CertificateGroupName, issuedAt: readonly string[], openRequests: number, now: Date): void {
    const since = now.getTime() - QUOTA_WINDOW_MS;
    const recent = issuedAt.map((t) => Date.parse(t)).filter((t) => t > since).sort((a, b) => a - b);
    const max = this.opts.maxCertificatesPerDay;
    if (recent.length + openRequests < max) return;
    const nextAt = recent.length > 0 && recent.length >= max ? new Date(recent[recent.length - max]! + QUOTA_WINDOW_MS).toISOString() : undefined;
    throw new GdsError(
      "BadTooManyOperations",
      `application ${app.applicationId} has ${recent.length} certificate(s) issued in ${group} in the last 24 h and ${openRequests} request(s) open; the limit is ${max} per 24 h (GDS_MAX_CERTIFICATES_PER_DAY)${nextAt ? `; the next one is possible at ${nextAt}` : ""}`,
    );
  }
}

/** Hosts of the DiscoveryUrls, wildcards left out (they are never certified). */
function hostsOf(app: ApplicationRecord, scheme?: string): string[] {
  return discoveryUrlHosts(app, scheme).filter((h) => !h.includes("*"));
}

function comparableDn(dn: string): string {
  try {
    return normaliseDistinguishedName(dn).toLowerCase();
  } catch {
    return dn.trim().toLowerCase();
  }
}

function canonicalDns(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** RFC 4514 escaping of an attribute value (at most 64 characters, the X.520 upper bound of CN). */
export function escapeDnValue(v: string): string {
  return v
    .slice(0, 64)
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, "\\ ");
}
