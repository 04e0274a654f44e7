// docker's exit codes: the payload's own, 128+N after signal N, 125 for myuts's own
// failures, 126 when the command can't be executed, 127 when it isn't found.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { isRoot, processesWith, requireBinary, runMyuts, startMyuts, uniqueToken, waitFor, type RunResult } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(30_000);

let fx: TestRootfs;

beforeAll(() => {
  requireBinary();
  if (isRoot) fx = createTestRootfs();
});
afterAll(() => fx?.cleanup());

/** A runtime error is exactly one "myuts: " line on stderr and nothing on stdout. */
function expectOneErrorLine(r: RunResult, code: number, ...fragments: string[]): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code, stdout: "" });
  const lines = r.stderr.split("\n").filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("myuts: ");
  for (const f of fragments) expect(lines[0]).toContain(f);
  expect(r.leftovers).toEqual([]);
}

describe.skipIf(!isRoot)("exit codes (needs root)", () => {
  test("the payload's own code, 0 to 255", async () => {
    const codes = [0, 1, 2, 42, 124, 125, 126, 127, 128, 200, 255];
    const results = await Promise.all(codes.map((c) => runMyuts(["run", "--rootfs", fx.rootfs, "--", "sh", "-c", `exit ${c}`])));
    expect(results.map((r) => r.code)).toEqual(codes);
    for (const r of results) expect(r.stderr).toBe("");
  });

  test("the same with every namespace", async () => {
    const r = await runMyuts(["run", "--all", "--rootfs", fx.rootfs, "--", "sh", "-c", "exit 77"]);
    expect(r.code).toBe(77);
  });

  test("128+N when signal N killed the payload", async () => {
    const signals: Record<string, number> = { HUP: 1, INT: 2, KILL: 9, USR1: 10, SEGV: 11, TERM: 15 };
    const results = await Promise.all(
      Object.keys(signals).map((s) => runMyuts(["run", "--share", "pid", "--rootfs", fx.rootfs, "--", "sh", "-c", `kill -${s} $$`])),
    );
    for (const [i, n] of Object.values(signals).entries()) expect({ n, code: results[i]!.code }).toEqual({ n, code: 128 + n });
  });

  test("128+9 when the payload, PID 1 of its namespace, is killed from the host", async () => {
    const token = uniqueToken();
    const p = startMyuts(["run", "--pid", "--rootfs", fx.rootfs, "--", "sleep", token]);
    try {
      let pid = 0;
      await waitFor(
        () => {
          pid = processesWith(token).find((x) => x.cmdline === `sleep ${token}`)?.pid ?? 0;
          return pid !== 0;
        },
        5_000,
        "the payload on the host",
      );
      process.kill(pid, "SIGKILL");
      const r = await p.result();
      expect(r.code).toBe(137);
      expect(r.stderr).toBe("");
      expect(r.leftovers).toEqual([]);
    } finally {
      await p.dispose();
    }
  });

  test("127: command not found in PATH", async () => {
    expectOneErrorLine(await runMyuts(["run", "--rootfs", fx.rootfs, "--", "no-such-command"]), 127, "no-such-command");
  });

  test("127: no such file by path", async () => {
    expectOneErrorLine(await runMyuts(["run", "--rootfs", fx.rootfs, "--", "/no/such/file"]), 127, "/no/such/file");
  });

  test("127: a script whose interpreter is missing", async () => {
    expectOneErrorLine(await runMyuts(["run", "--rootfs", fx.rootfs, "--", fx.missingInterpreter]), 127, fx.missingInterpreter);
  });

  test("127: the default /bin/sh in a rootfs without one", async () => {
    expectOneErrorLine(await runMyuts(["run", "--rootfs", fx.noShell]), 127, "/bin/sh");
  });

  test("126: a file without the execute bit", async () => {
    expectOneErrorLine(await runMyuts(["run", "--rootfs", fx.rootfs, "--", fx.notExecutable]), 126, fx.notExecutable);
  });

  test("126: an executable file that is not a program", async () => {
    expectOneErrorLine(await runMyuts(["run", "--rootfs", fx.rootfs, "--", fx.notAProgram]), 126, fx.notAProgram);
  });

  test("126: a directory", async () => {
    expectOneErrorLine(await runMyuts(["run", "--rootfs", fx.rootfs, "--", "/etc"]), 126, "/etc");
  });

  test("125: myuts's own failure (a missing rootfs)", async () => {
    expectOneErrorLine(await runMyuts(["run", "--rootfs", `${fx.base}/missing`, "--", "true"]), 125, "ENOENT");
  });

  test("the payload's 125, 126 and 127 are passed through without a message", async () => {
    for (const c of [125, 126, 127]) {
      const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--", "sh", "-c", `exit ${c}`]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: c, stderr: "" });
    }
  });
});
