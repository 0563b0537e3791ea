import crypto, { type KeyObject } from "node:crypto";
import type { Clock } from "../clock.js";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CaBackend, CaGroupInfo, GeneratedKeyPair, IssueCertificateRequest, SignCrlRequest } from "./ca-backend.js";
import { caFilesState, caGroupDir, readCaGroup, removeStaleStaging, writeCaGroup } from "./ca-files.js";
import { CaImportError, importCa, readCaFiles } from "./ca-import.js";
import {
  assembleSigned,
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  buildTbsCertificate,
  extension,
  extKeyUsageExtension,
  keyUsageExtension,
  OID_EKU,
  OID_EXT,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
} from "./certificate-builder.js";
import { parseCertificate, type CertificateInfo } from "./certificate-info.js";
import { CERTIFICATE_GROUP_NAMES, type CertificateGroupName, type CertificateTypeSpec } from "./certificate-types.js";
import { checkKeyFitsType } from "./csr.js";
import { derEnumerated, derExplicit, derSequence, derSmallInteger, derTime, derUnsignedInteger } from "./der.js";
import { describeKeyObject, keyDescriptionText, publicKeyFromSpki, spkiOf, subjectKeyIdentifier } from "./public-key.js";
import { randomSerialHex, serialBytes } from "./serial-number.js";
import { signAsync, signingAlgorithmFor, type SigningAlgorithm } from "./signature.js";
import { encodeDistinguishedName } from "./subject-name.js";

/**
 * The local CA: one CA (certificate + key in the data dir, see ca-files.ts) per certificate group.
 *
 * Issued certificates follow OPC 10000-6 §6.2.2: v3, issuer = the CA's subject (byte-identical),
 * subjectAltName (URIs with the ApplicationUri first, DNS names, IP addresses), keyUsage critical
 * (RSA: digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment; ECDSA:
 * digitalSignature, nonRepudiation, keyAgreement, as the OPC Foundation's .NET stack issues them;
 * keyEncipherment/dataEncipherment are meaningless for an ECDSA key), extendedKeyUsage serverAuth +
 * clientAuth, basicConstraints CA:FALSE critical, subjectKeyIdentifier (SHA-1 of the key bits),
 * authorityKeyIdentifier (the CA's SKI). Signed sha256WithRSAEncryption by an RSA CA (ECDSA CAs,
 * possible by import, sign with ecdsa-with-SHA256/384/512 by curve).
 *
 * Speed: the TBSCertificate is assembled from pre-encoded parts (der.ts) and signed with a cached
 * KeyObject by `crypto.sign(…, callback)`, which runs in the libuv thread pool: the event loop
 * stays free and signatures in flight use every core.
 */

export type CaOrigin = "created" | "loaded" | "imported";

export interface CaInitResult {
  groups: Record<CertificateGroupName, CaOrigin>;
  created: CertificateGroupName[];
  imported: CertificateGroupName[];
  loaded: CertificateGroupName[];
}

export interface LocalCaBackendOptions {
  dataDir: string;
  /** RSA modulus of created CA keys: 2048, 3072 or 4096. */
  keySize: number;
  /** Validity of created CA certificates (ms). */
  lifetimeMs: number;
  /** Subject of created CAs as an RFC 4514 string; `{group}` is replaced by the group's name. */
  subjectTemplate: string;
  clock: Clock;
  log?: Logger;
  /** Import these files as DefaultApplicationGroup's CA when it has none yet. */
  importOnFirstStart?: { certFile: string; keyFile: string };
}

/** Refused start: damaged, mismatched or half-present CA files. */
export class CaLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CaLoadError";
  }
}

interface LoadedCa {
  group: CertificateGroupName;
  certDer: Buffer;
  chain: Buffer[];
  info: CertificateInfo;
  /** DER Name, byte-identical to the certificate's subject (issuer of everything it signs). */
  subjectDer: Buffer;
  key: KeyObject;
  sig: SigningAlgorithm;
  /** authorityKeyIdentifier extension for what this CA signs (pre-encoded). */
  akiExtension: Buffer;
  keyDescription: string;
}

