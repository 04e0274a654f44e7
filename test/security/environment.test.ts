// The binary runs as root from directories and environments it doesn't control:
// it must not pick up a .env or bunfig.toml from the working directory.
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

  test(".env and bunfig.toml in the working directory are ignored", () => {
    const r = run(["run", "--uts", "--", "sh", "-c", 'echo "[$INJECTED]"']);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("[]\n");
  });
});
