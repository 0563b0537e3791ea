import {
  DataType,
  NodeClass,
  NodeId,
  StatusCodes,
  Variant,
  VariantArrayType,
  type AddressSpace,
  type ISessionBase,
  type UAObject,
  type UAVariable,
} from "node-opcua";
import type { CertificateGroupName } from "../ca/certificate-types.js";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { TrustListContent, TrustListSnapshot } from "../requests/certificate-manager.types.js";
import { expectArgumentCount, uint32Arg } from "./arguments.js";
import { makeMethodHandler, type CallContext, type MethodBody } from "./method-handler.js";
import { ALL_TRUST_LISTS, decodeTrustList, encodeTrustList, encodedTrustListSize, maskTrustList } from "./trust-list-codec.js";

/**
 * The TrustList file objects of the GDS's certificate groups (OPC 10000-5 Annex C FileType,
 * OPC 10000-12 §7.8.2 TrustListType): Open/OpenWithMasks/Read/GetPosition/SetPosition/Close for
 * readers, Open(Write|EraseExisting)/Write/CloseAndUpdate for the one writer, AddCertificate and
 * RemoveCertificate, and the Size/Writable/UserWritable/OpenCount/LastUpdateTime properties.
 *
 * The content comes from a TrustListSource (the CertificateManagerService); this module only does
 * the file protocol: handles, positions, sessions, size limits, the byte encoding.
 *
 * Handles are a bounded resource: a few per session, a few per caller over all its sessions, and
 * a share of the whole that only admins may take, so no number of ApplicationSelfAdmins can lock
 * the CA's admins out. Handles die with their session and after ActivityTimeout without a call.
 */

/** What the installer needs of the CertificateManagerService (structurally the same methods). */
export interface TrustListSource {
  trustList(group: CertificateGroupName): TrustListSnapshot;
  replaceTrustList(group: CertificateGroupName, content: TrustListContent, mask: number, actor: string): Promise<void>;
  addTrustListCertificate(group: CertificateGroupName, der: Buffer, isTrusted: boolean, actor: string): Promise<void>;
  removeTrustListCertificate(group: CertificateGroupName, thumbprint: string, isTrusted: boolean, actor: string): Promise<void>;
  onTrustListChanged(listener: (group: CertificateGroupName) => void): () => void;
}

export interface TrustListFileOptions {
  addressSpace: AddressSpace;
  /** The TrustListType object (e.g. ns=GDS;i=616), or its NodeId. */
  trustListNode: UAObject | NodeId;
  group: CertificateGroupName;
  source: TrustListSource;
  /** Throws GdsError("BadUserAccessDenied") unless the caller may read this trust list. */
  canRead(call: CallContext): void;
  /** Throws GdsError("BadUserAccessDenied") unless the caller may change this trust list. */
  canWrite(call: CallContext): void;
  log: Logger;
  /** Who did it, for the service's audit log; default `call.userName`. */
  actorOf?: (call: CallContext) => string;
  /** Upper bound of the bytes one write handle may receive; default 1 MiB. */
  maxTrustListSize?: number;
  /** A handle not used for this long is closed (its written data dropped); default 60 s. */
  activityTimeoutMs?: number;
  /** Open handles per session on this trust list; default 4. */
  maxHandlesPerSession?: number;
  /** Open handles on this trust list over all sessions; default 64. */
  maxHandles?: number;
  /**
   * Of `maxHandles`, this many only admins (`isAdmin`) may take: callers who are not admins
   * (ApplicationSelfAdmins) share the rest, so however many of them there are, an admin always
   * gets a handle. Default 16.
   */
  reservedForAdmins?: number;
  /** Open handles of one caller who is not an admin (one `principalOf`, over its sessions); default 8. */
  maxHandlesPerPrincipal?: number;
  /** Whether the caller holds one of the roles the reserved handles are kept for; default: nobody. */
  isAdmin?: (call: CallContext) => boolean;
  /** Who the caller is, for the per-caller cap (e.g. `app:<ApplicationId>`); default `actorOf`. */
  principalOf?: (call: CallContext) => string;
  /**
   * Registers a listener for closed sessions, e.g.
   * `(l) => { const h = (s: ServerSession) => l(s.nodeId); server.on("session_closed", h); return () => server.off("session_closed", h); }`.
   * Without it, handles of closed sessions are still dropped, lazily (on the next call or sweep).
   */
  onSessionClosed?: (listener: (sessionId: NodeId) => void) => (() => void) | void;
  /** Milliseconds clock for the activity timeout; default Date.now. */
  now?: () => number;
}