const CA_BACKDATE_MS = 5 * 60_000;
const CA_KEY_SIZES = [2048, 3072, 4096];

// Extensions that are the same in every issued certificate, encoded once.
const BC_END_ENTITY = basicConstraintsExtension(false);
const KU_RSA = keyUsageExtension(["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment"]);
const KU_EC = keyUsageExtension(["digitalSignature", "nonRepudiation", "keyAgreement"]);
const EKU_APP = extKeyUsageExtension([OID_EKU.serverAuth, OID_EKU.clientAuth]);

/** RFC 5280 §5.3.1 CRLReason codes. */
export const CRL_REASONS: Record<string, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

/** A key pair as DER (SPKI, PKCS#8), generated in the thread pool. */
function generateDerKeyPair(type: "rsa" | "ec", options: { modulusLength: number } | { namedCurve: string }): Promise<GeneratedKeyPair> {
  const encoding = { publicKeyEncoding: { type: "spki", format: "der" }, privateKeyEncoding: { type: "pkcs8", format: "der" } } as const;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicKey: Buffer, privateKey: Buffer): void => (err ? reject(err) : resolve({ publicKeySpki: publicKey, privateKeyPkcs8: privateKey }));
    if (type === "rsa") crypto.generateKeyPair("rsa", { ...(options as { modulusLength: number }), ...encoding }, done);
    else crypto.generateKeyPair("ec", { ...(options as { namedCurve: string }), ...encoding }, done);
  });
}

/** An RSA key pair as KeyObjects, generated in the thread pool. */
function generateRsaKeyObjects(modulusLength: number): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return new Promise((resolve, reject) => {
    crypto.generateKeyPair("rsa", { modulusLength }, (err, publicKey, privateKey) => (err ? reject(err) : resolve({ publicKey, privateKey })));
  });
}

export class LocalCaBackend implements CaBackend {
  private readonly cas = new Map<CertificateGroupName, LoadedCa>();
  private lastInit: CaInitResult | undefined;

  constructor(readonly opts: LocalCaBackendOptions) {
    if (!CA_KEY_SIZES.includes(opts.keySize)) throw new Error(`CA key size ${opts.keySize} is not supported (${CA_KEY_SIZES.join(", ")})`);
    if (!(opts.lifetimeMs > 0)) throw new Error(`CA lifetime must be positive (got ${opts.lifetimeMs} ms)`);
  }

  /** CaBackend.init: see `initialize` for what happened per group. */
  async init(): Promise<void> {
    await this.initialize();
  }

  /** What the last `init()` did per group (for the CaCreated / CaImported audit entries). */
  get initResult(): CaInitResult | undefined {
    return this.lastInit;
  }

  /**
   * Loads every group's CA; a group without one gets it imported (DefaultApplicationGroup with
   * `importOnFirstStart`) or created (RSA keys generated in parallel). Throws CaLoadError on
   * damaged or mismatched files, CaImportError on a refused import.
   */
  async initialize(): Promise<CaInitResult> {
    const { dataDir, log } = this.opts;
    await removeStaleStaging(dataDir);
    const result: CaInitResult = { groups: {} as Record<CertificateGroupName, CaOrigin>, created: [], imported: [], loaded: [] };
    await Promise.all(
      CERTIFICATE_GROUP_NAMES.map(async (group) => {
        const state = await caFilesState(dataDir, group);
        if (state.state === "partial") {
          throw new CaLoadError(`the CA of ${group} in ${caGroupDir(dataDir, group)} is incomplete (${state.missing.join(", ")} missing); restore it from a backup, or remove the directory to create a new CA (every certificate it issued becomes untrusted)`);
        }
        let origin: CaOrigin = "loaded";
        if (state.state === "none") {
          const imp = group === "DefaultApplicationGroup" ? this.opts.importOnFirstStart : undefined;
          if (imp) {
            await importCa({ dataDir, group, certFile: imp.certFile, keyFile: imp.keyFile, clock: this.opts.clock });
            origin = "imported";
          } else {
            await this.create(group);
            origin = "created";
          }
        } else if (group === "DefaultApplicationGroup" && this.opts.importOnFirstStart) {
          await this.noteIgnoredImport(this.opts.importOnFirstStart);
        }
        const ca = await this.load(group);
        this.cas.set(group, ca);
        result.groups[group] = origin;
        const fields = { group, subject: ca.info.subject, notAfter: ca.info.notAfter.toISOString(), key: ca.keyDescription, thumbprint: ca.info.thumbprint };
        if (origin === "loaded") log?.info(fields, "CA loaded");
        else log?.info(fields, origin === "created" ? "CA created" : "CA imported");
        if (ca.info.notAfter.getTime() <= this.opts.clock.now().getTime()) log?.error(fields, "the CA certificate has expired: certificates it issues will not validate");
      }),
    );
    for (const g of CERTIFICATE_GROUP_NAMES) result[result.groups[g]].push(g);
    this.lastInit = result;
    return result;
  }

