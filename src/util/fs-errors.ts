import { errnoFromCode, SyscallError } from "../../ffi/errno.ts";
import { OsError, UserError } from "./errors.ts";

/** The errno of a node:fs error or a SyscallError, as a number. */
export function errnoOf(e: unknown): number | undefined {
  if (e instanceof SyscallError) return e.errno;
  return errnoFromCode((e as { code?: string } | null)?.code);
}

/**
 * A failed file operation in its context, keeping the errno as a number for
 * cli/report.ts to word; an error without one keeps its message.
 */
export function fsError(context: string, e: unknown, syscall?: string): OsError | UserError {
  // Worded already, with the context nearest to the failure.
  if (e instanceof OsError || e instanceof UserError) return e;
  const n = errnoOf(e);
  if (n !== undefined) return new OsError(context, n, { syscall });
  return new UserError(`${context}: ${e instanceof Error ? e.message : String(e)}`);
}
