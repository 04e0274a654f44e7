// Bad input: exactly one "myuts: " line on stderr, no trace, the right exit code,
// and nothing left behind (no process of the run's session, no mount).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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

  test("--debug after the command adds a trace too, for run, spec, stats, events and update", async () => {
    for (const argv of [
      ["run", "--debug", "--rootfs", "/nonexistent/rootfs", "--", "true"],
      ["run", "--uts", "--debug", "--no-such-flag"],
      ["spec", "--debug", "--cpus", "0"],
      ["stats", "--debug", "no-such-container"],
      ["stats", "no-such-container", "--debug"],
      ["events", "--debug", "--stats", "no-such-container"],
      ["update", "no-such-container", "--memory", "64m", "--debug"],
    ]) {
      const r = await runMyuts(argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 125 });
      expect(r.stderr).toStartWith("myuts: ");
      expect(r.stderr).toMatch(/\n\s+at /);
      expect(r.leftovers).toEqual([]);
    }
  });

  test("an empty --rootfs is refused, even from / (it would be the host's own root)", async () => {
    for (const argv of [
      ["run", "--rootfs", "", "--", "true"],
      ["run", "--rootfs=", "--", "true"],
    ]) {
      expectOneLine(await runMyuts(argv, { cwd: "/" }), 125, "run: --rootfs: empty path");
    }
  });

  test("a newline in a value stays inside the one line, escaped", async () => {
    for (const argv of [
      ["run", "--rootfs", "/", "-v", "/tmp/nl\nx:/x", "--", "true"],
      ["run", "--setuid", "1\n2", "--", "true"],
      ["run", "--cap-add", "CAP_X\nmyuts: forged", "--", "true"],
      ["run", "--rootfs", "/nonexistent/a\nb", "--", "true"],
    ]) {
      const r = await runMyuts(argv);
      expectOneLine(r, 125, "\\n");
    }
  });

  test("limits the kernel would refuse or misread: one line with the real bounds", async () => {
    expectOneLine(await runMyuts(["run", "--cpus", "0.000001", "--", "true"]), 125, "--cpus 0.000001: below the kernel's minimum CFS quota of 1000 µs");
    expectOneLine(
      await runMyuts(["run", "--pids-limit", "2147483648", "--", "true"]),
      125,
      "--pids-limit 2147483648: must be a whole number from -1 to 4194304",
    );
    expectOneLine(await runMyuts(["run", "--hostname", "a\nb", "--", "true"]), 125, "--hostname", "contains a control character");
  });

  test("--env-file: a FIFO or /dev/zero is refused at once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "myuts-envfile-"));
    try {
      Bun.spawnSync(["mkfifo", join(dir, "fifo")]);
      for (const f of [join(dir, "fifo"), "/dev/zero"]) {
        const r = await runMyuts(["run", "--env-file", f, "--", "true"], { timeoutMs: 5000 });
        expectOneLine(r, 125, `--env-file ${f}: `, "not a regular file", "1 MiB");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("USAGE lines show the operands, and version --help gives help", async () => {
    const usage = async (argv: string[]) => (await runMyuts(argv)).stdout.split("\n").find((l) => l.startsWith("USAGE"));
    expect(await usage(["stats", "--help"])).toBe("USAGE myuts stats [--json] NAME");
    expect(await usage(["run", "--help"])).toBe("USAGE myuts run [options] [--] [command [args...]]");
  });

  // Waits for src/main.ts to dispatch `version` through src/cli/version.ts (versionCli).
  test("myuts version --help prints help, not the version", async () => {
    const r = await runMyuts(["version", "--help"]);
    expect(r.stdout).toContain("USAGE myuts version");
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
    expectOneLine(await runMyuts(["run", "--rootfs", file, "--", "true"]), 125, file, "ENOTDIR", "a file, not a directory");
  });

  test("a rootfs that is a tarball: 125, saying so and how to unpack it", async () => {
    const tarball = join(fx.base, "rootfs.tar.gz");
    Bun.spawnSync(["tar", "-czf", tarball, "-C", fx.rootfs, "etc"]);
    expectOneLine(
      await runMyuts(["run", "--rootfs", tarball, "--", "true"]),
      125,
      `rootfs ${tarball}: open: ENOTDIR (Not a directory): a gzip-compressed (tar?) archive`,
      `mkdir R && tar -xf ${tarball} -C R`,
    );
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

  test("a mount that fails inside the container's setup: 125, naming the mount", async () => {
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
