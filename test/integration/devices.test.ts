// linux.devices and --device: nodes made in the container's own /dev, with the
// spec's numbers, mode and owner; bound from the host in a user namespace; and
// allowed (or not) by the cgroup's device list where cgroup v1 enforces one.
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { baseEnv, isRoot, MYUTS, requireBinary, runMyuts, uniqueToken } from "../helpers/myuts.ts";
import { mountChanges, mountSnapshot } from "../helpers/mounts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(30_000);

let fx: TestRootfs;
let before: string[] = [];

/** "TYPE MAJOR,MINOR MODE UID GID" of each path, as busybox's stat prints them. */
const describeNodes = (...paths: string[]) => `for p in ${paths.join(" ")}; do stat -c '%F %t,%T %a %u %g' $p; done`;

function bundleWith(devices: unknown[], script: string): string {
  const dir = mkdtempSync(join(fx.base, "bundle-"));
  const r = Bun.spawnSync([MYUTS, "spec", "--rootfs", fx.rootfs, "--", "sh", "-c", script], { env: baseEnv(), stdout: "pipe" });
  const spec = JSON.parse(r.stdout.toString());
  spec.linux.devices = devices;
  writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
  return dir;
}

const v1Devices = existsSync("/sys/fs/cgroup/devices/devices.list");

describe.skipIf(!isRoot)("devices (needs root)", () => {
  beforeAll(() => {
    requireBinary();
    fx = createTestRootfs();
    before = mountSnapshot();
  });
  afterEach(() => {
    expect(mountChanges(before)).toEqual({ added: [], removed: [] });
  });
  afterAll(() => fx?.cleanup());

  test("a bundle's linux.devices become nodes with its type, numbers, mode and owner, nested paths included", async () => {
    const b = bundleWith(
      [
        { path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o620, uid: 1000, gid: 5 },
        { path: "/dev/net/tun", type: "c", major: 10, minor: 200 },
        { path: "/dev/loopx", type: "b", major: 7, minor: 1048575, fileMode: 0o600 },
        { path: "/dev/pipe", type: "p", fileMode: 0o640 },
        { path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o600 },
      ],
      describeNodes("/dev/fuse", "/dev/net/tun", "/dev/loopx", "/dev/pipe", "/dev/null"),
    );
    const r = await runMyuts(["run", "-b", b, `dev${uniqueToken()}`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([
      "character special file a,e5 620 1000 5",
      "character special file a,c8 666 0 0",
      // minor 2^20-1 survives the kernel's split encoding
      "block special file 7,fffff 600 0 0",
      "fifo 0,0 640 0 0",
      // the spec's own /dev/null replaces the default one
      "character special file 1,3 600 0 0",
    ]);
  });

  test("--device adds the host's node, renamed and restricted by the cgroup's device list", async () => {
    // 1:11 (kmsg) is outside the default allow-list: only the flag's "r" admits it.
    const kmsg = join(fx.base, "kmsg-node");
    expect(Bun.spawnSync(["mknod", kmsg, "c", "1", "11"]).exitCode).toBe(0);
    const script = `${describeNodes("/dev/sub/mynull")}; echo x > /dev/sub/mynull && echo wrote; (echo x > /dev/ro) 2>/dev/null || echo refused`;
    const r = await runMyuts([
      "run",
      "--rootfs",
      fx.rootfs,
      "--device",
      "/dev/null:/dev/sub/mynull",
      "--device",
      `${kmsg}:/dev/ro:r`,
      "--",
      "sh",
      "-c",
      script,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("character special file 1,3 666 0 0");
    expect(lines[1]).toBe("wrote");
    // cgroup v2 has no device list file: its rules need an eBPF program, which myuts doesn't load yet
    if (v1Devices) expect(lines[2]).toBe("refused");
  });

  test("in a user namespace the host's node is bound, since mknod is refused there", async () => {
    const script = `${describeNodes("/dev/xnull")}; echo x > /dev/xnull && echo wrote; awk '$5 == "/dev/xnull" { print "bound" }' /proc/self/mountinfo`;
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--map-root-user", "--device", "/dev/null:/dev/xnull", "--", "sh", "-c", script]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["character special file 1,3 666 0 0", "wrote", "bound"]);
  });

  test("bad devices get one line naming the flag or field", async () => {
    const cases: Array<[string[], string]> = [
      [["run", "--rootfs", fx.rootfs, "--device", "/etc/passwd", "true"], "run: --device /etc/passwd: not a device node"],
      [["run", "--rootfs", fx.rootfs, "--device", "/nonexistent-dev", "true"], "run: --device /nonexistent-dev: ENOENT"],
      [["run", "--rootfs", fx.rootfs, "--device", "/dev/null:/etc/null", "true"], "the container path must be under /dev/"],
      [["run", "--device", "/dev/null", "true"], "--device needs --rootfs"],
    ];
    for (const [args, message] of cases) {
      const r = await runMyuts(args);
      expect(r.code).toBe(125);
      expect(r.stderr).toContain(message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
    const bad = bundleWith([{ path: "/dev/../etc/evil", type: "c", major: 1, minor: 3 }], "true");
    const r = await runMyuts(["run", "-b", bad, `dev${uniqueToken()}`]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('linux.devices: "/dev/../etc/evil"');
  });
});
