import fs from "node:fs";
import path from "node:path";
import { StatusCodes, type ICertificateStore, type StatusCode } from "node-opcua";
import { parseCertificate, verifyIssuedBy, type ParsedCertificate } from "../ca/certificate-info.js";
import { readNode } from "../ca/der.js";
import { fsyncDir, writeNewFileSynced } from "../durable-fs.js";
import type { CertificateManagerService } from "../requests/certificate-manager-service.js";
import type { CertificateGroupName } from "../ca/certificate-types.js";
import type { Clock } from "../clock.js";

/**
 * How the GDS, as a client, judges a device's application certificate (the push PKI,
 * `<data dir>/push-pki`). node-opcua's client asks (ICertificateStore.checkCertificate) for the
 * certificate the device announces in GetEndpoints, before it opens the secure channel with it;
 * the push cycle checks the channel's certificate again before it activates a session with the
 * device's credentials. Nothing is sent to a device whose certificate is refused here.
 *
 * The rules, in order:
 * 1. The certificate's subjectAltName must carry the push target's registered ApplicationUri
 *    (exactly); anything else is BadCertificateUriInvalid, whoever issued it. A certificate the
 *    GDS issued to another application is a valid certificate, but not this device.
 * 2. A certificate this GDS issued (the CertificateManager has its record) is trusted only when it
 *    was issued to the target's ApplicationId, is not revoked and is inside its validity period
 *    (else BadCertificateUntrusted / BadCertificateRevoked / BadCertificateTimeInvalid). Once the
 *    GDS has confirmed a certificate on the device (GetEndpoints after ApplyChanges), only that
 *    certificate or one issued to the application after it is accepted: an older certificate of
 *    the device (a stolen or restored key) is BadCertificateUntrusted.
 * 3. A certificate chained to another CA of the target group's trust list (not on the GDS's
 *    records) is trusted only while no GDS certificate has been confirmed on the device.
 * 4. Trust on first use, per device: a device that has never been confirmed serving a GDS
 *    certificate may present a SELF-SIGNED certificate (with the registered ApplicationUri, rule 1).
 *    The first one seen is pinned in `push-pki/devices/<applicationId>.json`; later connections
 *    accept only that same certificate (or a GDS-issued one). Once a GDS certificate is confirmed,
 *    the pin is dropped and self-signed certificates are refused for that device (a
 *    factory-reset device needs an admin to delete its file in push-pki/devices/).
 * 5. Anything else is refused with BadCertificateUntrusted (or the validity status).
 * An administrator who wants a device's self-signed certificate trusted without TOFU can put it
 * into push-pki/devices/<applicationId>.json beforehand; nothing else reads that folder.
 */

export interface DevicePinFile {
  applicationId: string;
  applicationUri: string;
  /** Base64 DER of the self-signed certificate accepted on first contact. */
  pinnedCertificate?: string;
  pinnedThumbprint?: string;
  pinnedAt?: string;
  /** Set once a GetEndpoints confirmed the device serving a GDS-issued certificate. */
  gdsCertificateConfirmedAt?: string;
  /** The confirmed certificate: its SHA-1 thumbprint, serial and when the GDS issued it. */
  confirmedThumbprint?: string;
  confirmedSerialHex?: string;
  confirmedIssuedAt?: string;
}

/** Splits a concatenated DER chain (a ByteString holding leaf + issuers) into certificates. */
export function splitDerChain(chain: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  while (offset < chain.length) {
    const node = readNode(chain, offset);
    out.push(Buffer.from(chain.subarray(offset, node.end)));
    offset = node.end;
  }
  return out;
}

function safeFileName(applicationId: string): string {
  return applicationId.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 200) || "_";
}

export class DeviceTrustStore {
  readonly rootDir: string;

  constructor(
    dataDir: string,
    private readonly certificates: CertificateManagerService,
    private readonly clock: Clock,
  ) {
    this.rootDir = path.join(dataDir, "push-pki");
  }

  private pinPath(applicationId: string): string {
    return path.join(this.rootDir, "devices", `${safeFileName(applicationId)}.json`);
  }