export interface TrustListFileBinding {
  readonly group: CertificateGroupName;
  readonly nodeId: NodeId;
  /** Handles open right now. */
  openCount(): number;
  /** Closes every handle of that session (written data dropped); returns how many. */
  closeSessionHandles(sessionId: NodeId): number;
  /** Closes all handles, stops the idle sweep and unsubscribes from the source. Methods stay bound. */
  dispose(): void;
}

export const DEFAULT_MAX_TRUST_LIST_SIZE = 1024 * 1024;
export const DEFAULT_ACTIVITY_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_HANDLES_PER_SESSION = 4;
export const DEFAULT_MAX_HANDLES = 64;
export const DEFAULT_HANDLES_RESERVED_FOR_ADMINS = 16;
export const DEFAULT_MAX_HANDLES_PER_PRINCIPAL = 8;
/** Read returns at most this many bytes per call (FileType allows fewer than asked for). */
export const MAX_READ_CHUNK = 1024 * 1024;

/** OpenFileMode (OPC 10000-5 §12.2.1). */
const MODE_READ = 0x01;
const MODE_WRITE_ERASE_EXISTING = 0x06;
const THUMBPRINT = /^[0-9a-fA-F]{40}$/;

/** FileHandles are unique in the process (so over every trust list of the server); never 0. */
let lastHandle = 0;
function allocateHandle(): number {
  lastHandle = lastHandle >= 0xffffffff ? 1 : lastHandle + 1;
  return lastHandle;
}

interface FileHandle {
  readonly id: number;
  readonly sessionKey: string;
  readonly session: ISessionBase | undefined;
  /** Opened by an admin: counts against the whole cap only, not against the shared pool. */
  readonly admin: boolean;
  readonly principal: string;
  readonly kind: "read" | "write";
  /** read: the encoded snapshot taken at open time. */
  readonly data: Buffer;
  /** read: the next byte Read returns. */
  position: number;
  /** write: what Write appended so far. */
  readonly chunks: Buffer[];
  written: number;
  /** write: CloseAndUpdate is applying this handle's data. */
  closing: boolean;
  lastActivity: number;
}

