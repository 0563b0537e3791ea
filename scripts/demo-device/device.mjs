#!/usr/bin/env node
/**
 * Demo device: a push-managed OPC UA server (OPC 10000-12 §7.10 ServerConfiguration) for
 * opcua-gds tests and demos. Plain JS, no build step; its own npm project because
 * node-opcua-server-configuration on npm is stuck at 2.157.0 and pins node-opcua 2.157, which
 * cannot share a process with the GDS's node-opcua 2.186.
 *
 *   node device.mjs [--port 4850] [--hostname 127.0.0.1] [--pki-dir DIR] [--user secadmin]
 *                   [--password P | --password-env VAR] [--trust DIR] [--strict | --accept-unknown]
 *                   [--application-uri URI] [--admin-cert FILE ...] [--log-logins FILE]
 *
 * Every flag has an env var: DEMO_DEVICE_PORT, DEMO_DEVICE_HOSTNAME, DEMO_DEVICE_PKI_DIR,
 * DEMO_DEVICE_USER, DEMO_DEVICE_PASSWORD, DEMO_DEVICE_TRUST, DEMO_DEVICE_STRICT=1,
 * DEMO_DEVICE_APPLICATION_URI, DEMO_DEVICE_ADMIN_CERT (one file), DEMO_DEVICE_LOG_LOGINS.
 * Flags win over env vars.
 *
 * - Endpoints: None, Basic256Sha256 Sign and SignAndEncrypt. ServerConfiguration methods need
 *   SignAndEncrypt and a user holding SecurityAdmin (well-known role ns=0;i=15704): the one user
 *   `--user` has it. Anonymous sessions are allowed (browse/read only).
 * - `--password`/`--password-env`: without them the demo default password is used, and only while
 *   listening on a loopback address (the device refuses to start on another address without one).
 * - `--trust DIR`: the files `gds trustlist export` writes (DER or PEM certificates, CRLs as .crl or
 *   PEM "X509 CRL") are copied into the device's trusted store at start (certificates to
 *   trusted/certs, CRLs to trusted/crl), so it trusts the GDS (its CA and its own certificate).
 * - `--admin-cert FILE` (repeatable; DER or PEM, e.g. the gds-server.der of an export): a session
 *   whose X509 user token is that certificate gets SecurityAdmin (the GDS's "log in with its own
 *   certificate"). The file goes into the user-token PKI (user-pki/trusted/certs), and users are
 *   matched by the certificate's CN, as node-opcua names X509 users.
 * - Unknown client certificates are accepted by default (demo convenience; a warning is logged,
 *   and the certificate lands in trusted/certs like a real device whose admin clicked "trust").
 *   `--strict` refuses them: only certificates from --trust (or signed by a CA among them) pass.
 * - `--log-logins FILE`: every user-name login attempt (ActivateSession with a UserName token)
 *   appends one JSON line {time, userName, accepted} to FILE; never the password. Shows what a
 *   client sent to this server (a test proves with it that a GDS sent no credentials to a server
 *   it should not trust).
 * - Ready: prints one line `demo-device listening on opc.tcp://HOST:PORT ...` on stdout.
 *   SIGTERM/SIGINT: shuts down and exits 0 (also when stdin closes, if DEMO_DEVICE_STOP_ON_STDIN_EOF=1).
 * - State: the PKI (own certificate and key, trusted/issuers/rejected) lives in --pki-dir
 *   (default: <os tmp>/opcua-gds-demo-device-<port>); a pushed certificate survives a restart.
 *
 * Quirks of node-opcua-server-configuration 2.157 (what a GDS pushing to this device meets; see
 * ../../../shared/toolchain.md "Push targets"; each is asserted by test/integration/demo-device.test.ts):
 * - CreateSigningRequest / UpdateCertificate / ApplyChanges / TrustList writes need SignAndEncrypt
 *   (Sign only: BadSecurityModeInsufficient) and SecurityAdmin (anonymous: BadUserAccessDenied).
 *   A wrong password refuses the session itself with BadUserAccessDenied (not BadIdentityTokenRejected).
 * - CreateSigningRequest with RegeneratePrivateKey=true needs a nonce of >= 32 bytes
 *   (else BadInvalidArgument); an empty SubjectName reuses the current certificate's subject; the
 *   CSR carries the device's ApplicationUri.
 * - TrustList (every group's, e.g. DefaultApplicationGroup ns0 i=12642): 2.157's own
 *   CloseAndUpdate answers Good and changes nothing, and its RemoveCertificate removes nothing; this
 *   script binds a working TrustList file instead (trust-list-file.mjs), like a 1.05 device:
 *   Open(0x06)/Write/CloseAndUpdate REPLACES the lists named by SpecifiedLists in pki/trusted/certs,
 *   trusted/crl, issuers/certs, issuers/crl, re-indexes the certificate manager at once (new
 *   channels are judged by the new lists: a client a written CRL revokes is refused), and answers
 *   ApplyChangesRequired=true (ApplyChanges then closes every channel 2 s later, as below). Open(1)
 *   / OpenWithMasks + Read show what is written. Bytes that are no TrustListDataType:
 *   BadDecodingError; an entry that is no DER certificate/CRL: BadCertificateInvalid (nothing
 *   changes, the handle is closed). A list without the caller's own certificate is applied too.
 *   One writer at a time (BadInvalidState). RemoveCertificate(thumbprint) removes the certificate
 *   (and a CA's CRLs); unknown thumbprint: BadInvalidArgument. AddCertificate is 2.157's (takes a
 *   certificate or chain, no CRLs). Asserted by test/integration/demo-device-trustlist.test.ts.
 * - A refused certificate (a client's channel) is logged with its CN, SHA-1 and the reason, e.g.
 *   `certificate refused: CN=… sha1 …: BadCertificateRevoked`; the client itself only sees its
 *   socket closed.
 * - UpdateCertificate checks the key and the validity dates, answers ApplyChangesRequired=true and
 *   changes nothing until ApplyChanges. IssuerCertificates are not kept: the device then serves its
 *   leaf only, so a 2.186 client without the CA in its PKI gets BadCertificateChainIncomplete.
 * - ApplyChanges suspends the endpoints, moves the new certificate (and key) into own/, and 2 s
 *   later closes every channel and resumes the endpoints: clients must reconnect; new channels,
 *   CreateSession and GetEndpoints then present the new certificate (verified, also after a
 *   restart: the state is in --pki-dir). Nothing more is needed from this script for that.
 * - SupportedPrivateKeyFormats is ["PEM"].
 * - In strict mode an untrusted client certificate is answered by closing the socket (the client
 *   sees "socket has been disconnected"); the certificate lands in pki/rejected.
 * - 2.157 puts its own self-signed certificate into trusted/certs at first start.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  WellKnownRoles,
  makeRoles,
} from "node-opcua";
import { installPushCertificateManagementOnServer } from "node-opcua-server-configuration";
import { bindWorkingTrustList } from "./trust-list-file.mjs";

const DEMO_DEFAULT_PASSWORD = "demo-secadmin-password";

function usage() {
  return [
    "usage: node device.mjs [options]",
    "  --port N                 TCP port (default 4850; env DEMO_DEVICE_PORT)",
    "  --hostname H             address to listen on and to put in endpoint URLs (default 127.0.0.1; env DEMO_DEVICE_HOSTNAME)",
    "  --pki-dir DIR            PKI and state folder (default <tmp>/opcua-gds-demo-device-<port>; env DEMO_DEVICE_PKI_DIR)",
    "  --user NAME              the SecurityAdmin user (default secadmin; env DEMO_DEVICE_USER)",
    "  --password P             its password (env DEMO_DEVICE_PASSWORD)",
    "  --password-env VAR       read the password from env var VAR",
    "  --trust DIR              copy the certificates/CRLs in DIR (gds trustlist export) into the trusted store at start (env DEMO_DEVICE_TRUST)",
    "  --strict                 refuse unknown client certificates (env DEMO_DEVICE_STRICT=1)",
    "  --accept-unknown         accept unknown client certificates, with a warning (the default)",
    "  --application-uri URI    the device's ApplicationUri (default urn:opcua-gds:demo-device; env DEMO_DEVICE_APPLICATION_URI)",
    "  --admin-cert FILE        an X509 user certificate (DER/PEM) that gets SecurityAdmin, e.g. gds-server.der; repeatable (env DEMO_DEVICE_ADMIN_CERT)",
    "  --log-logins FILE        append one JSON line {time, userName, accepted} per user-name login attempt, never the password (env DEMO_DEVICE_LOG_LOGINS)",
  ].join("\n");
}

function fail(message) {
  process.stderr.write(`demo-device: ${message}\n`);
  process.exit(2);
}

function parseOptions(argv, env) {
  const o = {
    port: env.DEMO_DEVICE_PORT,
    hostname: env.DEMO_DEVICE_HOSTNAME,
    pkiDir: env.DEMO_DEVICE_PKI_DIR,
    user: env.DEMO_DEVICE_USER,
    password: env.DEMO_DEVICE_PASSWORD,
    trust: env.DEMO_DEVICE_TRUST,
    strict: env.DEMO_DEVICE_STRICT === "1" || env.DEMO_DEVICE_STRICT === "true",
    applicationUri: env.DEMO_DEVICE_APPLICATION_URI,
    adminCerts: env.DEMO_DEVICE_ADMIN_CERT ? [env.DEMO_DEVICE_ADMIN_CERT] : [],
    logLogins: env.DEMO_DEVICE_LOG_LOGINS,
  };
  const valued = { "--port": "port", "--hostname": "hostname", "--pki-dir": "pkiDir", "--user": "user", "--password": "password", "--trust": "trust", "--application-uri": "applicationUri", "--log-logins": "logLogins" };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const take = () => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) fail(`${arg} needs a value\n${usage()}`);
      return v;
    };
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(usage() + "\n");
      process.exit(0);
    } else if (arg in valued) o[valued[arg]] = take();
    else if (arg === "--password-env") {
      const name = take();
      const v = env[name];
      if (v === undefined || v === "") fail(`--password-env ${name}: that environment variable is not set`);
      o.password = v;
    } else if (arg === "--admin-cert") o.adminCerts.push(take());
    else if (arg === "--strict") o.strict = true;
    else if (arg === "--accept-unknown") o.strict = false;
    else fail(`unknown option ${argv[i]}\n${usage()}`);
  }
  const port = Number(o.port ?? 4850);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port must be 1..65535, got ${o.port}`);
  o.port = port;
  o.hostname ||= "127.0.0.1";
  o.user ||= "secadmin";
  o.applicationUri ||= "urn:opcua-gds:demo-device";
  o.pkiDir = path.resolve(o.pkiDir || path.join(os.tmpdir(), `opcua-gds-demo-device-${port}`));
  if (!o.password) {
    const loopback = o.hostname === "localhost" || o.hostname === "::1" || o.hostname.startsWith("127.");
    if (!loopback) fail(`listening on ${o.hostname} needs --password or --password-env (the demo default password is only for loopback)`);
    o.password = DEMO_DEFAULT_PASSWORD;
    o.demoPassword = true;
  }
  return o;
}

/** DER bytes of a certificate or CRL file (DER, or PEM with one block). */
function readDerOrPem(file) {
  const bytes = fs.readFileSync(file);
  const text = bytes.toString("latin1");
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) return { der: bytes, pemLabel: undefined };
  return { der: Buffer.from(m[2].replace(/\s+/g, ""), "base64"), pemLabel: m[1] };
}

