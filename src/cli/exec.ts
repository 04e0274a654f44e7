// `myuts exec NAME [--] COMMAND [ARGS...]`: a new process in a running, named
// container, in all of its namespaces and with its init's ids and capabilities.
import { execInContainer } from "../lifecycle/exec.ts";
import { UserError } from "../util/errors.ts";
import { parseArgv, type FlagDef } from "./argv.ts";
import { reportingDebug } from "./debug.ts";
import { stdout } from "../util/output.ts";

export const EXEC_FLAGS: readonly FlagDef[] = [
  { long: "trace", description: "print each setup step and its duration to stderr" },
  { long: "debug", description: "full traces on errors" },
  { long: "help", short: "h", description: "show this help" },
];

export function execCli(argv: readonly string[], origin: number): Promise<number> {
  return reportingDebug(argv, EXEC_FLAGS, false, () => exec(argv, origin));
}

async function exec(argv: readonly string[], origin: number): Promise<number> {
  const p = parseArgv(argv, EXEC_FLAGS, "exec");
  if (p.bools.has("help")) {
    const { usage } = await import("./main.ts");
    stdout(`${await usage("exec")}\n`);
    return 0;
  }
  const [name, ...rest] = p.operands;
  const args = rest[0] === "--" ? rest.slice(1) : rest;
  if (!name || !args.length) throw new UserError("exec: usage: myuts exec NAME [--] COMMAND [ARGS...] (see myuts exec --help)");
  return execInContainer({ name, args, trace: p.bools.has("trace"), origin });
}
