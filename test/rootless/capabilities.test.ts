// What the kernel says the payload may do: /proc/self/status capability masks.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isRoot, runMyuts } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

let fs: TestRootfs;
const capMask = (status: string, field: string) => BigInt(`0x${new RegExp(`${field}:\\s+([0-9a-f]+)`).exec(status)![1]}`);

describe.skipIf(!isRoot)("capabilities of a root filesystem container (needs root)", () => {
  beforeAll(() => (fs = createTestRootfs()));
  afterAll(() => fs?.cleanup());

  test("docker's default set: no CAP_SYS_ADMIN, so no mounting", async () => {
    const r = await runMyuts([
      "run",
      "--pid",
      "--rootfs",
      fs.rootfs,
      "--",
      "sh",
      "-c",
      "cat /proc/self/status; mkdir -p /mnt; mount -t tmpfs x /mnt 2>/dev/null && echo MOUNTED; true",
    ]);
    expect(r.code).toBe(0);
    const bnd = capMask(r.stdout, "CapBnd");
    expect(bnd & (1n << 21n)).toBe(0n); // CAP_SYS_ADMIN
    expect(bnd & (1n << 27n)).toBe(0n); // CAP_MKNOD
    expect(bnd & (1n << 0n)).toBe(1n); // CAP_CHOWN
    expect(r.stdout).not.toContain("MOUNTED");
  });

  test("--cap-add SYS_ADMIN allows it; --cap-drop ALL leaves nothing", async () => {
    const add = await runMyuts([
      "run",
      "--pid",
      "--rootfs",
      fs.rootfs,
      "--cap-add",
      "SYS_ADMIN",
      "--",
      "sh",
      "-c",
      "mkdir -p /mnt; mount -t tmpfs x /mnt && echo MOUNTED",
    ]);
    expect(add.stdout).toContain("MOUNTED");
    const none = await runMyuts(["run", "--rootfs", fs.rootfs, "--cap-drop", "ALL", "--", "cat", "/proc/self/status"]);
    expect(capMask(none.stdout, "CapEff")).toBe(0n);
    expect(capMask(none.stdout, "CapBnd")).toBe(0n);
  });

  test("a non-root payload holds no capabilities", async () => {
    const r = await runMyuts(["run", "--rootfs", fs.rootfs, "--setuid", "1000", "--", "cat", "/proc/self/status"]);
    expect(capMask(r.stdout, "CapEff")).toBe(0n);
    expect(capMask(r.stdout, "CapPrm")).toBe(0n);
  });
});
