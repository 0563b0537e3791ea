/**
 * A working TrustList file (OPC 10000-12 §7.8.2) for the demo device, bound over what
 * node-opcua-server-configuration 2.157 installs (its CloseAndUpdate answers Good and changes
 * nothing, its RemoveCertificate answers Good and removes nothing).
 *
 * - Open(0x01) / OpenWithMasks(masks): a snapshot of the certificate manager's folders
 *   (trusted/certs, trusted/crl, issuers/certs, issuers/crl), encoded as a TrustListDataType; Read
 *   in chunks; Close. GetPosition/SetPosition work on the handle.
 * - Open(0x06) / Write / CloseAndUpdate: the written bytes are decoded as a TrustListDataType;
 *   every list named by SpecifiedLists REPLACES the content of its folder; the certificate
 *   manager's in-memory index is rebuilt at once, so the next OpenSecureChannel is judged by the
 *   new lists (a client whose certificate a new CRL revokes is refused). Answers
 *   ApplyChangesRequired = TRUE (what 1.05 devices say; ApplyChanges then closes every channel, so
 *   channels opened under the old list end too). Open(0x06) and CloseAndUpdate need SignAndEncrypt
 *   and SecurityAdmin. Bytes that do not decode: BadDecodingError; a certificate or CRL that does
 *   not parse: BadCertificateInvalid; either way nothing changes and the handle is closed.
 * - RemoveCertificate(thumbprint, isTrusted): removes the certificate (and, for a CA, the CRLs it
 *   issued) from trusted/ or issuers/; an unknown thumbprint is BadInvalidArgument.
 * - Only one writer at a time (another Open(0x06), or an Open for reading, while a write handle of
 *   a live session is open: BadInvalidState / BadNotReadable). Handles belong to their session.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { MessageSecurityMode, WellKnownRoles } from "node-opcua";

// The modules node-opcua-server-configuration 2.157 itself uses (same versions, same parsing).
const requireHere = createRequire(import.meta.url);
const requireConfiguration = createRequire(requireHere.resolve("node-opcua-server-configuration"));
const requirePki = createRequire(requireHere.resolve("node-opcua-pki"));
const { TrustListDataType } = requireConfiguration("node-opcua-types");
const { BinaryStream } = requireConfiguration("node-opcua-binary-stream");
const { StatusCodes } = requireConfiguration("node-opcua-status-code");
const { DataType, Variant } = requireConfiguration("node-opcua-variant");
const { readCertificate, readCertificateRevocationList, exploreCertificate, exploreCertificateRevocationList } = requirePki("node-opcua-crypto");

const MODE_READ = 0x01;
const MODE_WRITE_ERASE_EXISTING = 0x06;
const MAX_WRITE_BYTES = 16 * 1024 * 1024;

/** TrustListMasks → the TrustListDataType field and the certificate manager folder. */
const LISTS = [
  { mask: 1, field: "trustedCertificates", kind: "certificate", folder: (cm) => cm.trustedFolder },
  { mask: 2, field: "trustedCrls", kind: "crl", folder: (cm) => cm.crlFolder },
  { mask: 4, field: "issuerCertificates", kind: "certificate", folder: (cm) => cm.issuersCertFolder },
  { mask: 8, field: "issuerCrls", kind: "crl", folder: (cm) => cm.issuersCrlFolder },
];

const CERT_EXTENSIONS = new Set([".der", ".pem", ".crt", ".cer"]);
const sha1 = (der) => crypto.createHash("sha1").update(der).digest("hex");

function hasEncryptedChannel(context) {
  return context?.session?.channel?.securityMode === MessageSecurityMode.SignAndEncrypt;
}

function isSecurityAdmin(context) {
  return !!context?.session?.userIdentityToken && context.currentUserHasRole(WellKnownRoles.SecurityAdmin);
}

/** BadSecurityModeInsufficient / BadUserAccessDenied, or undefined when the caller may change the list. */
function adminRefusal(context) {
  if (!hasEncryptedChannel(context)) return StatusCodes.BadSecurityModeInsufficient;
  if (!isSecurityAdmin(context)) return StatusCodes.BadUserAccessDenied;
  return undefined;
}

function sessionKey(context) {
  return context?.session?.getSessionId?.()?.toString() ?? "no-session";
}

function sessionIsGone(session) {
  return !session || ["closed", "disposed", "screwed"].includes(session.status);
}

