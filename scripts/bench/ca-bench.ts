// CA benchmark (issue 3): CSR-signing throughput of our CA backend against node-opcua-pki's
// CertificateAuthority (default backend) and against `openssl speed` (the RSA signature alone,
// the physical limit), with the same CSRs in the same run. See docs/benchmarks.md.
//
// Called by run.ts (`npm run bench`, or `npm run bench -- ca` for this section alone).
//   BENCH_CA_CSRS      CSRs for our backend (default 200)
//   BENCH_CA_PKI_CSRS  of those, how many node-opcua-pki signs (default 30: it takes ~80 ms each)
//   BENCH_CA_ROUNDS    timed passes over the CSRs per mode for our backend (default 5; median reported)
//   BENCH_CA_SPEED_SECONDS  `openssl speed -seconds` (default 3)
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { benchNodeOpcuaPki, nodeSignRate, opensslSpeed, opensslVerify, opensslVersion, type OpensslSpeed, type PkiBaseline } from "./ca-baselines.js";
import { makeCsrs, type BenchCsr } from "./ca-csrs.js";
import { openOurCa } from "./ca-ours.js";
import { removeTempDir, tempDir } from "./child.js";
import { median, percentile } from "./stats.js";

export const CA_TARGET = {
  /** ours / node-opcua-pki (default backend), certificates per second. */
  vsNodeOpcuaPki: 20,
  /** ours / `openssl speed rsa<bits>` sign/s on one core. */
  vsOpensslOneCore: 0.5,
};

/** What the benchmark needs from a CA under test (our backend is adapted to it in ca-ours.ts). */
export interface CaUnderTest {
  label: string;
  /** The CA's certificate chain as PEM (for `openssl verify -CAfile`). */
  caChainPem: string;
  /** The whole CSR-signing path minus the store: parse + verify the CSR, then issue. */
  sign(csrDer: Buffer): Promise<{ der: Buffer; parseMs: number; issueMs: number }>;
}
export type OpenCaUnderTest = (dataDir: string, caKeyBits: number) => Promise<CaUnderTest>;

export interface CaBenchResult {
  lines: string[];
  targets: { target: string; measured: string; pass: boolean | null }[];
}

interface OursRun {
  inFlight: number;
  /** certs/s of each timed round. */
  roundRates: number[];
  /** ms per certificate (wall time of each sign() call). */
  perCertMs: number[];
  parseMs: number[];
  issueMs: number[];
}

const CA_KEY_BITS = 3072; // GDS_CA_KEY_SIZE's default
const num = (name: string, dflt: number) => Number(process.env[name]) || dflt;

const f = (v: number, digits = 2) => v.toFixed(digits);

function table(header: string[], rows: (string | number)[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: (string | number)[]) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

const toPem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`;

/** Runs `csrs` through `ca.sign` with `inFlight` calls outstanding; returns per-call timings. */
async function pass(ca: CaUnderTest, csrs: BenchCsr[], inFlight: number, issued?: Buffer[]) {
  const perCertMs: number[] = [];
  const parseMs: number[] = [];
  const issueMs: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < csrs.length) {
        const i = next++;
        const t = performance.now();
        const r = await ca.sign(csrs[i]!.der);
        perCertMs.push(performance.now() - t);
        parseMs.push(r.parseMs);
        issueMs.push(r.issueMs);
        if (issued) issued[i] = r.der;
      }
    }),
  );
  const ms = performance.now() - t0;
  return { rate: (csrs.length / ms) * 1000, perCertMs, parseMs, issueMs };
}

/**
 * Checks a sample of what `ca` issued, so the benchmark cannot time a broken signer: `openssl verify`
 * against the CA chain, and (node's X509Certificate) the certified key is the CSR's, the SAN carries
 * the CSR's URI and DNS name. Returns how many were checked.
 */
async function checkIssued(ca: CaUnderTest, csrs: BenchCsr[], issued: Buffer[], dir: string, sample: number): Promise<number> {
  const caFile = path.join(dir, "ca-chain.pem");
  fs.writeFileSync(caFile, ca.caChainPem);
  const step = Math.max(1, Math.floor(csrs.length / sample));
  const files: string[] = [];
  for (let i = 0; i < csrs.length && files.length < sample; i += step) {
    const der = issued[i];
    if (!der) throw new Error(`no certificate issued for CSR ${i}`);
    const cert = new X509Certificate(der);
    const csr = csrs[i]!;
    const spki = cert.publicKey.export({ type: "spki", format: "der" });
    if (!spki.equals(csr.spki)) throw new Error(`certificate ${i}: public key is not the CSR's`);
    const san = cert.subjectAltName ?? "";
    if (!san.includes(`URI:${csr.applicationUri}`) || !san.includes(`DNS:${csr.dnsName}`)) throw new Error(`certificate ${i}: subjectAltName "${san}" lacks the CSR's URI/DNS`);
    const file = path.join(dir, `issued-${i}.pem`);
    fs.writeFileSync(file, toPem(der));
    files.push(file);
  }
  await opensslVerify(caFile, files);
  return files.length;
}

