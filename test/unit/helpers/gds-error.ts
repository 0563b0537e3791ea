import { expect } from "@jest/globals";
import { GdsError, type GdsStatusName } from "../../../src/errors.js";

function checkGdsError(caught: unknown, status: GdsStatusName, fragments: string[]): GdsError {
  expect(caught).toBeInstanceOf(GdsError);
  const err = caught as GdsError;
  expect(err.statusName).toBe(status);
  for (const f of fragments) expect(err.message).toContain(f);
  return err;
}

/** Asserts that `fn` throws a GdsError with `status` whose message contains every fragment. */
export function throwsGdsError(fn: () => unknown, status: GdsStatusName, ...fragments: string[]): GdsError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  return checkGdsError(caught, status, fragments);
}

/** The same for a promise that must reject. */
export async function rejectsGdsError(p: Promise<unknown>, status: GdsStatusName, ...fragments: string[]): Promise<GdsError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  return checkGdsError(caught, status, fragments);
}