export function installTrustListFile(opts: TrustListFileOptions): TrustListFileBinding {
  const { addressSpace, group, source, log } = opts;
  const maxTrustListSize = opts.maxTrustListSize ?? DEFAULT_MAX_TRUST_LIST_SIZE;
  const activityTimeoutMs = opts.activityTimeoutMs ?? DEFAULT_ACTIVITY_TIMEOUT_MS;
  const maxHandlesPerSession = opts.maxHandlesPerSession ?? DEFAULT_MAX_HANDLES_PER_SESSION;
  const maxHandles = opts.maxHandles ?? DEFAULT_MAX_HANDLES;
  const reservedForAdmins = Math.min(opts.reservedForAdmins ?? DEFAULT_HANDLES_RESERVED_FOR_ADMINS, maxHandles);
  const maxHandlesPerPrincipal = opts.maxHandlesPerPrincipal ?? DEFAULT_MAX_HANDLES_PER_PRINCIPAL;
  const isAdmin = opts.isAdmin ?? (() => false);
  const now = opts.now ?? Date.now;
  const actorOf = opts.actorOf ?? ((call: CallContext) => call.userName);
  const principalOf = opts.principalOf ?? actorOf;

  const node = resolveTrustListNode(addressSpace, opts.trustListNode);
  const nodeId = node.nodeId;
  const handles = new Map<number, FileHandle>();
  const listLog = log.child({ trustList: nodeId.toString(), group });

  // The full encoding, shared by read handles opened while the content does not change.
  let encodedCache: { lastUpdateTime: number; data: Buffer } | undefined;

  const variables = bindVariables();

  function bindVariables(): { openCount?: UAVariable; size?: UAVariable; lastUpdateTime?: UAVariable } {
    const prop = (name: string): UAVariable | undefined => node.getPropertyByName(name) ?? undefined;
    const bind = (name: string, get: () => Variant): UAVariable | undefined => {
      const v = prop(name);
      if (!v) return undefined;
      v.bindVariable(
        {
          get: () => {
            try {
              return get();
            } catch (err) {
              listLog.warn({ variable: name, err }, "trust list property unavailable");
              return StatusCodes.BadInternalError;
            }
          },
        },
        true,
      );
      return v;
    };
    bind("Writable", () => new Variant({ dataType: DataType.Boolean, value: true }));
    // Static: whether this session may write is decided per call (canWrite).
    bind("UserWritable", () => new Variant({ dataType: DataType.Boolean, value: true }));
    const size = bind("Size", () => uint64Variant(encodedTrustListSize(source.trustList(group))));
    const openCount = bind("OpenCount", () => new Variant({ dataType: DataType.UInt16, value: Math.min(handles.size, 0xffff) }));
    const lastUpdateTime = bind("LastUpdateTime", () => new Variant({ dataType: DataType.DateTime, value: source.trustList(group).lastUpdateTime }));
    // Optional properties the GDS nodeset does not instantiate; bound if a nodeset has them.
    bind("UpdateFrequency", () => new Variant({ dataType: DataType.Double, value: 3_600_000 }));
    bind("ActivityTimeout", () => new Variant({ dataType: DataType.Double, value: activityTimeoutMs }));
    bind("MaxByteStringLength", () => new Variant({ dataType: DataType.UInt32, value: MAX_READ_CHUNK }));
    return { openCount, size, lastUpdateTime };
  }

  /** Re-reads a bound variable so that monitored items see the change now, not at the next sample. */
  function refresh(v: UAVariable | undefined): void {
    if (!v) return;
    try {
      v.readValue();
    } catch {
      /* the getter logs */
    }
  }

  const unsubscribe = source.onTrustListChanged((changed) => {
    if (changed !== group) return;
    encodedCache = undefined;
    refresh(variables.size);
    refresh(variables.lastUpdateTime);
  });
  const unsubscribeSessions = opts.onSessionClosed?.((sessionId) => {
    closeSessionHandles(sessionId);
  });

  const sweepTimer = setInterval(sweep, Math.max(1000, Math.min(activityTimeoutMs / 2, 30_000)));
  sweepTimer.unref();

  function drop(h: FileHandle, reason: string): void {
    handles.delete(h.id);
    listLog.debug({ fileHandle: h.id, kind: h.kind, reason }, "trust list handle closed");
    refresh(variables.openCount);
  }

  /** Drops handles of closed sessions and idle handles (never one whose CloseAndUpdate runs). */
  function sweep(): void {
    const t = now();
    for (const h of [...handles.values()]) {
      if (h.closing) continue;
      if (isSessionGone(h.session)) drop(h, "session closed");
      else if (t - h.lastActivity > activityTimeoutMs) {
        listLog.info({ fileHandle: h.id, kind: h.kind, idleMs: t - h.lastActivity }, "trust list handle closed after ActivityTimeout");
        drop(h, "activity timeout");
      }
    }
  }

  function closeSessionHandles(sessionId: NodeId): number {
    const key = sessionId.toString();
    let n = 0;
    for (const h of [...handles.values()]) {
      if (h.sessionKey === key && !h.closing) {
        drop(h, "session closed");
        n++;
      }
    }
    return n;
  }

  function writer(): FileHandle | undefined {
    for (const h of handles.values()) if (h.kind === "write") return h;
    return undefined;
  }

  function open(call: CallContext, kind: "read" | "write", data: Buffer): number {
    const key = sessionKeyOf(call);
    const admin = isAdmin(call);
    const principal = principalOf(call);
    let mine = 0;
    let shared = 0;
    let principals = 0;
    for (const h of handles.values()) {
      if (h.sessionKey === key) mine++;
      if (!h.admin) {
        shared++;
        if (h.principal === principal) principals++;
      }
    }
    const refuse = (why: string): never => {
      listLog.warn({ user: call.userName, principal, admin, open: handles.size, why }, "trust list Open refused: too many handles");
      throw new GdsError("BadTooManyOperations", why);
    };
    if (mine >= maxHandlesPerSession) refuse(`this session already has ${mine} handles open on the trust list (at most ${maxHandlesPerSession}); close some first`);
    if (handles.size >= maxHandles) refuse(`${handles.size} handles are open on the trust list (at most ${maxHandles}); try again later`);
    if (!admin) {
      if (principals >= maxHandlesPerPrincipal) refuse(`${principal} already has ${principals} handles open on the trust list over its sessions (at most ${maxHandlesPerPrincipal}); close some first`);
      if (shared >= maxHandles - reservedForAdmins) {
        refuse(`the ${maxHandles - reservedForAdmins} handles of the trust list open to applications are in use (the other ${reservedForAdmins} are kept for admins); try again later`);
      }
    }
    const h: FileHandle = {
      id: allocateHandle(),
      sessionKey: key,
      session: call.context.session,
      admin,
      principal,
      kind,
      data,
      position: 0,
      chunks: [],
      written: 0,
      closing: false,
      lastActivity: now(),
    };
    handles.set(h.id, h);
    listLog.debug({ fileHandle: h.id, kind, user: call.userName, bytes: data.length }, "trust list opened");
    refresh(variables.openCount);
    return h.id;
  }

  /** The caller's own handle; another session's handle is as unknown as a made-up one. */
  function handleOf(call: CallContext, id: number): FileHandle {
    const h = handles.get(id);
    if (!h || h.sessionKey !== sessionKeyOf(call)) throw new GdsError("BadInvalidArgument", `FileHandle ${id} is not open on this trust list in this session`);
    return h;
  }

  /** Access by the handle's kind: read handles need canRead, write handles canWrite. */
  function ownHandle(call: CallContext, id: number): FileHandle {
    const h = handleOf(call, id);
    if (h.kind === "read") opts.canRead(call);
    else opts.canWrite(call);
    h.lastActivity = now();
    return h;
  }

  function encodedFull(): Buffer {
    const snapshot = source.trustList(group);
    const key = snapshot.lastUpdateTime.getTime();
    if (encodedCache?.lastUpdateTime !== key) encodedCache = { lastUpdateTime: key, data: encodeTrustList(snapshot, ALL_TRUST_LISTS) };
    return encodedCache.data;
  }

  function refuseWhileWriting(what: string): void {
    const w = writer();
    if (w) throw new GdsError("BadInvalidState", `${what} is not possible while the trust list is open for writing (FileHandle ${w.id})`);
  }

  const bind = (name: string, body: MethodBody): void => {
    const method = node.getMethodByName(name);
    if (!method) throw new Error(`trust list ${nodeId.toString()} has no method ${name}`);
    method.bindMethod(
      makeMethodHandler({
        method: `${group}.TrustList.${name}`,
        security: "sign",
        log,
        body: async (args, call) => {
          sweep();
          return body(args, call);
        },
      }),
    );
  };

  bind("Open", async (args, call) => {
    expectArgumentCount(args, ["Mode"]);
    const mode = byteArg(args, 0, "Mode");
    if (mode === MODE_READ) {
      opts.canRead(call);
      return [uint32Variant(open(call, "read", encodedFull()))];
    }
    if (mode === MODE_WRITE_ERASE_EXISTING) {
      opts.canWrite(call);
      const w = writer();
      if (w) {
        if (w.sessionKey === sessionKeyOf(call)) throw new GdsError("BadInvalidState", `this session already has the trust list open for writing (FileHandle ${w.id})`);
        throw new GdsError("BadTransactionPending", "another session has the trust list open for writing; try again after it closes");
      }
      return [uint32Variant(open(call, "write", Buffer.alloc(0)))];
    }
    throw new GdsError("BadNotSupported", `Open mode 0x${mode.toString(16).padStart(2, "0")} is not supported; use 0x01 (Read) or 0x06 (Write|EraseExisting)`);
  });

  bind("OpenWithMasks", async (args, call) => {
    expectArgumentCount(args, ["Masks"]);
    const masks = uint32Arg(args, 0, "Masks");
    if (masks > ALL_TRUST_LISTS) throw new GdsError("BadInvalidArgument", `Masks ${masks} is not a TrustListMasks value (0..15)`);
    opts.canRead(call);
    const data = masks === ALL_TRUST_LISTS ? encodedFull() : encodeTrustList(maskTrustList(source.trustList(group), masks), masks);
    return [uint32Variant(open(call, "read", data))];
  });

  bind("Read", async (args, call) => {
    expectArgumentCount(args, ["FileHandle", "Length"]);
    const id = uint32Arg(args, 0, "FileHandle");
    const length = int32Arg(args, 1, "Length");
    if (length <= 0) throw new GdsError("BadInvalidArgument", `Length must be positive, got ${length}`);
    const h = ownHandle(call, id);
    if (h.kind !== "read") throw new GdsError("BadInvalidState", `FileHandle ${id} is open for writing, not reading`);
    const n = Math.min(length, MAX_READ_CHUNK, h.data.length - h.position);
    const chunk = Buffer.from(h.data.subarray(h.position, h.position + n));
    h.position += n;
    return [new Variant({ dataType: DataType.ByteString, value: chunk })];
  });

  bind("Write", async (args, call) => {
    expectArgumentCount(args, ["FileHandle", "Data"]);
    const id = uint32Arg(args, 0, "FileHandle");
    const data = byteStringArg(args, 1, "Data");
    const h = ownHandle(call, id);
    if (h.kind !== "write") throw new GdsError("BadInvalidState", `FileHandle ${id} is open for reading, not writing`);
    if (h.closing) throw new GdsError("BadInvalidState", `FileHandle ${id} is being closed`);
    if (h.written + data.length > maxTrustListSize) {
      throw new GdsError("BadEncodingLimitsExceeded", `the trust list would exceed ${maxTrustListSize} bytes (${h.written} written, ${data.length} more offered)`);
    }
    if (data.length > 0) {
      h.chunks.push(Buffer.from(data));
      h.written += data.length;
    }
  });

  bind("GetPosition", async (args, call) => {
    expectArgumentCount(args, ["FileHandle"]);
    const h = ownHandle(call, uint32Arg(args, 0, "FileHandle"));
    const position = h.kind === "read" ? h.position : h.written;
    return [uint64Variant(position)];
  });

  bind("SetPosition", async (args, call) => {
    expectArgumentCount(args, ["FileHandle", "Position"]);
    const id = uint32Arg(args, 0, "FileHandle");
    const position = uint64Arg(args, 1, "Position");
    const h = ownHandle(call, id);
    if (h.kind !== "read") throw new GdsError("BadNotSupported", `FileHandle ${id} is open for writing; a write handle only appends`);
    // OPC 10000-5 C.2.7: a position beyond the end sets the position to the end.
    h.position = Math.min(position, h.data.length);
  });

  bind("Close", async (args, call) => {
    expectArgumentCount(args, ["FileHandle"]);
    const id = uint32Arg(args, 0, "FileHandle");
    const h = ownHandle(call, id);
    if (h.closing) throw new GdsError("BadInvalidState", `FileHandle ${id} is being closed by CloseAndUpdate`);
    drop(h, h.kind === "write" ? "closed; written data discarded" : "closed");
  });

  bind("CloseAndUpdate", async (args, call) => {
    expectArgumentCount(args, ["FileHandle"]);
    const id = uint32Arg(args, 0, "FileHandle");
    const h = ownHandle(call, id);
    if (h.kind !== "write") throw new GdsError("BadInvalidState", `FileHandle ${id} is open for reading; CloseAndUpdate needs a handle opened with mode 0x06`);
    if (h.closing) throw new GdsError("BadInvalidState", `FileHandle ${id} is already being closed`);
    // The handle stays registered (and blocks other writers and Add/RemoveCertificate) until the
    // service has answered; it is closed whatever the outcome.
    h.closing = true;
    try {
      let decoded;
      try {
        decoded = decodeTrustList(Buffer.concat(h.chunks, h.written));
      } catch (err) {
        if (err instanceof GdsError) throw new GdsError("BadCertificateInvalid", `the written data is not a TrustListDataType: ${err.message}`);
        throw err;
      }
      await source.replaceTrustList(group, decoded.content, decoded.specifiedLists, actorOf(call));
      listLog.info({ user: call.userName, specifiedLists: decoded.specifiedLists, bytes: h.written }, "trust list replaced");
    } finally {
      handles.delete(h.id);
      refresh(variables.openCount);
    }
    encodedCache = undefined;
    // No transactions in the GDS: the change is in effect already.
    return [new Variant({ dataType: DataType.Boolean, value: false })];
  });

  bind("AddCertificate", async (args, call) => {
    expectArgumentCount(args, ["Certificate", "IsTrustedCertificate"]);
    const der = byteStringArg(args, 0, "Certificate");
    const isTrusted = booleanArg(args, 1, "IsTrustedCertificate");
    opts.canWrite(call);
    refuseWhileWriting("AddCertificate");
    if (der.length === 0) throw new GdsError("BadInvalidArgument", "Certificate: empty");
    await source.addTrustListCertificate(group, Buffer.from(der), isTrusted, actorOf(call));
    encodedCache = undefined;
    listLog.info({ user: call.userName, isTrusted }, "certificate added to the trust list");
  });

  bind("RemoveCertificate", async (args, call) => {
    expectArgumentCount(args, ["Thumbprint", "IsTrustedCertificate"]);
    const thumbprint = stringArgRaw(args, 0, "Thumbprint").trim();
    const isTrusted = booleanArg(args, 1, "IsTrustedCertificate");
    opts.canWrite(call);
    refuseWhileWriting("RemoveCertificate");
    if (!THUMBPRINT.test(thumbprint)) throw new GdsError("BadInvalidArgument", "Thumbprint: expected the SHA-1 digest as 40 hexadecimal digits");
    await source.removeTrustListCertificate(group, thumbprint.toLowerCase(), isTrusted, actorOf(call));
    encodedCache = undefined;
    listLog.info({ user: call.userName, isTrusted, thumbprint: thumbprint.toLowerCase() }, "certificate removed from the trust list");
  });

  return {
    group,
    nodeId,
    openCount: () => handles.size,
    closeSessionHandles,
    dispose() {
      clearInterval(sweepTimer);
      unsubscribe();
      if (typeof unsubscribeSessions === "function") unsubscribeSessions();
      handles.clear();
    },
  };
}