/** The DER files of one folder, sorted by name: [{ file, der }]. Files that do not parse are skipped (2.157's index skips them too). */
async function readFolderAsync(folder, kind) {
  if (!fs.existsSync(folder)) return [];
  const out = [];
  for (const name of fs.readdirSync(folder).sort()) {
    const file = path.join(folder, name);
    const ext = path.extname(name).toLowerCase();
    try {
      if (!fs.statSync(file).isFile()) continue;
      // readCertificateRevocationList is async in node-opcua-crypto 4.x, readCertificate is not.
      if (kind === "crl" && ext === ".crl") out.push({ file, der: Buffer.from(await readCertificateRevocationList(file)) });
      else if (kind === "certificate" && CERT_EXTENSIONS.has(ext)) out.push({ file, der: Buffer.from(await readCertificate(file)) });
    } catch {
      // not a certificate / CRL: not part of the list
    }
  }
  return out;
}

async function buildTrustList(cm, masks) {
  const lists = {};
  for (const l of LISTS) {
    if (masks & l.mask) lists[l.field] = (await readFolderAsync(l.folder(cm), l.kind)).map((e) => e.der);
  }
  const trustList = new TrustListDataType({ specifiedLists: masks, ...lists });
  const stream = new BinaryStream(trustList.binaryStoreSize());
  trustList.encode(stream);
  return stream.buffer;
}

/** Decodes the written bytes; throws { statusCode, message } when they are not a valid TrustListDataType. */
function decodeWritten(bytes) {
  const trustList = new TrustListDataType();
  const stream = new BinaryStream(bytes);
  try {
    trustList.decode(stream);
  } catch (err) {
    throw { statusCode: StatusCodes.BadDecodingError, message: `not a TrustListDataType: ${err.message}` };
  }
  if (stream.length !== bytes.length) throw { statusCode: StatusCodes.BadDecodingError, message: `${bytes.length - stream.length} byte(s) after the TrustListDataType` };
  const masks = trustList.specifiedLists;
  if (!Number.isInteger(masks) || masks < 0 || masks > 15) throw { statusCode: StatusCodes.BadDecodingError, message: `SpecifiedLists ${masks} is not a TrustListMasks value` };
  for (const l of LISTS) {
    if (!(masks & l.mask)) continue;
    for (const [i, der] of (trustList[l.field] ?? []).entries()) {
      try {
        if (!Buffer.isBuffer(der) || der.length === 0) throw new Error("empty");
        if (l.kind === "certificate") exploreCertificate(der);
        else exploreCertificateRevocationList(der);
      } catch (err) {
        throw { statusCode: StatusCodes.BadCertificateInvalid, message: `${l.field}[${i}] is not a DER ${l.kind}: ${err.message}` };
      }
    }
  }
  return trustList;
}

/** Replaces the files of one folder by `ders` (named by their SHA-1); returns [added, removed]. */
function replaceFolder(folder, kind, ders) {
  fs.mkdirSync(folder, { recursive: true });
  const ext = kind === "crl" ? ".crl" : ".der";
  const wanted = new Map(ders.map((der) => [`${sha1(der)}${ext}`, der]));
  let added = 0;
  let removed = 0;
  for (const [name, der] of wanted) {
    const file = path.join(folder, name);
    if (fs.existsSync(file) && fs.readFileSync(file).equals(der)) continue;
    fs.writeFileSync(file, der);
    added++;
  }
  for (const name of fs.readdirSync(folder)) {
    if (wanted.has(name)) continue;
    const file = path.join(folder, name);
    if (!fs.statSync(file).isFile()) continue;
    fs.unlinkSync(file);
    removed++;
  }
  return [added, removed];
}

/**
 * Rebuilds the certificate manager's in-memory index (node-opcua-pki 5.x `_thumbs`) from its
 * folders. 2.157 fills it from chokidar polling (5 s, 2 s write stability) and never drops a CRL,
 * so without this a new CRL counts only seconds later and a replaced one never stops counting.
 * The index objects are emptied in place: the folder watchers hold references to them.
 */
export async function reindexCertificateManager(cm) {
  const t = cm._thumbs;
  if (!t) throw new Error("this certificate manager has no _thumbs index (not node-opcua-pki 5.x?)");
  const fillCertificates = async (index, folder) => {
    for (const key of Object.keys(index)) delete index[key];
    for (const { file, der } of await readFolderAsync(folder, "certificate")) {
      const fingerprint = sha1(der);
      index[fingerprint] = { certificate: der, filename: file };
      cm._filenameToHash[file] = fingerprint;
    }
  };
  const fillCrls = async (index, folder) => {
    for (const key of Object.keys(index)) delete index[key];
    for (const { file, der } of await readFolderAsync(folder, "crl")) {
      const crlInfo = exploreCertificateRevocationList(der);
      const fingerprint = crlInfo.tbsCertList.issuerFingerprint;
      index[fingerprint] ??= { crls: [], serialNumbers: {} };
      index[fingerprint].crls.push({ crlInfo, filename: file });
      for (const revoked of crlInfo.tbsCertList.revokedCertificates ?? []) {
        index[fingerprint].serialNumbers[revoked.userCertificate] ??= revoked.revocationDate;
      }
    }
  };
  // A watcher's late "unlink" of a file that is gone must not drop an entry another file holds.
  for (const file of Object.keys(cm._filenameToHash ?? {})) {
    if (!fs.existsSync(file)) delete cm._filenameToHash[file];
  }
  await fillCertificates(t.trusted, cm.trustedFolder);
  await fillCertificates(t.issuers.certs, cm.issuersCertFolder);
  await fillCrls(t.crl, cm.crlFolder);
  await fillCrls(t.issuersCrl, cm.issuersCrlFolder);
}

