// The command table: citty renders help from it; main.ts dispatches the hot
// commands (run, init) without loading this module.
import { defineCommand, renderUsage, type ArgsDef, type CommandDef } from "citty";
import { versionLine } from "../version.ts";
import { cittyArgs } from "./argv.ts";
import { RUN_FLAGS } from "./run-flags.ts";

const run = defineCommand({
  meta: { name: "run", description: "Run a command in new namespaces: myuts run [options] [--] [command [args...]]" },
  args: cittyArgs(RUN_FLAGS),
});
const spec = defineCommand({
  meta: { name: "spec", description: "Print the OCI config.json that `run` builds from the same options" },
  args: cittyArgs(RUN_FLAGS),
});
const version = defineCommand({ meta: { name: "version", description: "Print the version, commit and target" } });

export const root = defineCommand({
  meta: { name: "myuts", version: versionLine().split(" ")[1], description: "A Linux container runtime" },
  args: {
    debug: { type: "boolean", description: "full traces on errors" },
    version: { type: "boolean", alias: "V", description: "print the version, commit and target" },
  } as ArgsDef,
  subCommands: { run, spec, version },
});

export async function usage(sub?: string): Promise<string> {
  const subs: Record<string, CommandDef> = { run, spec, version };
  const cmd = sub ? subs[sub] : undefined;
  return cmd ? renderUsage(cmd, root) : renderUsage(root);
}
