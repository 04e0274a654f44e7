import { UserError } from "../../src/util/errors.ts";

/** The UserError `fn` throws; anything else thrown (or nothing) fails the test. */
export function failure(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error("expected a UserError");
}