  /**
   * What initialize() would refuse, checked without writing anything: an incomplete CA in the data
   * dir (CaLoadError), import files that cannot be imported (CaImportError).
   */
  async check(): Promise<void> {
    const { dataDir } = this.opts;
    for (const group of CERTIFICATE_GROUP_NAMES) {
      const state = await caFilesState(dataDir, group);
      if (state.state === "partial") {
        throw new CaLoadError(`the CA of ${group} in ${caGroupDir(dataDir, group)} is incomplete (${state.missing.join(", ")} missing); restore it from a backup, or remove the directory to create a new CA (every certificate it issued becomes untrusted)`);
      }
      const imp = group === "DefaultApplicationGroup" ? this.opts.importOnFirstStart : undefined;
      if (state.state === "none" && imp) await readCaFiles(imp.certFile, imp.keyFile, this.opts.clock);
    }
  }

  info(group: CertificateGroupName): CaGroupInfo {
    const ca = this.ca(group);
    return {
      group,
      chain: [ca.certDer, ...ca.chain],
      subject: ca.info.subject,
      keyAlgorithm: ca.keyDescription,
      notBefore: ca.info.notBefore,
      notAfter: ca.info.notAfter,
    };
  }

  async issue(req: IssueCertificateRequest): Promise<Buffer> {
    const ca = this.ca(req.group);
    const serial = serialBytes(req.serialHex);
    checkValidity(req.notBefore, req.notAfter);
    let keyObject: KeyObject;
    try {
      keyObject = publicKeyFromSpki(req.publicKeySpki);
    } catch (e) {
      throw new GdsError("BadInvalidArgument", `public key: ${(e as Error).message}`);
    }
    const key = describeKeyObject(keyObject);
    checkKeyFitsType(key, req.type, "the public key");
    if (!req.subject || !req.subject.trim()) throw new GdsError("BadInvalidArgument", "the certificate needs a subject");
    const subject = encodeDistinguishedName(req.subject);
    const san = subjectAltNameExtension({ uris: req.uris, dnsNames: req.dnsNames, ipAddresses: req.ipAddresses });
    let ski: Buffer;
    try {
      ski = subjectKeyIdentifier(req.publicKeySpki);
    } catch (e) {
      throw new GdsError("BadInvalidArgument", `public key: ${(e as Error).message}`);
    }
    const extensions = [BC_END_ENTITY, key.keyAlgorithm === "EC" ? KU_EC : KU_RSA, EKU_APP];
    if (san) extensions.push(san);
    extensions.push(subjectKeyIdentifierExtension(ski), ca.akiExtension);
    const tbs = buildTbsCertificate({
      serial,
      signatureAlgorithm: ca.sig.algorithmIdentifier,
      issuer: ca.subjectDer,
      notBefore: req.notBefore,
      notAfter: req.notAfter,
      subject,
      spki: req.publicKeySpki,
      extensions,
    });
    const signature = await signAsync(ca.sig.hash, tbs, ca.key);
    return assembleSigned(tbs, ca.sig.algorithmIdentifier, signature);
  }

