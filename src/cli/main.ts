import { defineCommand, renderUsage, runCommand as runCitty, type CommandDef } from "citty";
import { EXIT_RUNTIME, UserError } from "../util/errors.ts";
import { log } from "../util/log.ts";
import { versionLine } from "../version.ts";
import type { CliContext } from "./context.ts";
import { runCommand, specCommand } from "./run.ts";

export async function cliMain(argv: string[], origin: number): Promise<number> {
  const ctx: CliContext = { origin, debug: false, exitCode: 0, root: () => root };
  while (argv[0] === "--debug") {
    ctx.debug = true;
    argv = argv.slice(1);
  }
  const root: CommandDef = defineCommand({
    meta: { name: "myuts", description: "A Linux container runtime" },
    args: {
      debug: { type: "boolean", description: "full traces on errors" },
      version: { type: "boolean", alias: "V", description: "print the version, commit and target" },
    },
    subCommands: {
      run: runCommand(ctx),
      spec: specCommand(ctx),
      version: defineCommand({ meta: { name: "version", description: "print the version" }, run: () => console.log(versionLine()) }),
    },
  });
  try {
    const first = argv[0];
    if (first === "--version" || first === "-V") {
      console.log(versionLine());
      return 0;
    }
    if (first === undefined || first === "--help" || first === "-h" || first === "help") {
      process.stdout.write(`${await renderUsage(root)}\n`);
      return first === undefined ? EXIT_RUNTIME : 0;
    }
    if (first.startsWith("-")) throw new UserError(`unknown option ${first} (see myuts --help)`);
    const subs = root.subCommands as Record<string, unknown>;
    if (!(first in subs)) throw new UserError(`unknown command ${first} (see myuts --help)`);
    await runCitty(root, { rawArgs: argv });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof UserError) {
      log.error(e.message);
      if (ctx.debug && e.stack) process.stderr.write(`${e.stack}\n`);
      return e.exitCode;
    }
    log.error(`internal error: ${e instanceof Error ? e.message : String(e)}${ctx.debug ? "" : " (run with --debug for a trace)"}`);
    if (ctx.debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return EXIT_RUNTIME;
  }
}
