import { describe, expect, test } from "bun:test";
import { userNamespaceBlocker, userNamespaceHint } from "../../src/lifecycle/userns.ts";
import { checkNoOverlap, checkOwned, parseMapping, subIdRanges } from "../../src/lifecycle/idmap.ts";
import { parseArgv } from "../../src/cli/argv.ts";
import { parseUserFlags, USER_FLAGS } from "../../src/cli/user-flags.ts";
import type { UserHost } from "../../src/lifecycle/identity.ts";

const host: UserHost = { uid: 1000, gid: 1000, name: "alice", subuid: () => "alice:100000:65536\nbob:200000:10\n", subgid: () => "1000:300000:65536\n" };
const parse = (args: string[]) => parseUserFlags(parseArgv(args, USER_FLAGS, "run"), host);

describe("user namespace flags", () => {
  test("--user alone maps the caller to root and denies setgroups", () => {
    expect(parse(["--user"])).toEqual({
      uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      setgroups: "deny",
      uid: 0,
      gid: 0,
    });
  });
  test("--map-current-user keeps the ids", () => {
    const o = parse(["--map-current-user"])!;
    expect(o.uidMappings).toEqual([{ containerID: 1000, hostID: 1000, size: 1 }]);
    expect([o.uid, o.gid]).toEqual([1000, 1000]);
  });
  test("auto takes the first subordinate range, by name or by id", () => {
    const o = parse(["--map-users=auto", "--map-groups=auto"])!;
    expect(o.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    expect(o.gidMappings).toEqual([{ containerID: 0, hostID: 300000, size: 65536 }]);
    expect(o.setgroups).toBe("allow");
  });
  test("no gid mapping is an error", () => {
    expect(() => parse(["--uidmap", "0:100000:10"])).toThrow(/no gid mapping/);
  });
  test("no flags, no user namespace", () => {
    expect(parse([])).toBeUndefined();
  });
});

describe("id mappings", () => {
  test("parse and reject", () => {
    expect(parseMapping("uidmap", "0:100000:65536")).toEqual({ containerID: 0, hostID: 100000, size: 65536 });
    expect(() => parseMapping("uidmap", "0:1")).toThrow(/INNER:OUTER:COUNT/);
    expect(() => parseMapping("uidmap", "0:1:0")).toThrow(/at least 1/);
  });
  test("subordinate ranges belong to a name or a uid", () => {
    expect(subIdRanges("alice:1:2\n1000:5:6\nbob:9:9\n", { name: "alice", id: 1000 })).toEqual([
      { start: 1, count: 2 },
      { start: 5, count: 6 },
    ]);
  });
  test("overlap inside or on the host", () => {
    expect(() =>
      checkNoOverlap("uid", [
        { containerID: 0, hostID: 10, size: 5 },
        { containerID: 4, hostID: 100, size: 1 },
      ]),
    ).toThrow(/inside/);
    expect(() =>
      checkNoOverlap("uid", [
        { containerID: 0, hostID: 10, size: 5 },
        { containerID: 40, hostID: 12, size: 1 },
      ]),
    ).toThrow(/on the host/);
  });
  test("ownership: own id, inside a range, or the line to add", () => {
    expect(() => checkOwned("uid", [{ containerID: 0, hostID: 1000, size: 1 }], 1000, [], "alice")).not.toThrow();
    expect(() => checkOwned("uid", [{ containerID: 0, hostID: 100000, size: 10 }], 1000, [{ start: 100000, count: 10 }], "alice")).not.toThrow();
    expect(() => checkOwned("uid", [{ containerID: 0, hostID: 100000, size: 11 }], 1000, [{ start: 100000, count: 10 }], "alice")).toThrow(/not alice's/);
    expect(() => checkOwned("gid", [{ containerID: 0, hostID: 5, size: 1 }], 1000, [], "alice")).toThrow(
      /add a line like "alice:100000:65536" to \/etc\/subgid/,
    );
  });
});

describe("which setting blocks user namespaces", () => {
  const sysctl = (values: Record<string, string>) => (f: string) => {
    const v = values[f];
    if (v === undefined) throw new Error("ENOENT");
    return v;
  };
  test("max_user_namespaces=0", () => {
    expect(userNamespaceBlocker(false, sysctl({ "/proc/sys/user/max_user_namespaces": "0\n" }))).toContain("user.max_user_namespaces=0");
  });
  test("Debian's unprivileged_userns_clone=0", () => {
    expect(userNamespaceBlocker(false, sysctl({ "/proc/sys/kernel/unprivileged_userns_clone": "0\n" }))).toContain("kernel.unprivileged_userns_clone=0");
  });
  test("Ubuntu 24.04's AppArmor restriction", () => {
    expect(userNamespaceBlocker(false, sysctl({ "/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n" }))).toContain(
      "kernel.apparmor_restrict_unprivileged_userns=1",
    );
  });
  test("root is not subject to the unprivileged knobs", () => {
    expect(userNamespaceBlocker(true, sysctl({ "/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n" }))).toBeUndefined();
  });
  test("nothing set", () => {
    expect(userNamespaceBlocker(false, sysctl({ "/proc/sys/user/max_user_namespaces": "1000\n" }))).toBeUndefined();
  });
});

describe("failures inside a restricted user namespace", () => {
  const apparmor = (f: string) => {
    if (f.endsWith("apparmor_restrict_unprivileged_userns")) return "1\n";
    throw new Error("ENOENT");
  };
  test("an unprivileged EPERM gets the AppArmor hint", () => {
    expect(userNamespaceHint(1, false, apparmor)).toContain("AppArmor");
  });
  test("root and other errors are left alone", () => {
    expect(userNamespaceHint(1, true, apparmor)).toBeUndefined();
    expect(userNamespaceHint(2, false, apparmor)).toBeUndefined();
  });
});
