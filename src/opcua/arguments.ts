import { DataType, NodeId, NodeIdType, VariantArrayType, type Variant } from "node-opcua";
import { GdsError } from "../errors.js";

/**
 * Decoding of method input Variants with the checks node-opcua leaves to us: count, DataType,
 * scalar vs array, and bounds. Every failure is BadInvalidArgument naming the argument.
 */
export const MAX_STRING_ARGUMENT = 4096;
export const MAX_ARRAY_ARGUMENT = 256;

export function expectArgumentCount(args: Variant[], names: string[]): void {
  if (args.length !== names.length) {
    throw new GdsError("BadInvalidArgument", `expected ${names.length} input argument(s) (${names.join(", ")}), got ${args.length}`);
  }
}

function isScalarOf(v: Variant | undefined, dataType: DataType): boolean {
  return !!v && v.arrayType === VariantArrayType.Scalar && (v.dataType === dataType || (v.dataType === DataType.Null && dataType !== DataType.Boolean));
}

/** A String argument; null → "". */
export function stringArg(args: Variant[], index: number, name: string, max = MAX_STRING_ARGUMENT): string {
  const v = args[index];
  if (!isScalarOf(v, DataType.String)) throw new GdsError("BadInvalidArgument", `${name}: expected a String`);
  const s = (v.value ?? "") as string;
  if (s.length > max) throw new GdsError("BadInvalidArgument", `${name}: longer than ${max} characters`);
  return s;
}

export function uint32Arg(args: Variant[], index: number, name: string): number {
  const v = args[index];
  if (!v || v.arrayType !== VariantArrayType.Scalar || v.dataType !== DataType.UInt32) {
    throw new GdsError("BadInvalidArgument", `${name}: expected a UInt32`);
  }
  return v.value as number;
}

/** A String[] argument; null → []. Null elements become "". */
export function stringArrayArg(args: Variant[], index: number, name: string, maxItems = MAX_ARRAY_ARGUMENT, maxLength = MAX_STRING_ARGUMENT): string[] {
  const v = args[index];
  if (!v) throw new GdsError("BadInvalidArgument", `${name}: missing`);
  if (v.dataType === DataType.Null) return [];
  if (v.dataType !== DataType.String || v.arrayType !== VariantArrayType.Array) {
    throw new GdsError("BadInvalidArgument", `${name}: expected an array of String`);
  }
  const items = (v.value ?? []) as (string | null)[];
  if (items.length > maxItems) throw new GdsError("BadInvalidArgument", `${name}: more than ${maxItems} elements`);
  return items.map((s, i) => {
    const str = s ?? "";
    if (str.length > maxLength) throw new GdsError("BadInvalidArgument", `${name}[${i}]: longer than ${maxLength} characters`);
    return str;
  });
}

/** A NodeId argument (may be the null NodeId). */
export function nodeIdArg(args: Variant[], index: number, name: string): NodeId {
  const v = args[index];
  if (!v || v.arrayType !== VariantArrayType.Scalar) throw new GdsError("BadInvalidArgument", `${name}: expected a NodeId`);
  if (v.dataType === DataType.Null) return NodeId.nullNodeId;
  if (v.dataType !== DataType.NodeId && v.dataType !== DataType.ExpandedNodeId) throw new GdsError("BadInvalidArgument", `${name}: expected a NodeId`);
  return (v.value as NodeId) ?? NodeId.nullNodeId;
}

export function isGuidNodeIdIn(nodeId: NodeId, namespace: number): boolean {
  return nodeId.identifierType === NodeIdType.GUID && nodeId.namespace === namespace;
}

/** A ByteString argument; null → empty Buffer. `max` bytes at most. */
export function byteStringArg(args: Variant[], index: number, name: string, max = 1024 * 1024): Buffer {
  const v = args[index];
  if (!v || v.arrayType !== VariantArrayType.Scalar) throw new GdsError("BadInvalidArgument", `${name}: expected a ByteString`);
  if (v.dataType === DataType.Null || v.value === null || v.value === undefined) return Buffer.alloc(0);
  if (v.dataType !== DataType.ByteString) throw new GdsError("BadInvalidArgument", `${name}: expected a ByteString`);
  const b = v.value as Buffer;
  if (b.length > max) throw new GdsError("BadInvalidArgument", `${name}: larger than ${max} bytes`);
  return b;
}

export function booleanArg(args: Variant[], index: number, name: string): boolean {
  const v = args[index];
  if (!v || v.arrayType !== VariantArrayType.Scalar || v.dataType !== DataType.Boolean) throw new GdsError("BadInvalidArgument", `${name}: expected a Boolean`);
  return v.value === true;
}
