import { describe, expect, test } from "bun:test";
import { parseRunArgs } from "../../src/cli/run-flags.ts";
import { applyCapFlags, DEFAULT_CAPABILITIES } from "../../src/spec/capabilities.ts";
import { specFromRun } from "../../src/spec/from-run.ts";

const host = { env: {}, cwd: "/", uid: 0, gid: 0, stdinIsTTY: false };
const caps = (argv: string[]) => specFromRun(parseRunArgs(argv, {}), host).process?.capabilities;

describe("capabilities", () => {
  test("a root filesystem gets docker's default set, without CAP_MKNOD", () => {
    const c = caps(["--rootfs", "/r", "sh"])!;
    expect(c.bounding).toEqual(expect.arrayContaining(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]));
    expect(c.bounding).not.toContain("CAP_SYS_ADMIN");
    expect(c.bounding).not.toContain("CAP_MKNOD");
    expect(c.ambient).toEqual([]);
  });
  test("the host tree keeps every capability, like unshare", () => {
    expect(caps(["--pid", "sh"])).toBeUndefined();
  });
  test("--cap-add/--cap-drop with or without the CAP_ prefix, and ALL", () => {
    expect(applyCapFlags(DEFAULT_CAPABILITIES, ["sys_admin"], ["CAP_KILL"])).toContain("CAP_SYS_ADMIN");
    expect(applyCapFlags(DEFAULT_CAPABILITIES, [], ["CAP_KILL"])).not.toContain("CAP_KILL");
    expect(applyCapFlags(DEFAULT_CAPABILITIES, ["NET_ADMIN"], ["ALL"])).toEqual(["CAP_NET_ADMIN"]);
    expect(() => applyCapFlags([], ["NOPE"], [])).toThrow(/unknown capability/);
  });
  test("--privileged keeps everything and unmasks /proc", () => {
    const s = specFromRun(parseRunArgs(["--privileged", "--rootfs", "/r", "sh"], {}), host);
    expect(s.process?.capabilities).toBeUndefined();
    expect(s.linux?.maskedPaths).toBeUndefined();
  });
});
