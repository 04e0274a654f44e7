import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cgroup, parseCgroupPaths, relativePath } from "../../src/cgroups/cgroup.ts";
import { leafName } from "../../src/cgroups/names.ts";
import { parseLayout, type Layout } from "../../src/cgroups/layout.ts";
import { blkioToIoWeight, formatBytes, parseBytes, sharesToWeight, weightToShares } from "../../src/cgroups/units.ts";
import { DEFAULT_DEVICE_RULES, v1DeviceWrites, v1Writes, v2Writes } from "../../src/cgroups/writes.ts";
import { parseArgv } from "../../src/cli/argv.ts";
import { parseResourceFlags, RESOURCE_FLAGS } from "../../src/cli/resource-flags.ts";
import type { Spec } from "../../src/spec/types.ts";

const HYBRID_MOUNTS = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_SELF = `9:name=systemd:/
4:memory:/process_api/abc
1:cpu:/
0::/
`;

describe("layout", () => {
  test("hybrid: v1 controllers with the caller's own path, named hierarchies left out", () => {
    const l = parseLayout(HYBRID_MOUNTS, HYBRID_SELF);
    expect(l.mode).toBe("hybrid");
    expect(l.v1).toEqual([
      { mount: "/sys/fs/cgroup/cpu", controllers: ["cpu"], own: "/" },
      { mount: "/sys/fs/cgroup/memory", controllers: ["memory"], own: "/process_api/abc" },
    ]);
    expect(l.unified).toEqual({ mount: "/sys/fs/cgroup/unified", controllers: [], own: "/" });
  });

  test("v2 only, and a mount whose root is a sub-cgroup", () => {
    const l = parseLayout("30 20 0:26 /user.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", "0::/user.slice/session-1.scope\n");
    expect(l.mode).toBe("v2");
    expect(l.unified?.own).toBe("/session-1.scope");
  });

  test("v1 with co-mounted controllers", () => {
    const l = parseLayout("32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n", "2:cpuacct,cpu:/a\n");
    expect(l.mode).toBe("v1");
    expect(l.v1[0]).toEqual({ mount: "/sys/fs/cgroup/cpu,cpuacct", controllers: ["cpu", "cpuacct"], own: "/a" });
  });
});

describe("units", () => {
  test("shares ↔ weight as runc and crun convert", () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(weightToShares(100)).toBe(2597);
    expect(blkioToIoWeight(10)).toBe(1);
    expect(blkioToIoWeight(1000)).toBe(10000);
  });

  test("docker sizes", () => {
    expect(parseBytes("64m")).toBe(64 * 1024 * 1024);
    expect(parseBytes("1.5g")).toBe(1.5 * 1024 ** 3);
    expect(parseBytes("100")).toBe(100);
    expect(parseBytes("12MB")).toBe(12 * 1024 * 1024);
    expect(parseBytes("lots")).toBeUndefined();
    expect(formatBytes(64 * 1024 * 1024)).toBe("64 MiB");
  });
});

describe("writes", () => {
  const res = { memory: { limit: 67108864, swap: 134217728 }, cpu: { shares: 512, quota: 50000, period: 100000, cpus: "0" }, pids: { limit: 32 } };

  test("v1 files, the period before the quota", () => {
    expect(v1Writes(res).map((w) => `${w.file}=${w.value}`)).toEqual([
      "memory.limit_in_bytes=67108864",
      "memory.memsw.limit_in_bytes=134217728",
      "cpu.shares=512",
      "cpu.cfs_period_us=100000",
      "cpu.cfs_quota_us=50000",
      "cpuset.cpus=0",
      "pids.max=32",
    ]);
  });

  test("v2 files: swap alone, weight from shares, cpu.max", () => {
    expect(v2Writes(res).map((w) => `${w.file}=${w.value}`)).toEqual([
      "memory.max=67108864",
      "memory.swap.max=67108864",
      "cpu.weight=20",
      "cpu.max=50000 100000",
      "cpuset.cpus=0",
      "pids.max=32",
    ]);
    expect(v2Writes({ pids: { limit: 0 }, cpu: { quota: -1 } }).map((w) => w.value)).toEqual(["max 100000", "max"]);
  });

  test("v2 io weight falls back to io.weight without BFQ", () => {
    expect(v2Writes({ blockIO: { weight: 300 } }, () => false)).toEqual([{ controller: "io", file: "io.weight", value: "2930" }]);
    expect(v2Writes({ blockIO: { weight: 300 } }, (f) => f === "io.bfq.weight")).toEqual([{ controller: "io", file: "io.bfq.weight", value: "300" }]);
  });

  test("v1 device rules: deny all, then the default set", () => {
    const w = v1DeviceWrites(DEFAULT_DEVICE_RULES);
    expect(w[0]).toEqual({ controller: "devices", file: "devices.deny", value: "a" });
    expect(w).toContainEqual({ controller: "devices", file: "devices.allow", value: "c 1:3 rwm" });
    expect(w).toContainEqual({ controller: "devices", file: "devices.allow", value: "c 136:* rwm" });
  });
});

