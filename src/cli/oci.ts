// runc's lifecycle commands: create, start, state, kill, delete. Each takes the
// container id as its operand; `--root DIR` (before the command, as runc has it)
// picks the state root.
import { containerState, createContainer, deleteContainer, killContainer, startContainer } from "../lifecycle/container.ts";
import { loadBundle } from "../spec/bundle.ts";
import { validateSpec } from "../spec/validate.ts";
import { UserError } from "../util/errors.ts";
import { stdout } from "../util/output.ts";
import { parseArgv, type FlagDef } from "./argv.ts";
import { reportingDebug } from "./debug.ts";

const HELP: FlagDef = { long: "help", short: "h", description: "show this help" };
const DEBUG: FlagDef = { long: "debug", description: "full traces on errors" };

export const OCI_FLAGS: Record<string, readonly FlagDef[]> = {
  create: [
    {
      long: "bundle",
      short: "b",
      value: true,
      hint: "DIR",
      description: "the bundle: config.json and usually the root filesystem (default: the current directory)",
    },
    { long: "pid-file", value: true, hint: "FILE", description: "write the container's pid here (no newline)" },
    { long: "trace", description: "print each setup step and its duration to stderr" },
    DEBUG,
    HELP,
  ],
  start: [DEBUG, HELP],
  state: [DEBUG, HELP],
  kill: [DEBUG, HELP],
  delete: [{ long: "force", short: "f", description: "kill a container that still runs, then delete it" }, DEBUG, HELP],
};

/** A signal by name (with or without SIG) or number, as runc's kill takes it. */
export function parseSignal(v: string): number {
  if (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 64) return Number(v);
  const name = v.toUpperCase().replace(/^SIG/, "");
  const n = (require("node:os") as typeof import("node:os")).constants.signals[`SIG${name}` as keyof typeof import("node:os").constants.signals];
  if (n === undefined) throw new UserError(`kill: ${v}: not a signal name or number`);
  return n;
}

export function ociCli(cmd: string, argv: readonly string[], root: string | undefined, origin: number): Promise<number> {
  const defs = OCI_FLAGS[cmd]!;
  return reportingDebug(argv, defs, true, async () => {
    const p = parseArgv(argv, defs, cmd);
    if (p.bools.has("help")) {
      const { usage } = await import("./main.ts");
      stdout(`${await usage(cmd)}\n`);
      return 0;
    }
    const [id, ...rest] = p.operands;
    if (!id) throw new UserError(`${cmd}: the container id is missing (see myuts ${cmd} --help)`);
    if (rest.length > (cmd === "kill" ? 1 : 0)) throw new UserError(`${cmd}: unexpected ${rest.join(" ")} (see myuts ${cmd} --help)`);
    switch (cmd) {
      case "create": {
        const { dir, spec } = loadBundle(p.flags.get("bundle")?.at(-1) ?? ".");
        await createContainer(validateSpec(spec), { id, bundle: dir, root, pidFile: p.flags.get("pid-file")?.at(-1), trace: p.bools.has("trace"), origin });
        return 0;
      }
      case "start":
        startContainer(id, root);
        return 0;
      case "state":
        stdout(`${JSON.stringify(containerState(id, root), null, 2)}\n`);
        return 0;
      case "kill":
        killContainer(id, parseSignal(rest[0] ?? "TERM"), root);
        return 0;
      default:
        await deleteContainer(id, p.bools.has("force"), root);
        return 0;
    }
  });
}
