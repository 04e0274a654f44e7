// An interactive shell on a terminal: stdio is inherited, /dev/console is that
// terminal, and the shell's job control works. script(1) provides the pty.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isRoot, MYUTS, requireBinary } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

let fx: TestRootfs;

describe.skipIf(!isRoot || !Bun.which("script"))("on a terminal (needs root and script(1))", () => {
  beforeAll(() => {
    requireBinary();
    fx = createTestRootfs();
  });
  afterAll(() => fx?.cleanup());

  test("an interactive shell: PID 1, /dev/console, background jobs, its exit code", () => {
    const input = ["echo pid:$$", "ls -l /dev/console", "sleep 0.3 &", "jobs", "wait", "exit 7", ""].join("\n");
    const r = Bun.spawnSync(["script", "-qefc", `${MYUTS} run --pid --mount --uts --rootfs ${fx.rootfs} -- /bin/sh -i`, "/dev/null"], {
      stdin: Buffer.from(input),
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: "/usr/bin:/bin", TERM: "dumb" },
      timeout: 20_000,
    });
    const out = r.stdout.toString().replaceAll("\r", "");
    expect(out).toContain("pid:1");
    expect(out).toMatch(/^c[rw-]{9}.* \/dev\/console$/m); // a character device: the pty
    expect(out).toMatch(/\[1\]\+? +Running +sleep 0\.3/);
    expect(r.exitCode).toBe(7);
  });
});