async function benchOurs(open: OpenCaUnderTest, csrs: BenchCsr[], rounds: number, progress: (l: string) => void) {
  const dataDir = tempDir("gds-bench-ca-");
  try {
    let t = performance.now();
    const ca = await open(dataDir, CA_KEY_BITS);
    const initMs = performance.now() - t;
    progress(`ours: ${ca.label} ready in ${f(initMs, 0)} ms (creates the RSA-${CA_KEY_BITS} CA)`);
    // Warm-up (JIT, lazy imports, key import), not timed: one pass, 8 in flight.
    const issued: Buffer[] = [];
    await pass(ca, csrs, 8, issued);
    const verified = await checkIssued(ca, csrs, issued, dataDir, 10);
    progress(`ours: warm-up pass done; ${verified} issued certificates checked (openssl verify, key and SAN match the CSR)`);

    const runs: OursRun[] = [];
    for (const inFlight of [1, 8]) {
      const r: OursRun = { inFlight, roundRates: [], perCertMs: [], parseMs: [], issueMs: [] };
      for (let k = 0; k < rounds; k++) {
        const p = await pass(ca, csrs, inFlight);
        r.roundRates.push(p.rate);
        r.perCertMs.push(...p.perCertMs);
        r.parseMs.push(...p.parseMs);
        r.issueMs.push(...p.issueMs);
      }
      progress(`ours, ${inFlight} in flight: ${r.roundRates.map((v) => f(v, 0)).join(" / ")} certs/s (${rounds} rounds of ${csrs.length})`);
      runs.push(r);
    }
    return { label: ca.label, initMs, verified, runs };
  } finally {
    removeTempDir(dataDir);
  }
}

