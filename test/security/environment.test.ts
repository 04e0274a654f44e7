// The binary runs as root from directories and environments it doesn't control:
// it must not pick up a .env or bunfig.toml from the working directory, nor obey
// Bun's environment switches that run code (build.ts clears them from the binary).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot, MYUTS, requireBinary } from "../helpers/myuts.ts";

let dir: string;
const run = (args: string[], env: Record<string, string> = {}) => {
  const r = Bun.spawnSync([MYUTS, ...args], { cwd: dir, env: { PATH: "/usr/bin:/bin", ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

describe.skipIf(!isRoot)("the caller's directory and environment (needs root)", () => {
  beforeAll(() => {
    requireBinary();
    dir = mkdtempSync(join(tmpdir(), "autoload-"));
    writeFileSync(join(dir, ".env"), "INJECTED=from-dotenv\n");
    writeFileSync(join(dir, "preload.ts"), 'console.log("PRELOADED");\n');
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./preload.ts"]\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("Bun's switches that would run other code are dead: BUN_OPTIONS=--preload, BUN_BE_BUN, BUN_INSPECT_PRELOAD", () => {
    const preload = join(dir, "preload.ts");
    const version = ["--version"];
    const opts = run(version, { BUN_OPTIONS: `--preload ${preload}` });
    expect([opts.code, opts.stdout]).toEqual([0, expect.stringMatching(/^myuts \d/)]);
    expect(opts.stdout).not.toContain("PRELOADED");
    const inspect = run(version, { BUN_INSPECT_PRELOAD: preload });
    expect(inspect.stdout).not.toContain("PRELOADED");
    // As bun, -e would run the code; as myuts, it is an unknown option.
    const asBun = ["-e", 'console.log("RAN")'];
    const be = run(asBun, { BUN_BE_BUN: "1" });
    expect([be.code, be.stdout, be.stderr]).toEqual([125, "", "myuts: unknown option -e (see myuts --help)\n"]);
  });

  test(".env and bunfig.toml in the working directory are ignored", () => {
    const r = run(["run", "--uts", "--", "sh", "-c", 'echo "[$INJECTED]"']);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("[]\n");
  });
});
