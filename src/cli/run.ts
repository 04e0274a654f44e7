// `myuts run` and `myuts spec`. Kept free of citty at load time: `run` is the hot
// path, and citty is only needed to render --help.
import { readBytes } from "../../ffi/files.ts";
import { isatty } from "../../ffi/libc.ts";
import { planRun, runSpec } from "../lifecycle/run.ts";
import { specFromRun } from "../spec/from-run.ts";
import type { Spec } from "../spec/types.ts";
import { validateSpec } from "../spec/validate.ts";
import { jsStart, Tracer } from "../util/trace.ts";
import { stdout } from "../util/output.ts";
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
  stdout(`${await usage(name)}\n`);
  return 0;
}

/** NUL-separated entries (/proc/self/cmdline, /proc/self/environ). */
function entries(raw: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0; start < raw.length; ) {
    const end = raw.indexOf(0, start);
    const stop = end === -1 ? raw.length : end;
    out.push(raw.subarray(start, stop));
    start = stop + 1;
  }
  return out;
}

/**
 * The payload's argv, and the environment it inherits, as the caller's bytes: a JS
 * string turns bytes that aren't UTF-8 into U+FFFD. Only when that happened.
 */
function callerBytes(o: RunOptions, spec: { process: { env?: string[] } }): { argv?: Buffer[]; env?: Buffer[] } {
  const lossy = (xs: readonly string[]) => xs.some((x) => x.includes("\uFFFD"));
  const out: { argv?: Buffer[]; env?: Buffer[] } = {};
  if (o.args.length && lossy(o.args)) out.argv = entries(readBytes("/proc/self/cmdline")).slice(-o.args.length);
  // Only an inherited environment (the host tree) can carry the caller's bytes through.
  if (!o.rootfs && lossy(spec.process.env ?? [])) {
    const own = new Set(o.env.map((e) => e.slice(0, e.indexOf("="))));
    const inherited = entries(readBytes("/proc/self/environ")).filter(
      (e) => e.length && !own.has(e.subarray(0, Math.max(0, e.indexOf(61))).toString("latin1")),
    );
    out.env = [...inherited, ...o.env.map((e) => Buffer.from(e))];
  }
  return out;
}

export function runCli(argv: readonly string[], origin: number): Promise<number> {
  return reportingDebug(argv, RUN_FLAGS, false, async () => {
    const o = parseRunArgs(argv, process.env);
    if (o.help) return help("run");
    const t = new Tracer(o.trace, origin, "run");
    t.note("runtime: JavaScript starts", jsStart);
    const spec = t.step("flags → OCI spec", () => validateSpec(toSpec(o)));
    if (o.dryRun) return dryRun(spec);
    return runSpec(spec, { trace: o.trace, origin, name: o.name, register: o.named, ...callerBytes(o, spec) });
  });
}

async function dryRun(spec: ReturnType<typeof validateSpec>): Promise<number> {
  const { describeProgram } = await import("../setup/describe.ts");
  const plan = planRun(spec, {});
  const lines = ['spawn → execveat(sealed memfd "myuts-init")'];
  if (plan.prelude) {
    lines.push("the init's first program:", describeProgram(plan.prelude));
    if (plan.userns) lines.push("  (the runtime writes uid_map and gid_map while the container's first process waits)");
    lines.push("the setup program, run by the container's first process:");
  }
  lines.push(describeProgram(plan.program()));
  stdout(`${lines.join("\n")}\n`);
  return 0;
}

export function specCli(argv: readonly string[]): Promise<number> {
  return reportingDebug(argv, RUN_FLAGS, false, async () => {
    const o = parseRunArgs(argv, process.env);
    if (o.help) return help("spec");
    stdout(`${JSON.stringify(toSpec(o), null, 2)}\n`);
    return 0;
  });
}