/** Every block of a PEM file (a bundle), or the DER file as one block. */
function readAllDerOrPem(file) {
  const bytes = fs.readFileSync(file);
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  const blocks = [...bytes.toString("latin1").matchAll(re)].map((m) => ({ der: Buffer.from(m[2].replace(/\s+/g, ""), "base64"), pemLabel: m[1] }));
  return blocks.length > 0 ? blocks : [{ der: bytes, pemLabel: undefined }];
}

/** Copies the files of `dir` (what `gds trustlist export` writes) into the trusted store. */
function installTrust(dir, pkiDir) {
  const certsDir = path.join(pkiDir, "trusted", "certs");
  const crlDir = path.join(pkiDir, "trusted", "crl");
  fs.mkdirSync(certsDir, { recursive: true });
  fs.mkdirSync(crlDir, { recursive: true });
  const copied = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (!fs.statSync(file).isFile()) continue;
    const ext = path.extname(name).toLowerCase();
    if (![".der", ".cer", ".crt", ".pem", ".crl"].includes(ext)) continue;
    const base = path.basename(name, path.extname(name));
    const blocks = readAllDerOrPem(file);
    for (const [i, { der, pemLabel }] of blocks.entries()) {
      const isCrl = pemLabel ? pemLabel.includes("CRL") : ext === ".crl";
      const stem = blocks.length > 1 ? `${base}-${i + 1}` : base;
      const dest = isCrl ? path.join(crlDir, `${stem}.crl`) : path.join(certsDir, `${stem}.der`);
      fs.writeFileSync(dest, der);
      copied.push(path.relative(pkiDir, dest));
    }
  }
  return copied;
}