function resolveTrustListNode(addressSpace: AddressSpace, ref: UAObject | NodeId): UAObject {
  if (!(ref instanceof NodeId)) return ref;
  const node = addressSpace.findNode(ref);
  if (!node || node.nodeClass !== NodeClass.Object) throw new Error(`trust list object ${ref.toString()} not found in the address space`);
  return node as UAObject;
}

function sessionKeyOf(call: CallContext): string {
  const session = call.context.session;
  if (!session) return "";
  try {
    return session.getSessionId().toString();
  } catch {
    return "";
  }
}

/** node-opcua's ServerSession has a status; a closed or disposed session's handles are void. */
function isSessionGone(session: ISessionBase | undefined): boolean {
  const status = (session as { status?: string } | undefined)?.status;
  return status === "closed" || status === "disposed";
}

function uint32Variant(value: number): Variant {
  return new Variant({ dataType: DataType.UInt32, value });
}

/** node-opcua carries a UInt64 as [high, low] and wants the scalar array type spelled out. */
function uint64Variant(value: number): Variant {
  return new Variant({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [Math.floor(value / 0x1_0000_0000), value >>> 0] });
}

function scalar(args: Variant[], index: number, name: string, dataType: DataType, typeName: string): Variant {
  const v = args[index];
  if (!v || v.arrayType !== VariantArrayType.Scalar || v.dataType !== dataType) throw new GdsError("BadInvalidArgument", `${name}: expected a ${typeName}`);
  return v;
}