  async generateKeyPair(type: CertificateTypeSpec): Promise<GeneratedKeyPair> {
    if (type.keyAlgorithm === "EC") {
      if (!type.curve) throw new GdsError("BadInvalidArgument", `${type.name} names no curve`);
      return generateDerKeyPair("ec", { namedCurve: type.curve });
    }
    return generateDerKeyPair("rsa", { modulusLength: type.generatedRsaBits ?? type.rsaBits?.min ?? 2048 });
  }

  async signCrl(req: SignCrlRequest): Promise<Buffer> {
    const ca = this.ca(req.group);
    checkValidity(req.thisUpdate, req.nextUpdate, "thisUpdate", "nextUpdate");
    if (!Number.isSafeInteger(req.crlNumber) || req.crlNumber < 0) throw new GdsError("BadInvalidArgument", `CRL number ${req.crlNumber} must be a non-negative integer`);
    const entries = req.revoked.map((r) => {
      const reason = r.reason ?? "unspecified";
      const code = CRL_REASONS[reason];
      if (code === undefined) throw new GdsError("BadInvalidArgument", `unknown revocation reason ${JSON.stringify(reason)} (${Object.keys(CRL_REASONS).join(", ")})`);
      if (!(r.revokedAt instanceof Date) || Number.isNaN(r.revokedAt.getTime())) throw new GdsError("BadInvalidArgument", `revocation date of ${r.serialHex} is not a date`);
      const parts = [derUnsignedInteger(serialBytes(r.serialHex)), derTime(r.revokedAt)];
      // RFC 5280 §5.3.1: the reasonCode "unspecified" SHOULD be absent.
      if (code !== 0) parts.push(derSequence(extension(OID_EXT.reasonCode, false, derEnumerated(code))));
      return derSequence(...parts);
    });
    const tbs = derSequence(
      derSmallInteger(1), // v2
      ca.sig.algorithmIdentifier,
      ca.subjectDer,
      derTime(req.thisUpdate),
      derTime(req.nextUpdate),
      ...(entries.length > 0 ? [derSequence(...entries)] : []),
      derExplicit(0, derSequence(ca.akiExtension, extension(OID_EXT.cRLNumber, false, derSmallInteger(req.crlNumber)))),
    );
    const signature = await signAsync(ca.sig.hash, tbs, ca.key);
    return assembleSigned(tbs, ca.sig.algorithmIdentifier, signature);
  }

  // -------------------------------------------------------------------------------------------

  private ca(group: CertificateGroupName): LoadedCa {
    const ca = this.cas.get(group);
    if (!ca) {
      if (!CERTIFICATE_GROUP_NAMES.includes(group)) throw new GdsError("BadInvalidArgument", `unknown certificate group ${JSON.stringify(group)}`);
      throw new GdsError("BadInvalidState", "the CA backend is not initialised (init() first)");
    }
    return ca;
  }

  private async create(group: CertificateGroupName): Promise<void> {
    const { keySize, lifetimeMs, subjectTemplate, clock, dataDir } = this.opts;
    const subjectText = subjectTemplate.split("{group}").join(group);
    let subjectDer: Buffer;
    try {
      subjectDer = encodeDistinguishedName(subjectText);
    } catch (e) {
      throw new CaLoadError(`CA subject ${JSON.stringify(subjectText)} (from ${JSON.stringify(subjectTemplate)}): ${(e as Error).message}`);
    }
    const { publicKey, privateKey } = await generateRsaKeyObjects(keySize);
    const spki = spkiOf(publicKey);
    const ski = subjectKeyIdentifier(spki);
    const now = clock.now().getTime();
    const sig = signingAlgorithmFor(privateKey);
    const tbs = buildTbsCertificate({
      serial: serialBytes(randomSerialHex()),
      signatureAlgorithm: sig.algorithmIdentifier,
      issuer: subjectDer,
      notBefore: new Date(now - CA_BACKDATE_MS),
      notAfter: new Date(now + lifetimeMs),
      subject: subjectDer,
      spki,
      extensions: [
        basicConstraintsExtension(true),
        keyUsageExtension(["digitalSignature", "keyCertSign", "cRLSign"]),
        subjectKeyIdentifierExtension(ski),
        authorityKeyIdentifierExtension(ski),
      ],
    });
    const certDer = assembleSigned(tbs, sig.algorithmIdentifier, await signAsync(sig.hash, tbs, privateKey));
    await writeCaGroup(dataDir, group, { certDer, key: privateKey, chain: [] });
  }

