// The start benchmark's reading of `myuts run --trace` (bench/trace.ts): the phases of one
// start, split at Bun's time origin, add up to the harness's wall time.
import { describe, expect, test } from "bun:test";
import { parseTrace, PHASES, phases } from "../../bench/trace.ts";

const ORIGIN = 1796666571106.761;
const TRACE = [
  `myuts run     0.000 ms  runtime: time origin, ${ORIGIN} ms after the epoch`,
  "myuts run    13.741 ms  runtime: JavaScript starts",
  "myuts run    18.243 ms  flags → OCI spec  (1.33 ms)",
  "myuts run    22.000 ms  spawn the init  (900 µs)",
  "myuts init   23.000 ms  clone(CLONE_NEWPID|CLONE_NEWNS)  (850 µs)",
  "myuts init   27.000 ms  make / private  (12 µs)",
  "myuts init   29.000 ms  signal mask  (3 µs)",
  "myuts run    32.500 ms  payload exited: exit code 0",
].join("\n");

describe("bench/trace.ts", () => {
  test("splits a start at the time origin, and the phases add up to the wall time", () => {
    const lines = parseTrace(TRACE, "/tmp/rootfs");
    // The harness spawned 8.5 ms before the origin and reaped 2 ms after the payload's exit.
    const spawned = ORIGIN - 8.5;
    const wall = 8.5 + 32.5 + 2;
    const p = phases(lines, spawned, wall)!;
    expect(p).toHaveLength(PHASES.length);
    expect(p[0]).toBeCloseTo(8.5, 3);
    expect(p[1]).toBeCloseTo(13.741, 3);
    expect(p[2]).toBeCloseTo(22 - 13.741, 3);
    expect(p[3]).toBeCloseTo(27 - 22, 3);
    expect(p[4]).toBeCloseTo(29.003 - 27, 3);
    expect(p[5]).toBeCloseTo(32.5 - 29.003, 3);
    expect(p[6]).toBeCloseTo(2, 3);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(wall, 3);
  });

  test("a trace without the time origin gives no phases", () => {
    const lines = parseTrace(TRACE.split("\n").slice(1).join("\n"), "/tmp/rootfs");
    expect(phases(lines, ORIGIN, 40)).toBeUndefined();
  });
});
