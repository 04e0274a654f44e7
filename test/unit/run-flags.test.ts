import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseRunArgs, RUN_FLAGS } from "../../src/cli/run-flags.ts";
import { failure } from "../helpers/user-error.ts";

const parse = (argv: string[], env: Record<string, string | undefined> = {}) => parseRunArgs(argv, env);

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "myuts-runflags-"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("parseRunArgs: namespaces", () => {
  test("no flags, no namespaces", () => {
    const o = parse(["true"]);
    expect(o.namespaces.size).toBe(0);
    expect(o.args).toEqual(["true"]);
  });

  test("unshare's flags, long and short", () => {
    expect([...parse(["--uts", "--pid", "--mount", "--net", "--ipc", "--cgroup", "--time"]).namespaces].sort()).toEqual([
      "cgroup",
      "ipc",
      "mount",
      "network",
      "pid",
      "time",
      "uts",
    ]);
    expect([...parse(["-upmniCT"]).namespaces].sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "time", "uts"]);
  });

  test("--all is every namespace but user", () => {
    expect([...parse(["--all"]).namespaces].sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "time", "uts"]);
  });

  test("--hostname and --domainname imply --uts", () => {
    const o = parse(["--hostname", "box", "--domainname", "example"]);
    expect(o.hostname).toBe("box");
    expect(o.domainname).toBe("example");
    expect([...o.namespaces]).toEqual(["uts"]);
    expect([...parse(["--domainname=d"]).namespaces]).toEqual(["uts"]);
  });

  test("--hostname must be 1 to 64 characters", () => {
    expect(parse(["--hostname", "x".repeat(64)]).hostname).toHaveLength(64);
    expect(failure(() => parse(["--hostname", "x".repeat(65)])).message).toContain("--hostname");
    expect(failure(() => parse(["--hostname="])).message).toContain("--hostname");
    expect(failure(() => parse(["--domainname", "d".repeat(65)])).message).toContain("--domainname");
  });

  test("--monotonic and --boottime take whole seconds and imply --time", () => {
    const o = parse(["--monotonic", "100", "--boottime=-5"]);
    expect(o.monotonic).toBe(100);
    expect(o.boottime).toBe(-5);
    expect([...o.namespaces]).toEqual(["time"]);
    for (const bad of ["1.5", "abc", "", "1e3"]) {
      expect(failure(() => parse([`--monotonic=${bad}`])).message).toContain("--monotonic");
    }
  });
});

describe("parseRunArgs: root filesystem and mounts", () => {
  test("--rootfs is made absolute and makes a whole container: docker's namespaces", () => {
    const o = parse(["--rootfs", "some/dir", "sh"]);
    expect(o.rootfs).toBe(resolve("some/dir"));
    expect([...o.namespaces].sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "uts"]);
  });

  test("--share, --network host and --cgroupns host keep the host's namespaces; --share needs --rootfs", () => {
    expect([...parse(["--rootfs", "r", "--share", "pid,ipc", "--share", "uts", "sh"]).namespaces].sort()).toEqual(["cgroup", "mount", "network"]);
    expect([...parse(["--rootfs", "r", "--network", "host", "--cgroupns", "host", "sh"]).namespaces].sort()).toEqual(["ipc", "mount", "pid", "uts"]);
    expect(() => parse(["--share", "pid", "sh"])).toThrow("only a --rootfs or --image container");
    expect(() => parse(["--rootfs", "r", "--share", "mount", "sh"])).toThrow('"mount" is not one of pid, ipc, uts, net, cgroup');
  });

  test("--volume, --tmpfs and --read-only imply --mount", () => {
    expect([...parse(["-v", "/a:/b"]).namespaces]).toEqual(["mount"]);
    expect([...parse(["--tmpfs", "/t"]).namespaces]).toEqual(["mount"]);
    expect([...parse(["--read-only"]).namespaces]).toEqual(["mount"]);
  });

  test("volumes and tmpfs are repeatable, in order", () => {
    const o = parse(["-v", "/a:/a", "--volume=/b:/b:ro", "--tmpfs", "/t1", "--tmpfs=/t2:size=1m"]);
    expect(o.volumes).toEqual(["/a:/a", "/b:/b:ro"]);
    expect(o.tmpfs).toEqual(["/t1", "/t2:size=1m"]);
    expect(o.readOnly).toBe(false);
    expect(parse(["--read-only"]).readOnly).toBe(true);
  });
});

