import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { OPCUACertificateManager, StatusCodes, type StatusCode } from "node-opcua";
import { readNode } from "../ca/der.js";
import type { Logger } from "../log.js";
import type { SeenClientCertificates, SeenVerdict } from "./seen-client-certificates.js";

type Certificate = Buffer;
type StatusCodeCallback = (err: Error | null, statusCode?: StatusCode) => void;

export interface ChannelCertificateManagerOptions {
  /** The PKI store (`<data dir>/server-pki`). */
  rootFolder: string;
  /** Accept client certificates the store does not trust, for the connection at hand only. */
  acceptUnknown: boolean;
  seen: SeenClientCertificates;
  log: Logger;
}

/**
 * The endpoint's channel PKI. Trust comes from the store only: `trusted/` (placed there by an
 * operator) and the issuers in `issuers/` (the GDS CAs, with their CRLs). A certificate the store
 * does not know is never written into it: with `acceptUnknown` it is accepted for this
 * connection and recorded in the bounded SeenClientCertificates list; without, it is refused (and
 * recorded). So turning `acceptUnknown` off refuses every such certificate from the next
 * connection on, and a flood of made-up certificates costs a bounded list, not the trust store.
 *
 * A certificate an operator placed in `rejected/` is refused whatever `acceptUnknown` says.
 * node-opcua's own handling (automaticallyAcceptUnknownCertificate) would copy every unknown
 * certificate into `trusted/` (or `rejected/`) for good, and keep each one in memory.
 */
export class ChannelCertificateManager extends OPCUACertificateManager {
  readonly acceptUnknown: boolean;
  readonly seen: SeenClientCertificates;
  private readonly log: Logger;

  constructor(opts: ChannelCertificateManagerOptions) {
    super({ rootFolder: opts.rootFolder, automaticallyAcceptUnknownCertificate: false, name: "server-pki" });
    this.acceptUnknown = opts.acceptUnknown;
    this.seen = opts.seen;
    this.log = opts.log;
  }

  override checkCertificate(certificateChain: Certificate | Certificate[]): Promise<StatusCode>;
  override checkCertificate(certificateChain: Certificate | Certificate[], callback: StatusCodeCallback): void;
  override checkCertificate(certificateChain: Certificate | Certificate[], callback?: StatusCodeCallback): Promise<StatusCode> | void {
    const verdict = this.judge(certificateChain);
    if (!callback) return verdict;
    verdict.then(
      (status) => callback(null, status),
      (err: Error) => callback(err),
    );
  }

  private async judge(certificateChain: Certificate | Certificate[]): Promise<StatusCode> {
    const chain = splitChain(Array.isArray(certificateChain) ? certificateChain : [certificateChain]);
    if (chain.length === 0) return StatusCodes.BadCertificateInvalid;
    const verified = await this.verifyCertificate(Buffer.concat(chain), { acceptCertificateWithValidIssuerChain: true });
    const status = StatusCodes[verified] as StatusCode;
    // Not "unknown": trusted, issued by a GDS CA, or refused for a reason of its own (revoked,
    // expired, bad signature, invalid).
    if (!UNKNOWN.has(verified)) return status;
    if (await this.isExplicitlyRejected(chain[0])) return StatusCodes.BadCertificateUntrusted;

    let answer: StatusCode = status;
    let verdict: SeenVerdict = "refused";
    if (this.acceptUnknown && verified !== "BadCertificateChainIncomplete") {
      answer = validityOf(chain[0]);
      if (answer.isGood()) verdict = "accepted";
    }
    try {
      this.seen.record(chain, verdict, answer.name);
    } catch (err) {
      this.log.error({ err }, "recording a seen client certificate failed");
    }
    return answer;
  }

  /**
   * Whether the leaf is in `rejected/`. node-opcua answers that in isCertificateTrusted, which
   * would also write an unknown certificate into `rejected/` unless untrustUnknownCertificate is
   * off; the flag is read before its first await, so it is switched off for that call only.
   */
  private async isExplicitlyRejected(leaf: Certificate): Promise<boolean> {
    const saved = this.untrustUnknownCertificate;
    this.untrustUnknownCertificate = false;
    let answer: Promise<string>;
    try {
      answer = this.isCertificateTrusted(leaf);
    } finally {
      this.untrustUnknownCertificate = saved;
    }
    return (await answer) === "BadCertificateUntrusted";
  }
}

/** What the store answers for a certificate it has no verdict on: no trusted issuer, no CRL, an issuer it lacks. */
const UNKNOWN = new Set<string>(["BadCertificateUntrusted", "BadCertificateRevocationUnknown", "BadCertificateChainIncomplete"]);

/** An unknown certificate is accepted only within its validity period. */
function validityOf(der: Buffer): StatusCode {
  try {
    const x = new crypto.X509Certificate(der);
    const now = Date.now();
    if (new Date(x.validFrom).getTime() > now || new Date(x.validTo).getTime() <= now) return StatusCodes.BadCertificateTimeInvalid;
    return StatusCodes.Good;
  } catch {
    return StatusCodes.BadCertificateInvalid;
  }
}

/** The certificates of a chain that may arrive as one Buffer of concatenated DER elements. */
function splitChain(parts: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const part of parts) {
    let offset = 0;
    while (offset < part.length) {
      let node;
      try {
        node = readNode(part, offset);
      } catch {
        return out.length > 0 ? out : [];
      }
      out.push(part.subarray(node.start, node.end));
      offset = node.end;
    }
  }
  return out;
}

/**
 * The application (not CA) certificates in `<trustedFolder>`: placed there by an operator, or by
 * a GDS older than this one, which copied every unknown client certificate there while
 * GDS_ACCEPT_UNKNOWN_CERTIFICATES was on. The two cannot be told apart, so they stay trusted.
 */
export async function trustedApplicationCertificates(trustedFolder: string): Promise<number> {
  let files: string[];
  try {
    files = await fs.promises.readdir(trustedFolder);
  } catch {
    return 0;
  }
  let n = 0;
  for (const f of files) {
    try {
      const raw = await fs.promises.readFile(path.join(trustedFolder, f));
      const x = new crypto.X509Certificate(raw);
      if (!x.ca) n++;
    } catch {
      /* not a certificate file */
    }
  }
  return n;
}
