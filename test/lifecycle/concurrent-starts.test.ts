// Many limited containers starting at once: each start sweeps the registry, and a
// sweep must never take a cgroup another start is still setting up.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { cgroupDirs, removeCgroup } from "../helpers/cgroups.ts";
import { isRoot, MYUTS, requireBinary } from "../helpers/myuts.ts";

const TOTAL = 500;
const AT_ONCE = 50;
const TAG = `conc${process.pid}-`;

describe.skipIf(!isRoot)("concurrent starts (needs root)", () => {
  afterAll(() => {
    for (const d of cgroupDirs(TAG)) removeCgroup(d);
    if (existsSync("/run/myuts")) for (const f of readdirSync("/run/myuts")) if (f.includes(TAG)) rmSync(`/run/myuts/${f}`, { force: true });
  });

  test(`${TOTAL} starts with --memory 64m, ${AT_ONCE} at a time: every one succeeds and nothing is left`, async () => {
    requireBinary();
    const failures = new Map<string, number>();
    let next = 0;
    const one = async (i: number) => {
      const p = Bun.spawn([MYUTS, "run", "--name", `${TAG}${i}`, "--memory", "64m", "--", "/bin/true"], {
        stdout: "ignore",
        stderr: "pipe",
        env: { PATH: "/usr/bin:/bin" },
      });
      const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
      if (code !== 0 || err !== "") {
        const line = `exit ${code}: ${err.trim().split("\n")[0]!.replace(/\d+/g, "N")}`;
        failures.set(line, (failures.get(line) ?? 0) + 1);
      }
    };
    await Promise.all(
      Array.from({ length: AT_ONCE }, async () => {
        while (next < TOTAL) await one(next++);
      }),
    );
    expect(Object.fromEntries(failures)).toEqual({});
    expect(cgroupDirs(TAG)).toEqual([]);
    expect(existsSync("/run/myuts") ? readdirSync("/run/myuts").filter((f) => f.includes(TAG)) : []).toEqual([]);
  }, 120_000);
});