/** The first DER element of a buffer (a certificate chain is its certificates back to back). */
function firstDerElement(buf) {
  if (buf.length < 2) return buf;
  const first = buf[1];
  if (first < 0x80) return buf.subarray(0, 2 + first);
  const n = first & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + buf[2 + i];
  return buf.subarray(0, 2 + n + len);
}

/** The CN of a certificate (DER), as node-opcua 2.157 names an X509 user. */
function commonNameOf(der) {
  const cn = new crypto.X509Certificate(der).subject.split("\n").find((l) => l.startsWith("CN="));
  return cn ? cn.slice(3) : "";
}

/** Trusts the admin certificates as X509 user tokens; returns their CNs (the user names that get SecurityAdmin). */
function installAdminCerts(files, userPki) {
  const dir = path.join(userPki, "trusted", "certs");
  fs.mkdirSync(dir, { recursive: true });
  const names = [];
  for (const file of files) {
    if (!fs.existsSync(file)) fail(`--admin-cert ${file}: no such file`);
    const { der } = readDerOrPem(file);
    let cn;
    try {
      cn = commonNameOf(der);
    } catch (err) {
      fail(`--admin-cert ${file}: not a certificate (${err.message})`);
    }
    if (!cn) fail(`--admin-cert ${file}: the certificate has no CN`);
    const thumbprint = crypto.createHash("sha1").update(der).digest("hex");
    fs.writeFileSync(path.join(dir, `admin-${thumbprint}.der`), der);
    names.push(cn);
  }
  return names;
}