  readPin(applicationId: string): DevicePinFile | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.pinPath(applicationId), "utf8")) as DevicePinFile;
    } catch {
      return undefined;
    }
  }

  private async writePin(pin: DevicePinFile): Promise<void> {
    const file = this.pinPath(pin.applicationId);
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeNewFileSynced(tmp, JSON.stringify(pin, null, 2) + "\n", 0o600);
    await fs.promises.rename(tmp, file);
    await fsyncDir(dir);
  }

  /**
   * After GetEndpoints confirmed the device serving `certificateDer` (a GDS certificate): from now
   * on only this certificate, or one issued to the application after it, is accepted.
   */
  async markGdsCertificateConfirmed(applicationId: string, applicationUri: string, certificateDer: Buffer): Promise<void> {
    const record = this.certificates.issuedCertificate(certificateDer);
    const pin: DevicePinFile = {
      applicationId,
      applicationUri,
      gdsCertificateConfirmedAt: this.clock.now().toISOString(),
      confirmedThumbprint: parseCertificate(certificateDer).info.thumbprint,
      ...(record ? { confirmedSerialHex: record.serialHex, confirmedIssuedAt: record.issuedAt } : {}),
    };
    await this.writePin(pin);
  }

  /** Is the leaf signed by a CA of the trust list of `group`, valid now and not revoked? */
  async judgeTrustListIssued(leaf: ParsedCertificate, group: CertificateGroupName): Promise<StatusCode | undefined> {
    const snapshot = this.certificates.trustList(group);
    const cas = [...snapshot.trustedCertificates, ...snapshot.issuerCertificates];
    let issued = false;
    for (const ca of cas) {
      if (await verifyIssuedBy(leaf.der, ca)) {
        issued = true;
        break;
      }
    }
    if (!issued) return undefined;
    const now = this.clock.now().getTime();
    if (now < leaf.info.notBefore.getTime() || now > leaf.info.notAfter.getTime()) return StatusCodes.BadCertificateTimeInvalid;
    const status = this.certificates.checkRevocationStatus(leaf.der);
    if (status.status === "BadCertificateRevoked") return StatusCodes.BadCertificateRevoked;
    return StatusCodes.Good;
  }

  /** The ICertificateStore one client uses for one device. */
  storeFor(target: { applicationId: string; applicationUri: string; group: CertificateGroupName }, onVerdict?: (v: DeviceCertificateVerdict) => void): ICertificateStore {
    const check = async (certificate: Buffer | Buffer[]): Promise<StatusCode> => {
      const verdict = await this.judge(target, certificate);
      onVerdict?.(verdict);
      return verdict.status;
    };
    const store: ICertificateStore = {
      referenceCounter: 0,
      initialize: async () => undefined,
      dispose: async () => undefined,
      checkCertificate: (certificate) => check(certificate as Buffer | Buffer[]),
      // Only called by node-opcua on the client's own certificate (a sanity check that warns).
      verifyCertificate: async () => "Good",
      trustCertificate: async () => undefined,
      rejectCertificate: async () => undefined,
      getTrustStatus: async () => StatusCodes.BadCertificateUntrusted,
      addIssuer: async () => undefined,
      addRevocationList: async () => undefined,
    };
    return store;
  }

  async judge(target: { applicationId: string; applicationUri: string; group: CertificateGroupName }, certificate: Buffer | Buffer[]): Promise<DeviceCertificateVerdict> {
    let leaf: ParsedCertificate;
    try {
      const chain = Array.isArray(certificate) ? certificate.flatMap((c) => splitDerChain(Buffer.from(c))) : splitDerChain(Buffer.from(certificate));
      if (chain.length === 0) return { status: StatusCodes.BadCertificateInvalid, reason: "the device presented no certificate" };
      leaf = parseCertificate(chain[0]!);
    } catch (err) {
      return { status: StatusCodes.BadCertificateInvalid, reason: `the device's certificate is not DER X.509: ${(err as Error).message}` };
    }
    const facts = { thumbprint: leaf.info.thumbprint, subject: leaf.info.subject, uris: leaf.info.uris };
    const refuse = (status: StatusCode, reason: string): DeviceCertificateVerdict => ({ status, ...facts, reason });
    const inValidity = () => {
      const now = this.clock.now().getTime();
      return now >= leaf.info.notBefore.getTime() && now <= leaf.info.notAfter.getTime();
    };

    // 1. The certificate must name the device: its registered ApplicationUri.
    if (!leaf.info.uris.includes(target.applicationUri)) {
      const carried = leaf.info.uris.length > 0 ? leaf.info.uris.map((u) => JSON.stringify(u)).join(", ") : "no URI";
      return refuse(StatusCodes.BadCertificateUriInvalid, `the certificate (${leaf.info.subject}, sha1 ${leaf.info.thumbprint}) carries ${carried}, not the push target's registered ApplicationUri ${JSON.stringify(target.applicationUri)}`);
    }
    const pin = this.readPin(target.applicationId);

    // 2. A certificate this GDS issued: to this application, not revoked, valid, not older than the confirmed one.
    const record = this.certificates.issuedCertificate(leaf.der);
    if (record) {
      if (record.applicationId !== target.applicationId) {
        return refuse(StatusCodes.BadCertificateUntrusted, `certificate serial ${record.serialHex} was issued by this GDS to application ${record.applicationId}, not to the push target ${target.applicationId}`);
      }
      if (record.revokedAt) return refuse(StatusCodes.BadCertificateRevoked, `certificate serial ${record.serialHex} was revoked at ${record.revokedAt}`);
      if (!inValidity()) return refuse(StatusCodes.BadCertificateTimeInvalid, `certificate serial ${record.serialHex} is outside its validity period`);
      if (pin?.gdsCertificateConfirmedAt && pin.confirmedThumbprint && pin.confirmedThumbprint !== leaf.info.thumbprint && pin.confirmedIssuedAt && record.issuedAt < pin.confirmedIssuedAt) {
        return refuse(
          StatusCodes.BadCertificateUntrusted,
          `certificate serial ${record.serialHex} (issued ${record.issuedAt}) is older than the certificate the GDS confirmed on the device (serial ${pin.confirmedSerialHex ?? "?"}, issued ${pin.confirmedIssuedAt})`,
        );
      }
      return { status: StatusCodes.Good, kind: "gdsIssued", ...facts, reason: `issued by this GDS to the application (serial ${record.serialHex})` };
    }

    // 3. Another CA of the group's trust list: only until a GDS certificate is confirmed.
    const chained = await this.judgeTrustListIssued(leaf, target.group);
    if (chained !== undefined) {
      if (pin?.gdsCertificateConfirmedAt) {
        return refuse(StatusCodes.BadCertificateUntrusted, `device was confirmed on a GDS certificate at ${pin.gdsCertificateConfirmedAt} and now presents one (issuer ${leaf.info.issuer}) this GDS did not issue to it`);
      }
      return { status: chained, kind: "trustListIssued", ...facts, reason: chained === StatusCodes.Good ? `issued by a CA of the ${target.group} trust list` : `issued by a CA of the ${target.group} trust list but ${chained.name}` };
    }

    // 4. Self-signed, trust on first use.
    if (pin?.gdsCertificateConfirmedAt) {
      return refuse(
        StatusCodes.BadCertificateUntrusted,
        `device was confirmed on a GDS certificate at ${pin.gdsCertificateConfirmedAt} and now presents ${leaf.info.selfSigned ? "a self-signed one" : `one of issuer ${leaf.info.issuer}`}; delete ${this.pinPath(target.applicationId)} to accept a self-signed certificate again`,
      );
    }
    if (pin?.pinnedThumbprint === leaf.info.thumbprint) {
      if (!inValidity()) return refuse(StatusCodes.BadCertificateTimeInvalid, "the pinned self-signed certificate is outside its validity period");
      return { status: StatusCodes.Good, kind: "pinned", ...facts, reason: "the self-signed certificate pinned on first contact" };
    }
    if (!leaf.info.selfSigned) {
      return refuse(StatusCodes.BadCertificateUntrusted, `certificate (issuer ${leaf.info.issuer}) is not issued by the GDS CA of ${target.group}`);
    }
    if (pin?.pinnedThumbprint) {
      return refuse(StatusCodes.BadCertificateUntrusted, `self-signed certificate differs from the one pinned on first contact (${pin.pinnedThumbprint})`);
    }
    if (!inValidity()) return refuse(StatusCodes.BadCertificateTimeInvalid, "self-signed certificate outside its validity period");
    await this.writePin({
      applicationId: target.applicationId,
      applicationUri: target.applicationUri,
      pinnedCertificate: leaf.der.toString("base64"),
      pinnedThumbprint: leaf.info.thumbprint,
      pinnedAt: this.clock.now().toISOString(),
    });
    return { status: StatusCodes.Good, kind: "firstContact", ...facts, reason: "self-signed certificate accepted and pinned on first contact" };
  }
}

export interface DeviceCertificateVerdict {
  status: StatusCode;
  kind?: "gdsIssued" | "trustListIssued" | "pinned" | "firstContact";
  thumbprint?: string;
  /** The certificate's subject and subjectAltName URIs (for the log and the audit of a refusal). */
  subject?: string;
  uris?: string[];
  reason: string;
}