  private async load(group: CertificateGroupName): Promise<LoadedCa> {
    const dir = caGroupDir(this.opts.dataDir, group);
    const files = await readCaGroup(this.opts.dataDir, group, this.opts.log);
    let parsed;
    try {
      parsed = parseCertificate(files.certDer);
    } catch (e) {
      throw new CaLoadError(`the CA certificate of ${group} (${dir}/ca.cert.der) cannot be read: ${(e as Error).message}`);
    }
    let key: KeyObject;
    try {
      key = crypto.createPrivateKey({ key: files.keyPem, format: "pem" });
    } catch (e) {
      throw new CaLoadError(`the CA key of ${group} (${dir}/ca.key.pem) cannot be read: ${(e as Error).message}`);
    }
    const certSpki = spkiOf(publicKeyFromSpki(parsed.info.publicKeySpki));
    if (!spkiOf(key).equals(certSpki)) {
      throw new CaLoadError(`the CA key of ${group} (${dir}/ca.key.pem) does not belong to its certificate "${parsed.info.subject}" (${dir}/ca.cert.der): the server refuses to start; restore the matching pair`);
    }
    let sig: SigningAlgorithm;
    try {
      sig = signingAlgorithmFor(key);
    } catch (e) {
      throw new CaLoadError(`the CA key of ${group}: ${(e as Error).message}`);
    }
    const ski = parsed.info.subjectKeyIdentifier ? Buffer.from(parsed.info.subjectKeyIdentifier, "hex") : subjectKeyIdentifier(parsed.info.publicKeySpki);
    return {
      group,
      certDer: files.certDer,
      chain: files.chain,
      info: parsed.info,
      subjectDer: parsed.subjectDer,
      key,
      sig,
      akiExtension: authorityKeyIdentifierExtension(ski),
      keyDescription: keyDescriptionText(parsed.info),
    };
  }

  /** A CA exists already: the import settings are not used; say so (and whether they differ). */
  private async noteIgnoredImport(imp: { certFile: string; keyFile: string }): Promise<void> {
    const existing = await readCaGroup(this.opts.dataDir, "DefaultApplicationGroup").catch(() => undefined);
    let same: boolean | undefined;
    try {
      const candidate = await readCaFiles(imp.certFile, imp.keyFile, this.opts.clock);
      same = existing ? candidate.certDer.equals(existing.certDer) : undefined;
    } catch (e) {
      if (!(e instanceof CaImportError)) throw e;
    }
    const fields = { group: "DefaultApplicationGroup", certFile: imp.certFile };
    if (same === false) this.opts.log?.warn(fields, "GDS_CA_CERT_FILE/GDS_CA_KEY_FILE differ from the CA in the data dir and are ignored: they are imported on the first start only (use `gds ca import --force` to replace the CA)");
    else this.opts.log?.info(fields, "GDS_CA_CERT_FILE/GDS_CA_KEY_FILE ignored: the data dir already holds the CA");
  }
}

function checkValidity(from: Date, to: Date, a = "notBefore", b = "notAfter"): void {
  if (!(from instanceof Date) || Number.isNaN(from.getTime())) throw new GdsError("BadInvalidArgument", `${a} is not a date`);
  if (!(to instanceof Date) || Number.isNaN(to.getTime())) throw new GdsError("BadInvalidArgument", `${b} is not a date`);
  if (to.getTime() <= from.getTime()) throw new GdsError("BadInvalidArgument", `${b} (${to.toISOString()}) must be after ${a} (${from.toISOString()})`);
}
