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
 * `<data dir>/push-pki`).
 *
 * The choice:
 * 1. A certificate issued by the GDS's own CA of the target's group (signature checked against
 *    the CA certificates of `certificates.trustList(group)`), inside its validity period and not
 *    revoked (the CertificateManager's own revocation records) is trusted. This is the normal
 *    case once the device holds a GDS certificate.
 * 2. Trust on first use, per device: a device that has never been confirmed serving a GDS
 *    certificate may present a SELF-SIGNED certificate whose subjectAltName URI is the device's
 *    registered ApplicationUri. The first one seen is pinned in
 *    `push-pki/devices/<applicationId>.json`; later connections accept only that same certificate
 *    (or a GDS-issued one). Once the GDS has confirmed (GetEndpoints after ApplyChanges) that the
 *    device serves a GDS certificate, the pin is dropped and self-signed certificates are refused
 *    for that device (a factory-reset device needs an admin to delete its file in
 *    push-pki/devices/).
 * 3. Anything else is refused with BadCertificateUntrusted (or the revocation/validity status).
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

  /** After GetEndpoints confirmed a GDS certificate: no more self-signed certificates for this device. */
  async markGdsCertificateConfirmed(applicationId: string, applicationUri: string): Promise<void> {
    const pin: DevicePinFile = { applicationId, applicationUri, gdsCertificateConfirmedAt: this.clock.now().toISOString() };
    await this.writePin(pin);
  }

  /** Is `chain[0]` a certificate of the GDS CA of `group`, valid now and not revoked? */
  async judgeGdsIssued(leaf: ParsedCertificate, group: CertificateGroupName): Promise<StatusCode | undefined> {
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
    const gds = await this.judgeGdsIssued(leaf, target.group);
    if (gds !== undefined) return { status: gds, kind: "gdsIssued", thumbprint: leaf.info.thumbprint, reason: gds === StatusCodes.Good ? "issued by the GDS CA" : `issued by the GDS CA but ${gds.name}` };
    const pin = this.readPin(target.applicationId);
    if (pin?.pinnedThumbprint === leaf.info.thumbprint) return { status: StatusCodes.Good, kind: "pinned", thumbprint: leaf.info.thumbprint, reason: "the self-signed certificate pinned on first contact" };
    if (!leaf.info.selfSigned) {
      return { status: StatusCodes.BadCertificateUntrusted, thumbprint: leaf.info.thumbprint, reason: `certificate (issuer ${leaf.info.issuer}) is not issued by the GDS CA of ${target.group}` };
    }
    if (!leaf.info.uris.includes(target.applicationUri)) {
      return { status: StatusCodes.BadCertificateUriInvalid, thumbprint: leaf.info.thumbprint, reason: `self-signed certificate without the registered ApplicationUri ${target.applicationUri}` };
    }
    if (pin?.gdsCertificateConfirmedAt) {
      return {
        status: StatusCodes.BadCertificateUntrusted,
        thumbprint: leaf.info.thumbprint,
        reason: `device was confirmed on a GDS certificate at ${pin.gdsCertificateConfirmedAt} and now presents a self-signed one; delete ${this.pinPath(target.applicationId)} to accept it`,
      };
    }
    if (pin?.pinnedThumbprint) {
      return { status: StatusCodes.BadCertificateUntrusted, thumbprint: leaf.info.thumbprint, reason: `self-signed certificate differs from the one pinned on first contact (${pin.pinnedThumbprint})` };
    }
    const now = this.clock.now().getTime();
    if (now < leaf.info.notBefore.getTime() || now > leaf.info.notAfter.getTime()) return { status: StatusCodes.BadCertificateTimeInvalid, thumbprint: leaf.info.thumbprint, reason: "self-signed certificate outside its validity period" };
    await this.writePin({
      applicationId: target.applicationId,
      applicationUri: target.applicationUri,
      pinnedCertificate: leaf.der.toString("base64"),
      pinnedThumbprint: leaf.info.thumbprint,
      pinnedAt: this.clock.now().toISOString(),
    });
    return { status: StatusCodes.Good, kind: "firstContact", thumbprint: leaf.info.thumbprint, reason: "self-signed certificate accepted and pinned on first contact" };
  }
}

export interface DeviceCertificateVerdict {
  status: StatusCode;
  kind?: "gdsIssued" | "pinned" | "firstContact";
  thumbprint?: string;
  reason: string;
}
