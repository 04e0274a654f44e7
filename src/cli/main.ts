// The command table: citty renders help from it; main.ts dispatches the hot
// commands (run, init) without loading this module.
import { defineCommand, renderUsage, type ArgsDef, type CommandDef } from "citty";
import { versionLine } from "../version.ts";
import { cittyArgs } from "./argv.ts";
import { EXEC_FLAGS } from "./exec.ts";
import { RUN_FLAGS } from "./run-flags.ts";
import { EVENTS_FLAGS, STATS_FLAGS, UPDATE_CMD_FLAGS } from "./stats.ts";

const run = defineCommand({
  meta: { name: "run", description: "Run a command in new namespaces: myuts run [options] [--] [command [args...]]" },
  args: cittyArgs(RUN_FLAGS),
});
const spec = defineCommand({
  meta: { name: "spec", description: "Print the OCI config.json that `run` builds from the same options" },
  args: cittyArgs(RUN_FLAGS),
});
const exec = defineCommand({
  meta: { name: "exec", description: "Run a command in a running named container (its namespaces, ids and capabilities): myuts exec NAME [--] COMMAND [ARGS...]" },
  args: cittyArgs(EXEC_FLAGS),
});
const stats = defineCommand({
  meta: { name: "stats", description: "Show a running container's memory, CPU and pids usage: myuts stats [--json] NAME" },
  args: cittyArgs(STATS_FLAGS),
});
const events = defineCommand({
  meta: { name: "events", description: "Stream a running container's stats and OOM events, or print them once: myuts events [--stats] NAME" },
  args: cittyArgs(EVENTS_FLAGS),
});
const update = defineCommand({
  meta: { name: "update", description: "Change a running container's limits: myuts update NAME [--memory …] [--cpus …] [--pids-limit …]" },
  args: cittyArgs(UPDATE_CMD_FLAGS),
});
const version = defineCommand({ meta: { name: "version", description: "Print the version, commit and target" } });

export const root = defineCommand({
  meta: { name: "myuts", version: versionLine().split(" ")[1], description: "A Linux container runtime" },
  args: {
    debug: { type: "boolean", description: "full traces on errors" },
    version: { type: "boolean", alias: "V", description: "print the version, commit and target" },
  } as ArgsDef,
  subCommands: { run, exec, spec, stats, events, update, version },
});

export async function usage(sub?: string): Promise<string> {
  const subs: Record<string, CommandDef> = { run, exec, spec, stats, events, update, version };
  const cmd = sub ? subs[sub] : undefined;
  const text = await (cmd ? renderUsage(cmd, root) : renderUsage(root));
  // citty colours unconditionally; a pipe or a file gets plain text.
  return process.stdout.isTTY && !process.env.NO_COLOR ? text : text.replace(/\x1b\[[0-9;]*m/g, "");
}