describe("flags", () => {
  const parse = (...a: string[]) => parseResourceFlags(parseArgv(a, RESOURCE_FLAGS, "run"));
  test("docker names and units become OCI resources", () => {
    expect(
      parse("--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--pids-limit", "32", "--cpuset-cpus", "0-1", "--cpu-shares", "512").resources,
    ).toEqual({
      memory: { limit: 67108864, swap: 134217728 },
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: "0-1" },
      pids: { limit: 32 },
    });
    expect(parse("--cpu-weight", "100").resources?.cpu?.shares).toBe(2597);
    expect(parse("--cgroupns", "private", "--oom-score-adj", "-5")).toEqual({ cgroupns: "private", oomScoreAdj: -5 });
  });
  test("bad values name the flag", () => {
    expect(() => parse("--memory", "1")).toThrow("run: --memory 1: below the minimum of 6 MiB");
    expect(() => parse("--memory-swap", "1g")).toThrow("needs --memory");
    expect(() => parse("--cpus", "1", "--cpu-quota", "5000")).toThrow("conflicts");
    expect(() => parse("--cgroupns", "maybe")).toThrow("must be private or host");
    expect(() => parse("--cpuset-cpus", "a")).toThrow("not a list");
  });
});

describe("placement", () => {
  test("below the caller's own cgroup by default; absolute paths from the root", () => {
    expect(relativePath("/process_api/abc", undefined, "box")).toBe("/process_api/abc/myuts-box");
    expect(relativePath("/a", "p/myuts-box", "box")).toBe("/a/p/myuts-box");
    expect(relativePath("/a", "/p/myuts-box", "box")).toBe("/p/myuts-box");
    expect(() => relativePath("/", "system.slice:myuts:box", "box")).toThrow("systemd");
    expect(() => relativePath("/", "/", "box")).toThrow("not a cgroup below");
  });
});

describe("registry entries' cgroup paths (untrusted)", () => {
  const layout = parseLayout(HYBRID_MOUNTS, HYBRID_SELF);
  const good = {
    mode: "hybrid",
    dirs: { cpu: "/sys/fs/cgroup/cpu/myuts-box", memory: "/sys/fs/cgroup/memory/process_api/abc/myuts-box" },
    created: ["/sys/fs/cgroup/cpu/myuts-box", "/sys/fs/cgroup/memory/process_api/abc/myuts-box"],
  };

  test("directories below the hierarchy they are recorded for pass", () => {
    expect(parseCgroupPaths(good, layout)).toEqual(good as ReturnType<typeof parseCgroupPaths>);
  });

  test("anything else is refused, with the reason", () => {
    const bad: [unknown, string][] = [
      [null, "not an object"],
      [[], "not an object"],
      ["x", "not an object"],
      [{ ...good, mode: "v2" }, "not this host's layout"],
      [{ ...good, dirs: undefined }, "missing"],
      [{ ...good, dirs: { cpu: "/tmp/x" } }, "not below a cgroup mount"],
      [{ ...good, dirs: { cpu: "/sys/fs/cgroup/memory/x" } }, "not below a cgroup mount"],
      [{ ...good, dirs: { cpu: "/sys/fs/cgroup/cpu/../../../etc" } }, "not a normalized absolute path"],
      [{ ...good, dirs: { cpu: "/sys/fs/cgroup/cpu" } }, "not below a cgroup mount"],
      [{ ...good, dirs: { cpu: "sys/fs/cgroup/cpu/x" } }, "not a normalized absolute path"],
      [{ ...good, dirs: { cpu: 7 } }, "not a plain path"],
      [{ ...good, dirs: { freezer: "/sys/fs/cgroup/cpu/x" } }, "not a hierarchy of this host"],
      [{ ...good, created: ["/sys/fs/cgroup/x"] }, "not below a cgroup mount"],
      [{ ...good, created: ["/etc"] }, "not below a cgroup mount"],
      [{ ...good, created: "/sys/fs/cgroup/cpu/x" }, "missing"],
    ];
    for (const [v, why] of bad) expect(() => parseCgroupPaths(v, layout)).toThrow(why);
  });
});

describe("killing a cgroup's leftovers", () => {
  test("a cgroup.kill that is a symlink is never written through", () => {
    const fake = mkdtempSync(join(tmpdir(), "myuts-unit-kill-"));
    try {
      const target = join(fake, "target");
      writeFileSync(target, "untouched");
      const dir = join(fake, "myuts-x");
      mkdirSync(dir);
      symlinkSync(target, join(dir, "cgroup.kill"));
      writeFileSync(join(dir, "cgroup.procs"), "");
      const problems = Cgroup.fromPaths({ mode: "v2", dirs: { unified: dir }, created: [dir] }).kill();
      expect(problems.join()).toContain("ELOOP");
      expect(readFileSync(target, "utf8")).toBe("untouched");
    } finally {
      rmSync(fake, { recursive: true, force: true });
    }
  });
});

describe("planning", () => {
  test("the leaf and the parents still missing are recorded before anything exists", () => {
    const fake = mkdtempSync(join(tmpdir(), "myuts-unit-plan-"));
    try {
      mkdirSync(join(fake, "memory", "own"), { recursive: true });
      const layout: Layout = { mode: "v1", v1: [{ mount: join(fake, "memory"), controllers: ["memory"], own: "/own" }] };
      const spec: Spec = { ociVersion: "1.0.2", linux: { resources: { memory: { limit: 67108864 } }, cgroupsPath: "p/q/myuts-box" } };
      const plan = Cgroup.plan(spec, "box", layout);
      expect(plan.paths).toEqual({
        mode: "v1",
        dirs: { memory: join(fake, "memory/own/p/q/myuts-box") },
        created: ["p", "p/q", "p/q/myuts-box"].map((d) => join(fake, "memory/own", d)),
      });
      expect(existsSync(join(fake, "memory/own/p"))).toBe(false);
      expect(leafName("box")).toBe("myuts-box");
    } finally {
      rmSync(fake, { recursive: true, force: true });
    }
  });
});