describe("parseRunArgs: the process", () => {
  test("the payload's argv is everything from the first operand on", () => {
    expect(parse(["--uts", "ls", "-la", "--pid", ""]).args).toEqual(["ls", "-la", "--pid", ""]);
    expect(parse(["--", "--weird", "arg with spaces"]).args).toEqual(["--weird", "arg with spaces"]);
    expect(parse(["--uts"]).args).toEqual([]);
  });

  test("-e KEY=VAL, and -e KEY copies the caller's value or is dropped", () => {
    const o = parse(["-e", "A=1", "--env=B=x=y", "-e", "HOME", "-e", "UNSET_HERE", "-e", "EMPTY="], { HOME: "/home/me" });
    expect(o.env).toEqual(["A=1", "B=x=y", "HOME=/home/me", "EMPTY="]);
  });

  test("-e with an empty key is rejected", () => {
    expect(failure(() => parse(["-e", "=value"])).message).toContain("--env");
  });

  test("--env-file reads KEY=VAL lines, skipping blanks and comments, before -e", () => {
    const file = join(dir, "env");
    writeFileSync(file, "# a comment\nFIRST=1\r\n\n  SPACED=two words  \nURL=http://x/?a=b\n");
    const o = parse(["--env-file", file, "-e", "LAST=9"]);
    expect(o.env).toEqual(["FIRST=1", "SPACED=two words", "URL=http://x/?a=b", "LAST=9"]);
  });

  test("a missing --env-file names the file and the errno", () => {
    const e = failure(() => parse(["--env-file", join(dir, "missing")]));
    expect(e.exitCode).toBe(125);
    expect(e.message).toContain("--env-file");
    expect(e.message).toContain("ENOENT");
  });

  test("an --env-file line without '=' is rejected", () => {
    const file = join(dir, "bad-env");
    writeFileSync(file, "GOOD=1\nnot a pair\n");
    expect(failure(() => parse(["--env-file", file])).message).toContain("not a pair");
  });

  test("--workdir must be absolute", () => {
    expect(parse(["-w", "/srv"]).workdir).toBe("/srv");
    expect(failure(() => parse(["-w", "srv"])).message).toContain("--workdir");
  });

  test("--setuid, --setgid and --groups take numeric ids", () => {
    const o = parse(["--setuid", "1000", "--setgid=100", "-G", "10,20", "--groups", "30"]);
    expect(o.setuid).toBe(1000);
    expect(o.setgid).toBe(100);
    expect(o.groups).toEqual([10, 20, 30]);
    expect(parse(["--setuid", "0"]).setuid).toBe(0);
    for (const argv of [
      ["--setuid", "nobody"],
      ["--setgid", "-1"],
      ["-G", "10,x"],
      ["--setuid", "4294967295"],
    ]) {
      const e = failure(() => parse(argv));
      expect(e.exitCode).toBe(125);
      expect(e.message).toContain(argv[0]!.startsWith("--") ? argv[0]! : "--groups");
    }
  });

  test("--trace, --debug and --help", () => {
    const o = parse(["--trace", "--debug", "-h"]);
    expect([o.trace, o.debug, o.help]).toEqual([true, true, true]);
  });

  test("--security-opt label=: docker's parts, disable, or one line", () => {
    expect(parse(["--security-opt", "label=disable", "sh"]).selinux).toBeUndefined();
    expect(failure(() => parse(["--security-opt", "label=colour:red", "sh"])).message).toBe(
      "run: --security-opt label=colour:red: expected label=user:U, role:R, type:T, level:L or disable",
    );
    // Without the policy's default container context, a type alone can't make a context.
    if (!existsSync("/etc/selinux/config"))
      expect(failure(() => parse(["--security-opt", "label=type:container_t", "sh"])).message).toContain("give user:, role: and type:");
    if (!existsSync("/sys/fs/selinux/enforce")) {
      const all = ["label=user:system_u", "label=role:system_r", "label=type:container_t"].flatMap((v) => ["--security-opt", v]);
      expect(failure(() => parse([...all, "sh"])).message).toContain("this host has no SELinux");
    }
  });

  test("unknown flags are rejected before the payload", () => {
    expect(failure(() => parse(["--bogus", "sh"])).message).toContain("--bogus");
  });
});

describe("RUN_FLAGS", () => {
  test("every long and short name is unique", () => {
    const longs = RUN_FLAGS.map((f) => f.long);
    const shorts = RUN_FLAGS.flatMap((f) => (f.short ? [f.short] : []));
    expect(new Set(longs).size).toBe(longs.length);
    expect(new Set(shorts).size).toBe(shorts.length);
  });
  test("--ulimit takes docker's TYPE=SOFT[:HARD], and names the types when it can't", () => {
    expect(parse(["--ulimit", "nofile=1024:2048", "--ulimit", "core=0"]).rlimits).toEqual([
      { type: "RLIMIT_NOFILE", soft: 1024, hard: 2048 },
      { type: "RLIMIT_CORE", soft: 0, hard: 0 },
    ]);
    expect(parse(["--ulimit", "nproc=-1"]).rlimits[0]!.hard).toBe(Number.MAX_SAFE_INTEGER);
    for (const bad of ["nofile", "nofiles=1", "nofile=2:1", "nofile=x"]) {
      const e = failure(() => parse(["--ulimit", bad]));
      expect(e.message).toContain(`--ulimit ${bad}`);
    }
  });
});

describe("parseRunArgs: docker's values after unshare's switches", () => {
  test("-p 8080:80, -u 1000, -m 64m and --user 1000 name the myuts flag instead of running the value", () => {
    for (const [argv, flag] of [
      [["-p", "8080:80"], "--publish"],
      [["-p", "127.0.0.1:8080:80/udp"], "--publish"],
      [["-u", "1000"], "--setuid"],
      [["-u", "app:app"], "--setuid"],
      [["--user", "1000"], "--setuid"],
      [["-m", "64m"], "--memory"],
    ] as const) {
      expect(() => parse([...argv, "sh"])).toThrow(flag);
    }
  });
  test("a real command after a switch, or a value after --, runs as given", () => {
    expect(parse(["-p", "sh"]).args).toEqual(["sh"]);
    expect(parse(["-p", "--", "8080:80"]).args).toEqual(["8080:80"]);
    expect(parse(["-m", "ls", "-l"]).args).toEqual(["ls", "-l"]);
  });
});
