// Reads `myuts run --trace` output (src/util/trace.ts) and splits each start into
// consecutive phases along the critical path, so the phases add up to the wall time.
import { median } from "./stats.ts";

export interface TraceLine {
  stage: "run" | "init";
  /** ms since Bun's time origin in the runtime's process (the trace's origin). */
  at: number;
  what: string;
  dur?: number;
}

const LINE = /^myuts (run|init)\s+(-?[\d.]+) ms {2}(.*?)(?: {2}\(([\d.]+) (µs|ms)\))?$/;

export function parseTrace(stderr: string, rootfs: string): TraceLine[] {
  const out: TraceLine[] = [];
  for (const raw of stderr.split("\n")) {
    const m = LINE.exec(raw.trimEnd());
    if (!m) continue;
    // Per-start names (paths, pids, container ids) would split one step into many rows.
    const what = m[3]!
      .split(rootfs)
      .join("<rootfs>")
      .replace(/pid \d+/, "pid N")
      .replace(/\b[0-9a-f]{12}\b/g, "<id>");
    const dur = m[4] === undefined ? undefined : Number(m[4]) / (m[5] === "µs" ? 1000 : 1);
    out.push({ stage: m[1] as "run" | "init", at: Number(m[2]), what, dur });
  }
  return out;
}

export const PHASES = [
  "the harness's spawn → the runtime's time origin (exec of the binary, Bun's start before it sets performance.timeOrigin)",
  "runtime: Bun's time origin → its JavaScript",
  "runtime: JavaScript → the init's spawn (module load, flags, spec, the native pieces)",
  "spawn → the container's setup starts (the init clones the namespaces while the runtime compiles the setup program, which it then sends)",
  "container setup (network, mounts, pivot_root, masks, capabilities, user)",
  "execve of the payload → runtime sees it exit",
  "runtime: exit after the payload, until the harness has reaped it",
] as const;

/**
 * Phase durations in PHASES order, or undefined when the trace lacks a milestone.
 * `spawned` is the harness's epoch ms just before its spawn, `wall` its ms from there to the reap.
 */
export function phases(lines: readonly TraceLine[], spawned: number, wall: number): number[] | undefined {
  const origin = lines.find((l) => l.stage === "run" && l.what.startsWith("runtime: time origin, "));
  const js = lines.find((l) => l.stage === "run" && l.what.startsWith("runtime: JavaScript starts"));
  const spawn = lines.find((l) => l.stage === "run" && l.what.startsWith("spawn the init"));
  // The init's own clone comes first; the setup program's steps follow.
  const setup = lines.filter((l) => l.stage === "init" && l.dur !== undefined && !l.what.startsWith("clone("));
  const exited = lines.find((l) => l.stage === "run" && l.what.startsWith("payload exited"));
  const first = setup[0];
  // The payload's execve never returns, so the last step the init reports ends just before it.
  const last = setup.reduce((end, l) => Math.max(end, l.at + (l.dur ?? 0)), 0);
  const epoch = Number(/, ([\d.]+) ms after the epoch/.exec(origin?.what ?? "")?.[1]);
  if (!js || !spawn || !first || !exited || !Number.isFinite(epoch)) return undefined;
  const before = epoch - spawned;
  return [before, js.at, spawn.at - js.at, first.at - spawn.at, last - first.at, exited.at - last, wall - before - exited.at];
}

export interface StepSummary {
  stage: string;
  what: string;
  at: number;
  dur: number;
  seen: number;
}

/** Median start and duration of every timed step, in the order they happen. */
export function stepSummary(runs: readonly TraceLine[][]): StepSummary[] {
  const by = new Map<string, { stage: string; what: string; at: number[]; dur: number[] }>();
  for (const run of runs) {
    for (const l of run) {
      if (l.dur === undefined) continue;
      const key = `${l.stage}\0${l.what}`;
      const e = by.get(key) ?? { stage: l.stage, what: l.what, at: [], dur: [] };
      by.set(key, e);
      e.at.push(l.at);
      e.dur.push(l.dur);
    }
  }
  return [...by.values()].map((e) => ({ stage: e.stage, what: e.what, at: median(e.at), dur: median(e.dur), seen: e.dur.length })).sort((a, b) => a.at - b.at);
}
