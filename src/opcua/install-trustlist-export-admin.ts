import crypto from "node:crypto";
import { CERTIFICATE_GROUP_NAMES, type CertificateGroupName } from "../ca/certificate-types.js";
import { GdsError } from "../errors.js";
import { stringArg } from "./arguments.js";
import { READ_ROLES, type AdminExtension } from "./install-admin.js";

export type TrustListExportKind = "caCertificate" | "crl" | "gdsCertificate";

export interface TrustListExportFile {
  /** A plain file name (letters, digits, . _ -), e.g. DefaultApplicationGroup-ca-1a2b3c4d.der. */
  name: string;
  kind: TrustListExportKind;
  derBase64: string;
}

export interface TrustListExport {
  group: CertificateGroupName;
  files: TrustListExportFile[];
}

/** The name of the GDS's own application certificate in an export. */
export const GDS_CERTIFICATE_FILE = "gds-server.der";

/** "" = DefaultApplicationGroup; otherwise a group name (case-insensitive). */
export function parseExportGroup(text: string): CertificateGroupName {
  const s = text.trim();
  if (s === "") return "DefaultApplicationGroup";
  const group = CERTIFICATE_GROUP_NAMES.find((g) => g.toLowerCase() === s.toLowerCase());
  if (!group) throw new GdsError("BadInvalidArgument", `Group: expected one of ${CERTIFICATE_GROUP_NAMES.join(", ")} or empty, got ${JSON.stringify(s.slice(0, 64))}`);
  return group;
}

const sha1 = (der: Buffer) => crypto.createHash("sha1").update(der).digest("hex");

/**
 * What a device needs to trust this GDS, for one group: every certificate of the group's trust
 * list (trusted and issuer lists: the CA certificate(s)), every CRL of it, and the GDS's own
 * application certificate (the GDS connects to devices with it). Duplicates (a CA that is both
 * trusted and an issuer) appear once.
 */
export function buildTrustListExport(
  group: CertificateGroupName,
  list: { trustedCertificates: Buffer[]; issuerCertificates: Buffer[]; trustedCrls: Buffer[]; issuerCrls: Buffer[] },
  serverCertificate: Buffer,
): TrustListExport {
  const files: TrustListExportFile[] = [];
  const seen = new Set<string>();
  for (const der of [...list.trustedCertificates, ...list.issuerCertificates]) {
    const thumbprint = sha1(der);
    if (seen.has(thumbprint)) continue;
    seen.add(thumbprint);
    files.push({ name: `${group}-ca-${thumbprint.slice(0, 8)}.der`, kind: "caCertificate", derBase64: der.toString("base64") });
  }
  let n = 0;
  for (const der of [...list.trustedCrls, ...list.issuerCrls]) {
    const digest = `crl:${sha1(der)}`;
    if (seen.has(digest)) continue;
    seen.add(digest);
    files.push({ name: `${group}-crl-${++n}.crl`, kind: "crl", derBase64: der.toString("base64") });
  }
  files.push({ name: GDS_CERTIFICATE_FILE, kind: "gdsCertificate", derBase64: serverCertificate.toString("base64") });
  return { group, files };
}

/** Body of ExportTrustList (row in src/admin/push-admin-model.ts): any administrative role may export. */
export function trustListExportAdminExtension(): AdminExtension {
  return ({ certificates, access, serverCertificate, log }) => ({
    ExportTrustList: async (args, call) => {
      access.requireAnyRole(call, READ_ROLES);
      const group = parseExportGroup(stringArg(args, 0, "Group", 64));
      const result = buildTrustListExport(group, certificates.trustList(group), serverCertificate);
      log.info({ group, files: result.files.length, user: call.userName }, "trust list exported");
      return [JSON.stringify(result)];
    },
  });
}
