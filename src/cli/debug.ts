// `--debug` after the command (`myuts run --debug …`) works like before it: the
// command's own errors are reported here, with a trace. Without it they go to the
// entry point, which knows about a leading `--debug`.
import { debugRequested, type FlagDef } from "./argv.ts";

export async function reportingDebug(argv: readonly string[], defs: readonly FlagDef[], leadingOperand: boolean, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (!debugRequested(argv, defs, leadingOperand)) throw e;
    // Loaded only on failure: the reporter pulls in consola.
    return (await import("./report.ts")).report(e, true);
  }
}
