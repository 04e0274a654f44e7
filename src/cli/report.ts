import { EXIT_RUNTIME, UserError } from "../util/errors.ts";
import { log } from "../util/log.ts";
import { escapeControl } from "../util/text.ts";

/**
 * Turns any failure into one line on stderr (a trace too with --debug) and an exit
 * code. Messages carry flag values and paths as given: their control characters are
 * escaped, so a newline in a value can't split the line.
 */
export function report(e: unknown, debug: boolean): number {
  if (e instanceof UserError) {
    log.error(escapeControl(e.message));
    if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
    return e.exitCode;
  }
  log.error(`internal error: ${escapeControl(e instanceof Error ? e.message : String(e))}${debug ? "" : " (run with --debug for a trace)"}`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return EXIT_RUNTIME;
}
