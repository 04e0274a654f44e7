// `myuts run` and `myuts spec`. Kept free of citty at load time: `run` is the hot
// path, and citty is only needed to render --help.
import { isatty } from "../../ffi/libc.ts";
import { runSpec } from "../lifecycle/run.ts";
import { specFromRun } from "../spec/from-run.ts";
import type { Spec } from "../spec/types.ts";
import { jsStart, Tracer } from "../util/trace.ts";
import { reportingDebug } from "./debug.ts";
import { parseRunArgs, RUN_FLAGS, type RunOptions } from "./run-flags.ts";

function toSpec(o: RunOptions): Spec {
  return specFromRun(o, {
    env: process.env,
    cwd: process.cwd(),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    stdinIsTTY: isatty(0),
  });
}

async function help(name: "run" | "spec"): Promise<number> {
  const { usage } = await import("./main.ts");
  process.stdout.write(`${await usage(name)}\n`);
  return 0;
}

export function runCli(argv: readonly string[], origin: number, debug: boolean): Promise<number> {
  return reportingDebug(argv, RUN_FLAGS, false, async () => {
    const o = parseRunArgs(argv, process.env);
    if (o.help) return help("run");
    const t = new Tracer(o.trace, origin, "run");
    t.note("runtime: JavaScript starts", jsStart);
    const spec = t.step("flags → OCI spec", () => toSpec(o));
    return runSpec(spec, { trace: o.trace, debug: debug || o.debug, origin, name: o.name, register: o.named });
  });
}

export function specCli(argv: readonly string[]): Promise<number> {
  return reportingDebug(argv, RUN_FLAGS, false, async () => {
    const o = parseRunArgs(argv, process.env);
    if (o.help) return help("spec");
    process.stdout.write(`${JSON.stringify(toSpec(o), null, 2)}\n`);
    return 0;
  });
}
