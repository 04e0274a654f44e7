import { EPIPE, errnoText, SyscallError } from "../../ffi/errno.ts";
import { EXIT_RUNTIME, OsError, UserError } from "../util/errors.ts";
import { log } from "../util/log.ts";
import { stderr } from "../util/output.ts";
import { escapeControl } from "../util/text.ts";

/** The one line an error gets. Errnos are words only from here on. */
export function describe(e: unknown): string {
  if (e instanceof OsError) {
    const { say, syscall, hint } = e.detail;
    const how = say ?? syscall;
    return `${e.context}: ${how ? `${how}: ` : ""}${errnoText(e.errno)}${hint ? `: ${hint}` : ""}`;
  }
  if (e instanceof SyscallError) return `${e.syscall}${e.target ? ` ${e.target}` : ""}: ${errnoText(e.errno)}`;
  if (e instanceof UserError) return e.message;
  return `internal error: ${e instanceof Error ? e.message : String(e)}`;
}

/**
 * Turns any failure into one line on stderr (a trace too with --debug) and an exit
 * code. Messages carry flag values and paths as given: their control characters are
 * escaped, so a newline in a value can't split the line.
 */
export function report(e: unknown, debug: boolean): number {
  // Whoever read the output stopped (`myuts logs -f NAME | head`): as a program killed by SIGPIPE, quietly.
  if (e instanceof SyscallError && e.syscall === "write" && e.errno === EPIPE) return 128 + 13;
  const known = e instanceof UserError || e instanceof OsError;
  log.error(`${escapeControl(describe(e))}${known || debug ? "" : " (run with --debug for a trace)"}`);
  if (debug && e instanceof Error && e.stack) stderr(`${e.stack}\n`);
  return known ? (e as UserError | OsError).exitCode : EXIT_RUNTIME;
}