function byteArg(args: Variant[], index: number, name: string): number {
  return scalar(args, index, name, DataType.Byte, "Byte").value as number;
}

function int32Arg(args: Variant[], index: number, name: string): number {
  return scalar(args, index, name, DataType.Int32, "Int32").value as number;
}

function booleanArg(args: Variant[], index: number, name: string): boolean {
  return scalar(args, index, name, DataType.Boolean, "Boolean").value === true;
}

/** UInt64 arrives as [high, low]; beyond 2^53 it is clamped (no trust list is that large). */
function uint64Arg(args: Variant[], index: number, name: string): number {
  const value = scalar(args, index, name, DataType.UInt64, "UInt64").value as unknown;
  if (Array.isArray(value) && value.length === 2) {
    const [high, low] = value as number[];
    return Math.min(high * 0x1_0000_0000 + low, Number.MAX_SAFE_INTEGER);
  }
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : value);
  throw new GdsError("BadInvalidArgument", `${name}: expected a UInt64`);
}

/** A ByteString; null → empty. Also accepts a null Variant. */
function byteStringArg(args: Variant[], index: number, name: string): Buffer {
  const v = args[index];
  if (v && v.arrayType === VariantArrayType.Scalar && v.dataType === DataType.Null) return Buffer.alloc(0);
  const value = scalar(args, index, name, DataType.ByteString, "ByteString").value as Buffer | null;
  return value ?? Buffer.alloc(0);
}

/** A String of any length (the Thumbprint format check follows); null → "". */
function stringArgRaw(args: Variant[], index: number, name: string): string {
  const v = args[index];
  if (v && v.arrayType === VariantArrayType.Scalar && v.dataType === DataType.Null) return "";
  return (scalar(args, index, name, DataType.String, "String").value as string | null) ?? "";
}
