import { BrowseDirection, DataType, NodeClass, Variant, type ClientSession, type NodeId, type StatusCode } from "node-opcua";
import type { TrustListContent } from "../requests/certificate-manager.types.js";
import { ALL_TRUST_LISTS, decodeTrustList, encodeTrustList, type DecodedTrustList } from "./trust-list-codec.js";

/**
 * Client side of a TrustList file object (OPC 10000-12 §7.8.2): read it with
 * Open/OpenWithMasks + Read + Close, write it with Open(0x06) + Write + CloseAndUpdate. The method
 * NodeIds are found by browsing the object's components by BrowseName, so the same helpers work
 * on the GDS's lists (ns=GDS;i=616, 650, 684) and on a device's ServerConfiguration lists
 * (ns0 i=12642, …).
 */

export class TrustListCallError extends Error {
  constructor(
    readonly method: string,
    readonly statusCode: StatusCode,
    readonly trustListNodeId: NodeId,
  ) {
    super(`TrustList ${method} on ${trustListNodeId.toString()} failed: ${statusCode.toString()}`);
    this.name = "TrustListCallError";
  }
}

/** The server answered with something that is not what the method declares (wrong type, missing output). */
export class TrustListFormatError extends Error {
  readonly statusName = "BadDecodingError";
  constructor(message: string) {
    super(message);
    this.name = "TrustListFormatError";
  }
}

