// How a pull shows its layers. On a terminal: a bar per layer with bytes and speed,
// redrawn in place (at most ten times a second). Otherwise (a pipe, a log, or
// --quiet's absence of a terminal): one plain line per layer when it is in the store.
import type { Digest } from "../image/digest.ts";
import type { PullProgress } from "../image/pull.ts";
import { stderr } from "../util/output.ts";

interface Row {
  digest: Digest;
  size: number;
  received: number;
  started: number;
  state: "waiting" | "present" | "done";
}

const MB = (n: number) => (n / 1e6).toFixed(1);
const short = (d: Digest) => d.slice(7, 19);

/** One layer's line: its id, a bar, bytes and speed (or why there is nothing to fetch). */
export function progressLine(r: Row, now: number, width = 24): string {
  if (r.state === "present") return `${short(r.digest)}  already present`;
  const frac = r.size > 0 ? Math.min(1, r.received / r.size) : r.state === "done" ? 1 : 0;
  const full = Math.round(frac * width);
  const bar = `[${"#".repeat(full)}${"-".repeat(width - full)}]`;
  const secs = Math.max(0.001, (now - r.started) / 1000);
  const speed = r.received ? `  ${MB(r.received / secs)} MB/s` : "";
  return `${short(r.digest)}  ${bar}  ${MB(r.received)}/${MB(r.size)} MB${speed}${r.state === "done" ? "  done" : ""}`;
}

export function pullProgress(tty: boolean, quiet: boolean): PullProgress {
  const rows = new Map<Digest, Row>();
  let drawn = 0;
  let last = 0;
  const draw = (force: boolean) => {
    const now = performance.now();
    if (!force && now - last < 100) return;
    last = now;
    const lines = [...rows.values()].map((r) => `\r\x1b[2K${progressLine(r, now)}`);
    stderr(`${drawn ? `\x1b[${drawn}A` : ""}${lines.join("\n")}\n`);
    drawn = lines.length;
  };
  return {
    layers(list) {
      for (const l of list) rows.set(l.digest, { ...l, received: 0, started: performance.now(), state: l.present ? "present" : "waiting" });
      if (tty && !quiet) draw(true);
      else if (!quiet) for (const r of rows.values()) if (r.state === "present") stderr(`layer ${progressLine(r, 0)}\n`);
    },
    bytes(digest, received) {
      const r = rows.get(digest);
      if (!r) return;
      r.received = received;
      if (tty && !quiet) draw(false);
    },
    done(digest) {
      const r = rows.get(digest);
      if (!r || r.state === "present") return;
      r.state = "done";
      r.received = r.size;
      if (tty && !quiet) draw(true);
      else if (!quiet) stderr(`layer ${short(digest)}: ${MB(r.size)} MB in ${((performance.now() - r.started) / 1000).toFixed(1)} s\n`);
    },
  };
}
