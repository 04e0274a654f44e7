// `myuts run` and `myuts spec`. Kept free of citty at load time: `run` is the hot
// path, and citty is only needed to render --help.
import { isatty } from "../../ffi/libc.ts";
import { planRun, runSpec } from "../lifecycle/run.ts";
import { specFromRun } from "../spec/from-run.ts";
import type { Spec } from "../spec/types.ts";
import { validateSpec } from "../spec/validate.ts";
import { jsStart, Tracer } from "../util/trace.ts";
import { parseRunArgs, type RunOptions } from "./run-flags.ts";

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

export async function runCli(argv: readonly string[], origin: number): Promise<number> {
  const o = parseRunArgs(argv, process.env);
  if (o.help) return help("run");
  const t = new Tracer(o.trace, origin, "run");
  t.note("runtime: JavaScript starts", jsStart);
  const spec = t.step("flags → OCI spec", () => validateSpec(toSpec(o)));
  if (o.dryRun) return dryRun(spec);
  return runSpec(spec, { trace: o.trace, origin, name: o.name, register: o.named });
}

async function dryRun(spec: ReturnType<typeof validateSpec>): Promise<number> {
  const { describeProgram } = await import("../setup/describe.ts");
  const plan = planRun(spec, {});
  const lines = [`clone(${plan.describe}) → execveat(sealed memfd "myuts-init")`];
  if (plan.userns) lines.push("  (the runtime writes uid_map and gid_map while the child waits)");
  lines.push(describeProgram(plan.program));
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

export async function specCli(argv: readonly string[]): Promise<number> {
  const o = parseRunArgs(argv, process.env);
  if (o.help) return help("spec");
  process.stdout.write(`${JSON.stringify(toSpec(o), null, 2)}\n`);
  return 0;
}
