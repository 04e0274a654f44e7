import { describe } from "../../src/cli/report.ts";
import { OsError, UserError } from "../../src/util/errors.ts";

/** What `fn` throws for the user, as the one line they would read; anything else thrown (or nothing) fails the test. */
export function failure(fn: () => unknown): { message: string; exitCode: number } {
  try {
    fn();
  } catch (e) {
    if (e instanceof UserError || e instanceof OsError) return { message: describe(e), exitCode: e.exitCode };
    throw e;
  }
  throw new Error("expected a UserError or an OsError");
}
