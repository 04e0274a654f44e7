// Bad input: exactly one "myuts: " line on stderr, no trace, the right exit code,
// and nothing left behind (no process of the run's session, no mount).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isRoot, requireBinary, runMyuts, type RunResult } from "../helpers/myuts.ts";
import { mountChanges, mountSnapshot, mountsUnder } from "../helpers/mounts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(30_000);

let fx: TestRootfs;
let before: string[] = [];

beforeAll(() => {
  requireBinary();
  if (isRoot) fx = createTestRootfs();
});
afterAll(() => fx?.cleanup());

function expectOneLine(r: RunResult, code: number, ...fragments: string[]): void {
  const lines = r.stderr.split("\n").filter(Boolean);
  expect({ code: r.code, lines: lines.length, stdout: r.stdout }).toEqual({ code, lines: 1, stdout: "" });
  expect(r.stderr).toEndWith("\n");
  expect(lines[0]).toStartWith("myuts: ");
  expect(r.stderr).not.toMatch(/\n\s+at /);
  for (const f of fragments) expect(lines[0]).toContain(f);
  expect(r.leftovers).toEqual([]);
  expect(r.timedOut).toBe(false);
}

describe("errors without a container", () => {
  test("an unknown flag: 125, naming it", async () => {
    expectOneLine(await runMyuts(["run", "--no-such-flag", "true"]), 125, "--no-such-flag");
  });

  test("an unknown short flag: 125, naming it", async () => {
    expectOneLine(await runMyuts(["run", "-Z", "true"]), 125, "-Z");
  });

  test("a flag missing its value: 125", async () => {
    expectOneLine(await runMyuts(["run", "--hostname"]), 125, "--hostname");
  });

  test("an unknown command: 125", async () => {
    expectOneLine(await runMyuts(["frobnicate"]), 125, "frobnicate");
  });

  test("a bad --volume: 125, naming the flag", async () => {
    for (const v of ["no-colon", "relative:/x", "/x:relative", "/x:/y:zz"]) {
      expectOneLine(await runMyuts(["run", "--rootfs", "/", "-v", v, "--", "true"]), 125, "--volume", v);
    }
  });

  test("a missing --env-file: 125, naming it with ENOENT", async () => {
    expectOneLine(await runMyuts(["run", "--env-file", "/nonexistent/env-file", "--", "true"]), 125, "/nonexistent/env-file", "ENOENT");
  });

  test("a non-numeric --setuid: 125", async () => {
    expectOneLine(await runMyuts(["run", "--setuid", "root", "--", "true"]), 125, "--setuid");
  });

  test("--debug adds a trace", async () => {
    const r = await runMyuts(["--debug", "run", "--rootfs", "/nonexistent/rootfs", "--", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toStartWith("myuts: ");
    expect(r.stderr.split("\n").filter(Boolean).length).toBeGreaterThan(1);
  });
});

describe.skipIf(!isRoot)("errors around a container (needs root)", () => {
  beforeEach(() => {
    before = mountSnapshot();
  });
  afterEach(() => {
    expect(mountChanges(before)).toEqual({ added: [], removed: [] });
    expect(mountsUnder(fx.base)).toEqual([]);
  });

  test("a missing rootfs: 125, naming the path and ENOENT", async () => {
    const missing = join(fx.base, "no-such-rootfs");
    expectOneLine(await runMyuts(["run", "--all", "--rootfs", missing, "--", "true"]), 125, missing, "ENOENT");
  });

  test("a rootfs that is a file: 125", async () => {
    const file = join(fx.base, "a-file");
    writeFileSync(file, "");
    expectOneLine(await runMyuts(["run", "--rootfs", file, "--", "true"]), 125, file);
  });

  test("a rootfs without /bin/sh: 127", async () => {
    expectOneLine(await runMyuts(["run", "--all", "--rootfs", fx.noShell]), 127, "/bin/sh");
  });

  test("a command that is not found: 127", async () => {
    expectOneLine(await runMyuts(["run", "--all", "--rootfs", fx.rootfs, "--", "not-a-command"]), 127, "not-a-command");
  });

  test("a non-executable command: 126", async () => {
    expectOneLine(await runMyuts(["run", "--all", "--rootfs", fx.rootfs, "--", fx.notExecutable]), 126, fx.notExecutable);
  });

  test("a script whose interpreter is missing: 127", async () => {
    expectOneLine(await runMyuts(["run", "--all", "--rootfs", fx.rootfs, "--", fx.missingInterpreter]), 127, fx.missingInterpreter);
  });

  test("a volume whose source is missing: 125, naming it", async () => {
    const missing = join(fx.base, "no-such-volume");
    expectOneLine(await runMyuts(["run", "--all", "--rootfs", fx.rootfs, "-v", `${missing}:/data`, "--", "true"]), 125, missing, "ENOENT");
  });

  test("a mount that fails inside the init stage: 125, naming the mount", async () => {
    expectOneLine(await runMyuts(["run", "--rootfs", fx.rootfs, "--tmpfs", "/scratch:size=notasize", "--", "true"]), 125, "/scratch");
  });

  test("a workdir that cannot be entered: 125, naming it", async () => {
    // A file where the directory should be: it can be neither created nor entered.
    expectOneLine(await runMyuts(["run", "--rootfs", fx.rootfs, "-w", "/etc/passwd/sub", "--", "true"]), 125, "/etc/passwd/sub");
    expect(existsSync(join(fx.rootfs, "etc", "passwd"))).toBe(true);
  });

  test("a failed start leaves no process behind, even with a PID namespace", async () => {
    const r = await runMyuts(["run", "--pid", "--rootfs", fx.rootfs, "--", "/no/such/binary"]);
    expect(r.code).toBe(127);
    expect(r.leftovers).toEqual([]);
  });
});