function result(statusCode, outputArguments) {
  return outputArguments ? { statusCode, outputArguments } : { statusCode };
}

/**
 * Binds the TrustList methods of `trustList` (a TrustListType object whose `$$certificateManager`
 * 2.157 has set) to the implementation above. `log(message)` gets one line per change.
 */
export function bindWorkingTrustList(trustList, { log, name }) {
  const cm = trustList.$$certificateManager;
  if (!cm) throw new Error(`${name}: the TrustList has no certificate manager bound`);
  const handles = new Map();
  let nextHandle = 1;

  /** The open write handle of a live session, if any; handles of closed sessions are dropped. */
  const liveWriter = () => {
    for (const [handle, h] of handles) if (sessionIsGone(h.session)) handles.delete(handle);
    return [...handles.values()].find((h) => h.mode === MODE_WRITE_ERASE_EXISTING);
  };
  const handleOf = (inputArguments, context) => {
    const handle = inputArguments[0]?.value;
    const h = handles.get(handle);
    return h && h.sessionKey === sessionKey(context) ? { handle, h } : undefined;
  };
  const open = async (mode, masks, context) => {
    if (mode === MODE_WRITE_ERASE_EXISTING) {
      const refused = adminRefusal(context);
      if (refused) return result(refused);
      if (liveWriter()) return result(StatusCodes.BadInvalidState);
    } else if (liveWriter()) return result(StatusCodes.BadNotReadable);
    const handle = nextHandle++;
    const data = mode === MODE_READ ? await buildTrustList(cm, masks) : undefined;
    handles.set(handle, { mode, session: context.session, sessionKey: sessionKey(context), data, chunks: [], size: 0, position: 0 });
    return result(StatusCodes.Good, [new Variant({ dataType: DataType.UInt32, value: handle })]);
  };

  const methods = {
    async Open(inputArguments, context) {
      const mode = inputArguments[0]?.value;
      if (mode !== MODE_READ && mode !== MODE_WRITE_ERASE_EXISTING) return result(StatusCodes.BadInvalidArgument);
      return open(mode, 15, context);
    },
    async OpenWithMasks(inputArguments, context) {
      const masks = inputArguments[0]?.value;
      if (!Number.isInteger(masks) || masks < 0) return result(StatusCodes.BadInvalidArgument);
      return open(MODE_READ, masks & 15, context);
    },
    async Read(inputArguments, context) {
      const found = handleOf(inputArguments, context);
      if (!found) return result(StatusCodes.BadInvalidArgument);
      const { h } = found;
      if (h.mode !== MODE_READ) return result(StatusCodes.BadInvalidState);
      const length = inputArguments[1]?.value;
      if (!Number.isInteger(length) || length < 0) return result(StatusCodes.BadInvalidArgument);
      const chunk = h.data.subarray(h.position, h.position + length);
      h.position += chunk.length;
      return result(StatusCodes.Good, [new Variant({ dataType: DataType.ByteString, value: Buffer.from(chunk) })]);
    },
    async Write(inputArguments, context) {
      const found = handleOf(inputArguments, context);
      if (!found) return result(StatusCodes.BadInvalidArgument);
      const { h } = found;
      if (h.mode !== MODE_WRITE_ERASE_EXISTING) return result(StatusCodes.BadInvalidState);
      const data = inputArguments[1]?.value ?? Buffer.alloc(0);
      if (!Buffer.isBuffer(data)) return result(StatusCodes.BadInvalidArgument);
      if (h.size + data.length > MAX_WRITE_BYTES) return result(StatusCodes.BadEncodingLimitsExceeded);
      h.chunks.push(Buffer.from(data));
      h.size += data.length;
      h.position += data.length;
      return result(StatusCodes.Good, []);
    },
    async Close(inputArguments, context) {
      const found = handleOf(inputArguments, context);
      if (!found) return result(StatusCodes.BadInvalidArgument);
      handles.delete(found.handle);
      return result(StatusCodes.Good);
    },
    async GetPosition(inputArguments, context) {
      const found = handleOf(inputArguments, context);
      if (!found) return result(StatusCodes.BadInvalidArgument);
      const p = found.h.position;
      return result(StatusCodes.Good, [new Variant({ dataType: DataType.UInt64, value: [Math.floor(p / 2 ** 32), p % 2 ** 32] })]);
    },
    async SetPosition(inputArguments, context) {
      const found = handleOf(inputArguments, context);
      if (!found) return result(StatusCodes.BadInvalidArgument);
      const v = inputArguments[1]?.value;
      const p = Array.isArray(v) ? v[0] * 2 ** 32 + v[1] : Number(v);
      if (!Number.isFinite(p) || p < 0) return result(StatusCodes.BadInvalidArgument);
      // Writes always append (the file was erased at Open); reads follow the position.
      if (found.h.mode === MODE_READ) found.h.position = Math.min(p, found.h.data.length);
      return result(StatusCodes.Good);
    },
    async CloseAndUpdate(inputArguments, context) {
      const refused = adminRefusal(context);
      if (refused) return result(refused);
      const found = handleOf(inputArguments, context);
      if (!found) return result(StatusCodes.BadInvalidArgument);
      if (found.h.mode !== MODE_WRITE_ERASE_EXISTING) return result(StatusCodes.BadInvalidState);
      // The handle is closed whatever happens next.
      handles.delete(found.handle);
      let written;
      try {
        written = decodeWritten(Buffer.concat(found.h.chunks, found.h.size));
      } catch (err) {
        if (!err?.statusCode) throw err;
        log(`${name} CloseAndUpdate refused (${err.statusCode.name}): ${err.message}; nothing changed`);
        return result(err.statusCode);
      }
      const changes = [];
      try {
        for (const l of LISTS) {
          if (!(written.specifiedLists & l.mask)) continue;
          const ders = written[l.field] ?? [];
          const [added, removed] = replaceFolder(l.folder(cm), l.kind, ders);
          changes.push(`${l.field} ${ders.length} (+${added} -${removed})`);
        }
        await reindexCertificateManager(cm);
      } catch (err) {
        log(`${name} CloseAndUpdate failed: ${err?.stack ?? err}`);
        return result(StatusCodes.BadInternalError);
      }
      touchLastUpdateTime(trustList);
      log(`${name} CloseAndUpdate: SpecifiedLists ${written.specifiedLists} replaced (${changes.join(", ") || "nothing"}); in force for new channels; ApplyChangesRequired=true`);
      return result(StatusCodes.Good, [new Variant({ dataType: DataType.Boolean, value: true })]);
    },
    async RemoveCertificate(inputArguments, context) {
      const refused = adminRefusal(context);
      if (refused) return result(refused);
      if (liveWriter()) return result(StatusCodes.BadInvalidState);
      const thumbprint = inputArguments[0]?.value;
      const isTrusted = inputArguments[1]?.value;
      if (typeof thumbprint !== "string" || !/^[0-9a-fA-F]{40}$/.test(thumbprint) || typeof isTrusted !== "boolean") return result(StatusCodes.BadInvalidArgument);
      const certFolder = isTrusted ? cm.trustedFolder : cm.issuersCertFolder;
      const crlFolder = isTrusted ? cm.crlFolder : cm.issuersCrlFolder;
      const matches = (await readFolderAsync(certFolder, "certificate")).filter((e) => sha1(e.der) === thumbprint.toLowerCase());
      if (matches.length === 0) return result(StatusCodes.BadInvalidArgument);
      let crls = 0;
      for (const { file, der } of matches) {
        fs.unlinkSync(file);
        // A CA's CRLs go with it.
        const subject = exploreCertificate(der).tbsCertificate.subjectFingerPrint;
        for (const crl of await readFolderAsync(crlFolder, "crl")) {
          if (exploreCertificateRevocationList(crl.der).tbsCertList.issuerFingerprint === subject) {
            fs.unlinkSync(crl.file);
            crls++;
          }
        }
      }
      await reindexCertificateManager(cm);
      touchLastUpdateTime(trustList);
      log(`${name} RemoveCertificate ${thumbprint.toLowerCase()} from ${isTrusted ? "trusted" : "issuers"} (${matches.length} file(s), ${crls} CRL(s))`);
      return result(StatusCodes.Good);
    },
  };

  for (const [methodName, body] of Object.entries(methods)) {
    const method = trustList.getChildByName(methodName);
    if (!method) continue;
    method.bindMethod(async (inputArguments, context) => {
      try {
        return await body(inputArguments, context);
      } catch (err) {
        log(`${name} ${methodName} failed: ${err?.stack ?? err}`);
        return result(StatusCodes.BadInternalError);
      }
    });
  }
}

function touchLastUpdateTime(trustList) {
  const lastUpdateTime = trustList.getChildByName("LastUpdateTime");
  try {
    lastUpdateTime?.setValueFromSource({ dataType: DataType.DateTime, value: new Date() });
  } catch {
    // Informational only.
  }
}
