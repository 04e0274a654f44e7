// --init: the native init stays as the container's PID 1, reaps the payload tree's
// orphans and forwards signals, so a payload that doesn't handle SIGTERM still ends
// on it; without --init that payload, as PID 1, ignores it (docker behaves alike).
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { isRoot, requireBinary, runMyuts, startMyuts, uniqueToken, type MyutsProcess } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(30_000);

let fx: TestRootfs;
const running: MyutsProcess[] = [];

function start(args: string[]): MyutsProcess {
  const p = startMyuts(args);
  running.push(p);
  return p;
}

describe.skipIf(!isRoot)("--init (needs root)", () => {
  beforeAll(() => {
    requireBinary();
    fx = createTestRootfs();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.dispose()));
  });
  afterAll(() => fx?.cleanup());

  test("PID 1 is the sealed native init, the payload is its child; exit codes pass through, 128+N for a signal", async () => {
    const r = await runMyuts(["run", "--init", "--rootfs", fx.rootfs, "--", "sh", "-c", "echo $$; cat /proc/1/comm; readlink /proc/1/exe; exit 3"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("2\nmemfd:myuts-ini\n/memfd:myuts-init (deleted)\n");
    expect(r.code).toBe(3);
    const killed = await runMyuts(["run", "--init", "--rootfs", fx.rootfs, "--", "sh", "-c", "kill -USR1 $$"]);
    expect(killed.code).toBe(128 + 10);
  });

  test("SIGTERM reaches a payload that doesn't handle it: 128+15 (without --init, its PID 1 ignores it)", async () => {
    const withInit = start(["run", "--init", "--rootfs", fx.rootfs, "--", "sh", "-c", "echo ready; exec sleep 30"]);
    await withInit.waitForStdout("ready");
    await Bun.sleep(100);
    withInit.kill("SIGTERM");
    expect((await withInit.result()).code).toBe(143);
    const without = start(["run", "--rootfs", fx.rootfs, "--", "sh", "-c", "echo ready; exec sleep 1"]);
    await without.waitForStdout("ready");
    await Bun.sleep(100);
    without.kill("SIGTERM");
    // The payload slept on, then ended by itself.
    expect((await without.result()).code).toBe(0);
  });

  test("orphans are reaped: no zombie stays in the container (without --init one does)", async () => {
    const zombies = async (init: boolean) => {
      const name = `init${uniqueToken()}`;
      const c = start([
        "run",
        "--name",
        name,
        ...(init ? ["--init"] : []),
        "--rootfs",
        fx.rootfs,
        "--",
        "sh",
        "-c",
        "(sleep 0.1 &); echo ready; exec sleep 30",
      ]);
      await c.waitForStdout("ready");
      await Bun.sleep(500);
      const r = await runMyuts(["exec", name, "--", "sh", "-c", "cat /proc/[0-9]*/stat | cut -d' ' -f2,3 | grep ' Z$'; true"]);
      expect(r.stderr).toBe("");
      return r.stdout.trim();
    };
    expect(await zombies(true)).toBe("");
    expect(await zombies(false)).toBe("(sleep) Z");
  });
});
