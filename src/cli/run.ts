import { defineCommand, renderUsage, type CommandDef } from "citty";
import { isatty } from "../../ffi/libc.ts";
import { runSpec } from "../lifecycle/run.ts";
import { specFromRun } from "../spec/from-run.ts";
import type { Spec } from "../spec/types.ts";
import { cittyArgs } from "./argv.ts";
import { parseRunArgs, RUN_FLAGS, type RunOptions } from "./run-flags.ts";
import type { CliContext } from "./context.ts";

function toSpec(o: RunOptions): Spec {
  return specFromRun(o, {
    env: process.env,
    cwd: process.cwd(),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    stdinIsTTY: isatty(0),
  });
}

export function runCommand(ctx: CliContext): CommandDef {
  const cmd: CommandDef = defineCommand({
    meta: { name: "run", description: "Run a command in new namespaces: myuts run [options] [--] [command [args...]]" },
    args: cittyArgs(RUN_FLAGS),
    async run({ rawArgs }) {
      const o = parseRunArgs(rawArgs, process.env);
      if (o.help) return void process.stdout.write(`${await renderUsage(cmd, ctx.root())}\n`);
      ctx.debug ||= o.debug;
      ctx.exitCode = await runSpec(toSpec(o), { trace: o.trace, debug: ctx.debug, origin: ctx.origin });
    },
  });
  return cmd;
}

export function specCommand(ctx: CliContext): CommandDef {
  const cmd: CommandDef = defineCommand({
    meta: { name: "spec", description: "Print the OCI config.json that `run` would use for the same options" },
    args: cittyArgs(RUN_FLAGS),
    async run({ rawArgs }) {
      const o = parseRunArgs(rawArgs, process.env);
      if (o.help) return void process.stdout.write(`${await renderUsage(cmd, ctx.root())}\n`);
      process.stdout.write(`${JSON.stringify(toSpec(o), null, 2)}\n`);
    },
  });
  return cmd;
}
