// A root filesystem is the container's content, and so hostile input: its symlinks
// must never steer a mount or a device node onto the host.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { mountChanges, mountSnapshot } from "../helpers/mounts.ts";
import { isRoot, requireBinary, runMyuts } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

let fx: TestRootfs;

describe.skipIf(!isRoot)("a hostile root filesystem (needs root)", () => {
  beforeAll(() => {
    requireBinary();
    fx = createTestRootfs();
  });
  afterAll(() => fx?.cleanup());

  test("absolute symlinks for /dev, /proc and /sys resolve inside the rootfs", async () => {
    const hostDev = fx.scratch("host-dev");
    const hostProc = fx.scratch("host-proc");
    const hostSys = fx.scratch("host-sys");
    for (const [name, target] of [
      ["dev", hostDev],
      ["proc", hostProc],
      ["sys", `/../../..${hostSys}`],
    ] as const) {
      rmSync(join(fx.rootfs, name), { recursive: true, force: true });
      symlinkSync(target, join(fx.rootfs, name));
    }
    const before = mountSnapshot();
    const r = await runMyuts(["run", "--pid", "--ipc", "--rootfs", fx.rootfs, "--", "sh", "-c", "echo hi > /dev/null && cat /proc/1/comm"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("cat\n"); // sh execs its last command: PID 1 of the container's own /proc
    expect(r.code).toBe(0);
    // Nothing was created or mounted at the symlinks' host targets.
    for (const dir of [hostDev, hostProc, hostSys]) expect(readdirSync(dir)).toEqual([]);
    expect(mountChanges(before)).toEqual({ added: [], removed: [] });
  });
});