export async function benchCa(progress: (line: string) => void): Promise<CaBenchResult> {
  const nCsrs = num("BENCH_CA_CSRS", 200);
  const nPki = Math.min(nCsrs, num("BENCH_CA_PKI_CSRS", 30));
  const rounds = num("BENCH_CA_ROUNDS", 5);
  const speedSeconds = num("BENCH_CA_SPEED_SECONDS", 3);
  const lines: string[] = [];
  const targets: CaBenchResult["targets"] = [];

  const t = performance.now();
  const csrs = await makeCsrs(nCsrs);
  progress(`CA: ${nCsrs} CSRs made in ${f(performance.now() - t, 0)} ms (RSA-2048 key each, not timed)`);

  // 1. The physical limit: the openssl binary's (the issue's yardstick) and node's own OpenSSL's,
  //    which differ. The machine is shared: both measured before and after the signers, and the
  //    higher one-core rate is the one the ratios use.
  const version = await opensslVersion();
  progress(`CA: openssl speed (${version}), ${speedSeconds} s per operation`);
  const speedBefore = await opensslSpeed([CA_KEY_BITS, 2048], speedSeconds, 1);
  const speed2 = (await opensslSpeed([CA_KEY_BITS], speedSeconds, 2))[0]!;
  const before = speedBefore.find((s) => s.bits === CA_KEY_BITS)!;
  progress(`CA: openssl speed rsa${CA_KEY_BITS}: ${f(before.signPerSec, 1)} sign/s one core, ${f(speed2.signPerSec, 1)} with -multi 2`);
  const nodeSignBefore = nodeSignRate(CA_KEY_BITS, speedSeconds);
  progress(`CA: node crypto.sign rsa${CA_KEY_BITS} (OpenSSL ${nodeSignBefore.openssl} in node ${process.version}): ${f(nodeSignBefore.signPerSec, 1)} sign/s one core`);

  // 2. node-opcua-pki, default backend.
  const pkiDir = tempDir("gds-bench-pki-");
  let pki: PkiBaseline;
  try {
    pki = await benchNodeOpcuaPki(csrs.slice(0, nPki + 1), pkiDir, CA_KEY_BITS, [1, 8]);
    await opensslVerify(pki.caCertFile, [pki.sampleCertFile]);
  } finally {
    removeTempDir(pkiDir);
  }
  progress(
    `CA: node-opcua-pki: CA initialized in ${f(pki.initMs, 0)} ms; ${pki.runs.map((r) => `${f(r.certsPerSec, 1)} certs/s with ${r.inFlight} in flight`).join(", ")} ` +
      `(${nPki} CSRs per pass; one certificate checked with openssl verify)`,
  );

  // 3. Ours.
  const ours = await benchOurs(openOurCa, csrs, rounds, progress);

  const after = (await opensslSpeed([CA_KEY_BITS], speedSeconds, 1))[0]!;
  progress(`CA: openssl speed rsa${CA_KEY_BITS} again: ${f(after.signPerSec, 1)} sign/s one core`);
  const one = before.signPerSec >= after.signPerSec ? before : after;
  const nodeSignAfter = nodeSignRate(CA_KEY_BITS, speedSeconds);
  progress(`CA: node crypto.sign rsa${CA_KEY_BITS} again: ${f(nodeSignAfter.signPerSec, 1)} sign/s one core`);
  const nodeSign = nodeSignBefore.signPerSec >= nodeSignAfter.signPerSec ? nodeSignBefore : nodeSignAfter;

  // Report.
  const speedRow = (s: OpensslSpeed, note: string) => [`openssl speed rsa${s.bits}${s.processes > 1 ? ` -multi ${s.processes}` : ""} (${note})`, "-", s.processes, f(1000 / (s.signPerSec / s.processes)), "-", f(s.signPerSec, 1)];
  const rows: (string | number)[][] = [
    speedRow(before, "RSA signature only, 1 core, before"),
    speedRow(after, "RSA signature only, 1 core, after"),
    speedRow(speed2, "RSA signature only, 2 cores"),
    speedRow(speedBefore.find((s) => s.bits === 2048)!, "for context"),
    ...[nodeSignBefore, nodeSignAfter].map((r, i) => [`node crypto.sign rsa${CA_KEY_BITS}, sync (OpenSSL ${r.openssl} in node), 1 core, ${i ? "after" : "before"}`, "-", 1, f(1000 / r.signPerSec), "-", f(r.signPerSec, 1)]),
    ...pki.runs.map((r) => [`node-opcua-pki CertificateAuthority, default backend (openssl binary)`, r.perCertMs.length, r.inFlight, f(median(r.perCertMs)), f(percentile(r.perCertMs, 99)), f(r.certsPerSec, 1)]),
  ];
  for (const r of ours.runs) {
    rows.push([`ours: ${ours.label} (parse+verify CSR, issue)`, `${rounds}x${nCsrs}`, r.inFlight, f(median(r.perCertMs)), f(percentile(r.perCertMs, 99)), f(median(r.roundRates), 1)]);
  }
  lines.push(`RSA-${CA_KEY_BITS} CA key, SHA-256; the same CSRs for every signer (own RSA-2048 key each; CN + SAN URI + DNS); 365 days.`);
  lines.push(`ms/cert = wall time per certificate (openssl speed: 1 / per-process sign rate); certs/s = certificates / wall time of a pass (ours: median of ${rounds} passes).`);
  lines.push(`node-opcua-pki signs the first ${nPki} of the CSRs per pass (after 1 untimed warm-up); it holds a directory lock per signature.`);
  for (const l of table(["signer", "CSRs", "in flight", "ms/cert p50", "p99", "certs/s"], rows)) lines.push(l);

  const pkiBest = Math.max(...pki.runs.map((r) => r.certsPerSec));
  const pkiTarget = `CA signing: ours/node-opcua-pki (default backend) >= ${CA_TARGET.vsNodeOpcuaPki}x`;
  const sslTarget = `CA signing: ours/openssl speed rsa${CA_KEY_BITS} one core >= ${CA_TARGET.vsOpensslOneCore}`;
  const rate = (n: number) => median(ours.runs.find((r) => r.inFlight === n)!.roundRates);
  const seq = ours.runs.find((r) => r.inFlight === 1)!;
  const best = Math.max(rate(1), rate(8));
  lines.push(
    `ours, 1 in flight, per certificate p50: parse+verify CSR ${f(median(seq.parseMs))} ms + issue ${f(median(seq.issueMs))} ms ` +
      `(an RSA-${CA_KEY_BITS} signature alone: ${f(1000 / nodeSign.signPerSec)} ms in node, ${f(1000 / one.signPerSec)} ms in the openssl binary); ` +
      `${ours.verified} issued certificates checked with openssl verify`,
  );
  const pkiRate = (n: number) => pki.runs.find((r) => r.inFlight === n)!.certsPerSec;
  lines.push(
    `ratio ours/node-opcua-pki: ${f(rate(1) / pkiRate(1), 1)} with 1 in flight each, ${f(rate(8) / pkiRate(8), 1)} with 8 in flight each; ` +
      `best/best ${f(best / pkiBest, 1)} (target >= ${CA_TARGET.vsNodeOpcuaPki})`,
  );
  lines.push(
    `ratio ours/openssl rsa${CA_KEY_BITS} one core (${f(one.signPerSec, 1)}/s): ${f(rate(1) / one.signPerSec)} with 1 in flight, ${f(rate(8) / one.signPerSec)} with 8 in flight ` +
      `(target >= ${CA_TARGET.vsOpensslOneCore}); 8 in flight / openssl -multi 2: ${f(rate(8) / speed2.signPerSec)}`,
  );
  lines.push(`ratio ours/node's own crypto.sign rsa${CA_KEY_BITS} one core (${f(nodeSign.signPerSec, 1)}/s): ${f(rate(1) / nodeSign.signPerSec)} with 1 in flight, ${f(rate(8) / nodeSign.signPerSec)} with 8 in flight`);
    const rPki = best / pkiBest;
    const rSsl = best / one.signPerSec;
    targets.push({ target: pkiTarget, measured: `${f(rPki, 1)}x (${f(best, 0)} / ${f(pkiBest, 1)} certs/s; 1 in flight each ${f(rate(1) / pkiRate(1), 1)}x)`, pass: rPki >= CA_TARGET.vsNodeOpcuaPki });
    targets.push({ target: sslTarget, measured: `${f(rSsl)} (${f(best, 0)} / ${f(one.signPerSec, 0)} /s; 1 in flight ${f(rate(1) / one.signPerSec)})`, pass: rSsl >= CA_TARGET.vsOpensslOneCore });
  lines.push(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (1/5/15 min)`);
  return { lines, targets };
}
