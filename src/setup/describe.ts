// `--dry-run`: the setup program as people read it, one line per system call.
import { errnoName } from "../../ffi/errno.ts";
import { flagNames } from "./abi.ts";
import { cloneFlagNames } from "./namespaces.ts";
import type { Arg, Program, Step } from "./program.ts";

function reaction(s: Step): string {
  if (s.op !== "syscall" || !s.on.length) return "";
  const parts = s.on.map((c) => {
    const e = c.errno === "any" ? "any error" : errnoLabel(c.errno);
    const t = c.react;
    return "allow" in t ? `${e} ok` : "goto" in t ? `${e} → ${t.goto.index}` : `${e} → remember, ${t.record.index}`;
  });
  return `  [${parts.join("; ")}]`;
}

const errnoLabel = errnoName;

function show(p: Program, a: Arg): string {
  const slot = (n: number) => `$${p.slotNames[n] ?? String(n)}`;
  switch (a.kind) {
    case "imm":
      return a.label ?? (a.flags ? flagNames(a.value, a.flags) : String(a.value));
    case "data":
      return typeof a.label === "function" ? a.label() : (a.label ?? JSON.stringify(a.text ?? ""));
    case "slot":
      return slot(a.slot);
    case "fdpath":
      return `/proc/self/fd/${slot(a.slot)}`;
  }
}

function line(p: Program, s: Step, i: number): string {
  const slot = (n: number) => p.slotNames[n] ?? String(n);
  let text: string;
  switch (s.op) {
    case "syscall":
      text = `${s.call}(${s.args.map((a) => show(p, a)).join(", ")})${s.out !== undefined ? ` → $${slot(s.out)}` : ""}${reaction(s)}`;
      break;
    case "goto":
      text = `goto ${s.target.index}`;
      break;
    case "fail":
      text = `fail (the remembered error, else ${errnoLabel(s.errno)})`;
      break;
    case "sync":
      text = `sync: tell the runtime "ready"${s.report !== undefined ? ` with slot ${s.report}` : ""}, wait for "go"`;
      break;
    case "fork":
      text = `fork(${s.flags ? cloneFlagNames(s.flags) : "no new namespaces"}${s.cgroup !== undefined ? `, into the cgroup in slot ${s.cgroup}` : ""}): the parent reports the child's pid and ${s.parent ? `goes on at ${s.parent.index} (the monitor)` : "exits"}`;
      break;
    case "load":
      text = "load: read the next program from the runtime, go on with it";
      break;
    case "pid1":
      text = "pid1: fork; the parent stays PID 1 (reaps, forwards signals, exits with the child's status), the child goes on";
      break;
    case "hook":
      text = `hook(${s.args.map((a) => show(p, a)).join(", ")}): run it with the state on its stdin, wait, fail unless it exits 0`;
      break;
    case "monitor":
      text = `monitor(${s.args.map((a) => show(p, a)).join(", ")}): log the output, record the exit code, run the exit command`;
      break;
  }
  return `${String(i).padStart(4)}  ${text}${s.what ? `    # ${s.what}` : ""}`;
}

export function describeProgram(p: Program): string {
  return p.steps.map((s, i) => line(p, s, i)).join("\n");
}
