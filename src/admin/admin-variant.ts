import { DataType, Variant, VariantArrayType } from "node-opcua";
import type { AdminArgType } from "./admin-model.js";

/**
 * The Variant for one admin-method argument, as the table types it. Used on both sides: the CLI
 * for inputs, the server for outputs. A value of the wrong JS type is a programming error, so it
 * throws a plain TypeError naming the argument.
 */
export function adminArgumentVariant(type: AdminArgType, value: unknown, name: string): Variant {
  const fail = () => new TypeError(`admin argument ${name} must be ${type}, got ${Array.isArray(value) ? "array" : typeof value}`);
  switch (type) {
    case "String":
      if (typeof value !== "string") throw fail();
      return new Variant({ dataType: DataType.String, value });
    case "String[]":
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw fail();
      return new Variant({ dataType: DataType.String, arrayType: VariantArrayType.Array, value });
    case "Boolean":
      if (typeof value !== "boolean") throw fail();
      return new Variant({ dataType: DataType.Boolean, value });
    case "UInt32":
      if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw fail();
      return new Variant({ dataType: DataType.UInt32, value });
  }
}