/** A browse or call that did not complete within `callTimeoutMs`. */
export class TrustListTimeoutError extends Error {
  readonly statusName = "BadTimeout";
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms`);
    this.name = "TrustListTimeoutError";
  }
}

/** Races `promise` against a timer; the timer never keeps the process alive. */
export async function withTimeout<T>(promise: Promise<T>, ms: number | undefined, what: string): Promise<T> {
  if (!ms || !Number.isFinite(ms) || ms <= 0) return promise;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TrustListTimeoutError(what, ms)), ms);
    timer.unref?.();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export type TrustListMethodName = "Open" | "OpenWithMasks" | "Read" | "Write" | "Close" | "CloseAndUpdate" | "AddCertificate" | "RemoveCertificate" | "GetPosition" | "SetPosition";

export interface TrustListTransferOptions {
  /** Bytes per Read/Write call, clamped to 4096..65536; default 65536. */
  chunkSize?: number;
  /** Read gives up beyond this many bytes; default 16 MiB. */
  maxSize?: number;
  /** Every browse and method call fails with TrustListTimeoutError after this long; default none. */
  callTimeoutMs?: number;
}

const DEFAULT_CHUNK = 65536;
const DEFAULT_MAX_SIZE = 16 * 1024 * 1024;
const MODE_READ = 0x01;
const MODE_WRITE_ERASE_EXISTING = 0x06;

/** The Methods of a TrustList object, by BrowseName. */
export async function browseTrustListMethods(session: ClientSession, trustListNodeId: NodeId, callTimeoutMs?: number): Promise<Map<string, NodeId>> {
  const result = await withTimeout(session.browse({
    nodeId: trustListNodeId,
    browseDirection: BrowseDirection.Forward,
    referenceTypeId: "HasComponent",
    includeSubtypes: true,
    nodeClassMask: NodeClass.Method,
    resultMask: 0x3f,
  }), callTimeoutMs, `Browse of ${trustListNodeId.toString()}`);
  if (!result.statusCode.isGood()) throw new TrustListCallError("Browse", result.statusCode, trustListNodeId);
  const methods = new Map<string, NodeId>();
  for (const ref of result.references ?? []) {
    const name = ref.browseName?.name;
    if (name && ref.nodeId) methods.set(name, ref.nodeId);
  }
  return methods;
}

class TrustListCaller {
  private constructor(
    private readonly session: ClientSession,
    private readonly objectId: NodeId,
    private readonly methods: Map<string, NodeId>,
    private readonly callTimeoutMs?: number,
  ) {}

  static async create(session: ClientSession, objectId: NodeId, callTimeoutMs?: number): Promise<TrustListCaller> {
    return new TrustListCaller(session, objectId, await browseTrustListMethods(session, objectId, callTimeoutMs), callTimeoutMs);
  }

  async call(name: TrustListMethodName, inputArguments: Variant[]): Promise<Variant[]> {
    const methodId = this.methods.get(name);
    if (!methodId) throw new TrustListFormatError(`${this.objectId.toString()} has no method ${name}; is it a TrustListType object?`);
    const result = await withTimeout(this.session.call({ objectId: this.objectId, methodId, inputArguments }), this.callTimeoutMs, `TrustList ${name}`);
    if (!result.statusCode.isGood()) throw new TrustListCallError(name, result.statusCode, this.objectId);
    return result.outputArguments ?? [];
  }

  /** The UInt32 FileHandle an Open/OpenWithMasks answered. */
  static handleOf(method: string, out: Variant[]): number {
    const v = out[0]?.value;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new TrustListFormatError(`TrustList ${method} answered no UInt32 FileHandle`);
    return v;
  }

  /** Close, ignoring failures: used on the error path only. */
  async closeQuietly(handle: number): Promise<void> {
    await this.call("Close", [u32(handle)]).catch(() => undefined);
  }
}

function u32(value: number): Variant {
  return new Variant({ dataType: DataType.UInt32, value });
}

function chunkSizeOf(opts: TrustListTransferOptions): number {
  return Math.min(65536, Math.max(4096, Math.floor(opts.chunkSize ?? DEFAULT_CHUNK)));
}

/**
 * Reads a trust list: `Open(Read)` when `masks` is undefined, else `OpenWithMasks(masks)`; Read in
 * chunks until one comes back shorter than asked; Close; decode.
 */
export async function readTrustListViaSession(
  session: ClientSession,
  trustListNodeId: NodeId,
  masks?: number,
  opts: TrustListTransferOptions = {},
): Promise<DecodedTrustList> {
  const chunkSize = chunkSizeOf(opts);
  const maxSize = opts.maxSize ?? DEFAULT_MAX_SIZE;
  const caller = await TrustListCaller.create(session, trustListNodeId, opts.callTimeoutMs);
  const opened =
    masks === undefined
      ? await caller.call("Open", [new Variant({ dataType: DataType.Byte, value: MODE_READ })])
      : await caller.call("OpenWithMasks", [u32(masks)]);
  const handle = TrustListCaller.handleOf(masks === undefined ? "Open" : "OpenWithMasks", opened);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const out = await caller.call("Read", [u32(handle), new Variant({ dataType: DataType.Int32, value: chunkSize })]);
      const value = out[0]?.value as unknown;
      if (value !== null && value !== undefined && !Buffer.isBuffer(value)) throw new TrustListFormatError("TrustList Read answered something other than a ByteString");
      const data = (value as Buffer | null | undefined) ?? Buffer.alloc(0);
      chunks.push(data);
      total += data.length;
      if (total > maxSize) throw new Error(`trust list ${trustListNodeId.toString()} is larger than ${maxSize} bytes`);
      if (data.length < chunkSize) break;
    }
  } catch (err) {
    await caller.closeQuietly(handle);
    throw err;
  }
  await caller.call("Close", [u32(handle)]);
  return decodeTrustList(Buffer.concat(chunks, total));
}

/**
 * Replaces the lists named by `specifiedLists` (TrustListMasks): Open(Write|EraseExisting), Write in
 * chunks, CloseAndUpdate. On a failure before CloseAndUpdate the handle is closed (discarded).
 * Returns the server's ApplyChangesRequired (a device may need ApplyChanges; the GDS answers false).
 */
export async function writeTrustListViaSession(
  session: ClientSession,
  trustListNodeId: NodeId,
  content: TrustListContent,
  specifiedLists: number = ALL_TRUST_LISTS,
  opts: TrustListTransferOptions = {},
): Promise<{ applyChangesRequired: boolean }> {
  const chunkSize = chunkSizeOf(opts);
  const data = encodeTrustList(content, specifiedLists);
  const caller = await TrustListCaller.create(session, trustListNodeId, opts.callTimeoutMs);
  const opened = await caller.call("Open", [new Variant({ dataType: DataType.Byte, value: MODE_WRITE_ERASE_EXISTING })]);
  const handle = TrustListCaller.handleOf("Open", opened);
  try {
    for (let offset = 0; offset < data.length; offset += chunkSize) {
      await caller.call("Write", [u32(handle), new Variant({ dataType: DataType.ByteString, value: data.subarray(offset, offset + chunkSize) })]);
    }
  } catch (err) {
    await caller.closeQuietly(handle);
    throw err;
  }
  let out: Variant[];
  try {
    out = await caller.call("CloseAndUpdate", [u32(handle)]);
  } catch (err) {
    // Servers differ on whether a failed CloseAndUpdate closes the handle; make sure it is.
    await caller.closeQuietly(handle);
    throw err;
  }
  return { applyChangesRequired: out[0]?.value === true };
}

/** AddCertificate(Certificate, IsTrustedCertificate) on a TrustList object. */
export async function addTrustListCertificateViaSession(session: ClientSession, trustListNodeId: NodeId, der: Buffer, isTrusted: boolean, opts: { callTimeoutMs?: number } = {}): Promise<void> {
  const caller = await TrustListCaller.create(session, trustListNodeId, opts.callTimeoutMs);
  await caller.call("AddCertificate", [new Variant({ dataType: DataType.ByteString, value: der }), new Variant({ dataType: DataType.Boolean, value: isTrusted })]);
}

/** RemoveCertificate(Thumbprint, IsTrustedCertificate) on a TrustList object; thumbprint = SHA-1 hex. */
export async function removeTrustListCertificateViaSession(
  session: ClientSession,
  trustListNodeId: NodeId,
  thumbprint: string,
  isTrusted: boolean,
  opts: { callTimeoutMs?: number } = {},
): Promise<void> {
  const caller = await TrustListCaller.create(session, trustListNodeId, opts.callTimeoutMs);
  await caller.call("RemoveCertificate", [new Variant({ dataType: DataType.String, value: thumbprint }), new Variant({ dataType: DataType.Boolean, value: isTrusted })]);
}