function log(message) {
  process.stdout.write(`demo-device: ${message}\n`);
}

async function main() {
  const o = parseOptions(process.argv.slice(2), process.env);
  fs.mkdirSync(o.pkiDir, { recursive: true });
  const serverPki = path.join(o.pkiDir, "pki");
  const userPki = path.join(o.pkiDir, "user-pki");

  if (o.trust) {
    if (!fs.existsSync(o.trust) || !fs.statSync(o.trust).isDirectory()) fail(`--trust ${o.trust}: not a folder`);
    const copied = installTrust(o.trust, serverPki);
    log(`trusting ${copied.length} file(s) from ${o.trust}: ${copied.join(", ")}`);
  }
  const adminCertNames = installAdminCerts(o.adminCerts, userPki);
  if (adminCertNames.length > 0) log(`SecurityAdmin for X509 users: ${adminCertNames.join(", ")}`);
  if (o.demoPassword) log(`WARNING: user ${o.user} has the demo default password "${DEMO_DEFAULT_PASSWORD}"; use --password-env VAR for anything but a local demo`);
  if (!o.strict) log("WARNING: accepting unknown client certificates (demo mode); use --strict to refuse them");

  const serverCertificateManager = new OPCUACertificateManager({
    rootFolder: serverPki,
    automaticallyAcceptUnknownCertificate: !o.strict,
  });
  // One line per refused certificate (a client's channel, a pushed certificate), with the reason.
  const verifyCertificate = serverCertificateManager.verifyCertificate.bind(serverCertificateManager);
  serverCertificateManager.verifyCertificate = async (certificate, options) => {
    const status = await verifyCertificate(certificate, options);
    if (status !== "Good" && !(status === "BadCertificateUntrusted" && !o.strict)) {
      let who = "";
      try {
        const first = new crypto.X509Certificate(firstDerElement(Buffer.from(certificate)));
        who = `${first.subject.split("\n").find((l) => l.startsWith("CN=")) ?? "no CN"} sha1 ${first.fingerprint.replace(/:/g, "").toLowerCase()}`;
      } catch {
        who = "an unparsable certificate";
      }
      log(`certificate refused: ${who}: ${status}`);
    }
    return status;
  };
  const userCertificateManager = new OPCUACertificateManager({
    rootFolder: userPki,
    automaticallyAcceptUnknownCertificate: false,
  });

  const server = new OPCUAServer({
    port: o.port,
    hostname: o.hostname,
    alternateHostname: [],
    serverCertificateManager,
    userCertificateManager,
    serverInfo: {
      applicationUri: o.applicationUri,
      productUri: "urn:opcua-gds:demo-device",
      applicationName: { text: "opcua-gds demo device", locale: "en" },
    },
    buildInfo: { productName: "opcua-gds demo device", manufacturerName: "opcua-gds" },
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
    allowAnonymous: true,
    userManager: {
      isValidUser: (userName, password) => {
        const accepted = userName === o.user && password === o.password;
        if (o.logLogins) fs.appendFileSync(o.logLogins, JSON.stringify({ time: new Date().toISOString(), userName, accepted }) + "\n");
        return accepted;
      },
      // Password users reach here only after isValidUser; X509 users only with a certificate
      // trusted in user-pki (the --admin-cert files), named by their CN.
      getUserRoles: (userName) =>
        userName === o.user || adminCertNames.includes(userName)
          ? makeRoles([WellKnownRoles.AuthenticatedUser, WellKnownRoles.SecurityAdmin])
          : makeRoles([WellKnownRoles.Anonymous]),
    },
  });

  await server.initialize();
  await installPushCertificateManagementOnServer(server);

  const serverConfiguration = server.engine.addressSpace.rootFolder.objects.server.getChildByName("ServerConfiguration");
  // 2.157's TrustList CloseAndUpdate/RemoveCertificate change nothing: a real 1.05 device applies
  // a written trust list, so bind a working one (trust-list-file.mjs) on every group's TrustList.
  for (const group of serverConfiguration?.certificateGroups?.getComponents() ?? []) {
    const trustList = group.getComponentByName?.("TrustList");
    if (trustList?.$$certificateManager) bindWorkingTrustList(trustList, { log, name: `${group.browseName.name}.TrustList` });
  }
  const pushManager = serverConfiguration?.$pushCertificateManager;
  if (pushManager) {
    pushManager.on("CertificateChanged", () => log("ApplyChanges: certificate changed; channels are closed and endpoints resumed"));
  }

  await server.start();
  const endpointUrl = `opc.tcp://${o.hostname}:${o.port}`;
  log(`listening on ${endpointUrl} (pki ${o.pkiDir}, user ${o.user}, ${o.strict ? "strict" : "accepting unknown client certificates"})`);

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    try {
      await server.shutdown(0);
    } catch (err) {
      process.stderr.write(`demo-device: shutdown: ${err?.message ?? err}\n`);
    }
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // Set by the test helper: the device goes when its parent goes (even a parent that is killed).
  if (process.env.DEMO_DEVICE_STOP_ON_STDIN_EOF === "1") {
    process.stdin.on("end", () => void stop("stdin closed"));
    process.stdin.on("error", () => void stop("stdin closed"));
    process.stdin.resume();
  }
}

main().catch((err) => {
  process.stderr.write(`demo-device: failed to start: ${err?.stack ?? err}\n`);
  process.exit(1);
});
