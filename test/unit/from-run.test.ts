import { describe, expect, test } from "bun:test";
import { parseRunArgs } from "../../src/cli/run-flags.ts";
import { specFromRun, type HostFacts } from "../../src/spec/from-run.ts";
import type { Mount, Spec } from "../../src/spec/types.ts";
import { failure } from "../helpers/user-error.ts";
import { DEFAULT_APPARMOR_PROFILE } from "../../src/lifecycle/apparmor.ts";

const HOST: HostFacts = {
  env: { PATH: "/host/bin", HOME: "/home/me", SHELL: "/bin/zsh", TERM: "xterm", SECRET: "s" },
  cwd: "/home/me/project",
  uid: 1000,
  gid: 1001,
  stdinIsTTY: false,
};

function spec(argv: string[], host: Partial<HostFacts> = {}): Spec {
  const facts = { ...HOST, ...host };
  return specFromRun(parseRunArgs(argv, facts.env), facts);
}

const dests = (s: Spec) => (s.mounts ?? []).map((m) => m.destination);
const mountAt = (s: Spec, d: string): Mount | undefined => s.mounts?.find((m) => m.destination === d);

describe("specFromRun: the host tree", () => {
  test("no flags: the caller's shell, env, cwd and ids, root /", () => {
    const s = spec([]);
    expect(s.ociVersion).toMatch(/^1\./);
    expect(s.process?.args).toEqual(["/bin/zsh"]);
    expect(s.process?.env).toEqual(["PATH=/host/bin", "HOME=/home/me", "SHELL=/bin/zsh", "TERM=xterm", "SECRET=s"]);
    expect(s.process?.cwd).toBe("/home/me/project");
    expect(s.process?.user).toEqual({ uid: 1000, gid: 1001 });
    expect(s.root).toEqual({ path: "/", readonly: false });
    expect(s.mounts).toEqual([]);
    expect(s.linux?.namespaces).toEqual([]);
    expect(s.linux?.maskedPaths).toBeUndefined();
    expect(s.hostname).toBeUndefined();
  });

  test("without SHELL the default command is /bin/sh", () => {
    expect(spec([], { env: {} }).process?.args).toEqual(["/bin/sh"]);
  });

  test("--pid with --mount remounts /proc, like unshare --mount-proc", () => {
    const s = spec(["--pid", "--mount", "true"]);
    expect(dests(s)).toEqual(["/proc"]);
    expect(mountAt(s, "/proc")).toMatchObject({ type: "proc", source: "proc" });
    expect(dests(spec(["--pid", "true"]))).toEqual([]);
    expect(dests(spec(["--mount", "true"]))).toEqual([]);
  });

  test("namespaces come in a fixed order, whatever the flag order", () => {
    const s = spec(["-T", "-C", "-m", "-u", "-i", "-n", "-p"]);
    expect(s.linux?.namespaces?.map((n) => n.type)).toEqual(["pid", "network", "ipc", "uts", "mount", "cgroup", "time"]);
    expect(s.linux?.namespaces?.every((n) => n.path === undefined)).toBe(true);
  });

  test("-e adds to and overrides the inherited environment", () => {
    const env = spec(["-e", "PATH=/x", "-e", "NEW=1", "true"]).process?.env ?? [];
    expect(env).toContain("PATH=/x");
    expect(env).not.toContain("PATH=/host/bin");
    expect(env).toContain("NEW=1");
    expect(env.filter((e) => e.startsWith("PATH="))).toHaveLength(1);
  });

  test("a key that is a prefix of another is not confused with it", () => {
    const env = spec(["-e", "PATH_EXTRA=1"], { env: { PATH: "/p" } }).process?.env;
    expect(env).toEqual(["PATH=/p", "PATH_EXTRA=1"]);
  });

  test("hostname, domainname and time offsets", () => {
    const s = spec(["--hostname", "box", "--domainname", "dom", "--monotonic", "86400", "--boottime", "-10", "true"]);
    expect(s.hostname).toBe("box");
    expect(s.domainname).toBe("dom");
    expect(s.linux?.timeOffsets).toEqual({ monotonic: { secs: 86400, nanosecs: 0 }, boottime: { secs: -10, nanosecs: 0 } });
    expect(s.linux?.namespaces?.map((n) => n.type)).toEqual(["uts", "time"]);
    expect(spec(["--monotonic", "5"]).linux?.timeOffsets).toEqual({ monotonic: { secs: 5, nanosecs: 0 } });
    expect(spec(["--time"]).linux?.timeOffsets).toBeUndefined();
  });

  test("user, groups and workdir", () => {
    const s = spec(["--setuid", "5", "--setgid", "6", "-G", "7,8", "-w", "/srv", "true"]);
    expect(s.process?.user).toEqual({ uid: 5, gid: 6, additionalGids: [7, 8] });
    expect(s.process?.cwd).toBe("/srv");
  });
});

describe("specFromRun: a root filesystem", () => {
  const R = "/srv/rootfs";

  test("defaults: /bin/sh as root in /, with a clean environment", () => {
    const s = spec(["--rootfs", R]);
    expect(s.root).toEqual({ path: R, readonly: false });
    expect(s.process?.args).toEqual(["/bin/sh"]);
    expect(s.process?.user).toEqual({ uid: 0, gid: 0 });
    expect(s.process?.cwd).toBe("/");
    expect(s.process?.env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]);
    expect(s.process?.terminal).toBe(false);
  });

  test("HOSTNAME follows --hostname, TERM only with a terminal, HOME=/ for other users", () => {
    const s = spec(["--rootfs", R, "--hostname", "box", "--setuid", "1000", "sh"], { stdinIsTTY: true });
    expect(s.process?.env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "HOSTNAME=box", "TERM=xterm"]);
  });

  test("the caller's environment never leaks in; -e still works", () => {
    const env = spec(["--rootfs", R, "-e", "A=1", "-e", "SECRET", "-e", "HOME=/h", "sh"]).process?.env ?? [];
    expect(env).toContain("A=1");
    expect(env).toContain("SECRET=s");
    expect(env).toContain("HOME=/h");
    expect(env).not.toContain("HOME=/root");
    expect(env.some((e) => e.startsWith("SHELL="))).toBe(false);
  });

  test("the OCI default mounts, /dev/mqueue only with an IPC namespace, /sys read-only", () => {
    const s = spec(["--rootfs", R, "sh"]);
    expect(dests(s)).toEqual(["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"]);
    expect(dests(spec(["--rootfs", R, "--share", "ipc", "sh"]))).toEqual(["/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"]);
    expect(mountAt(s, "/sys")?.options).toContain("ro");
    expect(mountAt(s, "/dev/pts")).toMatchObject({ type: "devpts" });
    expect(mountAt(s, "/dev/pts")?.options).toContain("newinstance");
    expect(mountAt(s, "/dev")).toMatchObject({ type: "tmpfs" });
    expect(mountAt(s, "/proc")?.options).toEqual(expect.arrayContaining(["nosuid", "noexec", "nodev"]));
  });

  test("--pid with a root filesystem mounts /proc once", () => {
    for (const argv of [
      ["--pid", "--rootfs", R, "sh"],
      ["--all", "--rootfs", R, "sh"],
      ["--pid", "--mount", "--rootfs", R, "sh"],
    ]) {
      expect(dests(spec(argv)).filter((d) => d === "/proc")).toHaveLength(1);
    }
  });

  test("masked and read-only paths only with a root filesystem", () => {
    const s = spec(["--rootfs", R, "sh"]);
    expect(s.linux?.maskedPaths).toContain("/proc/kcore");
    expect(s.linux?.readonlyPaths).toContain("/proc/sys");
    expect(spec(["--mount", "true"]).linux?.readonlyPaths).toBeUndefined();
  });

  test("AppArmor: the default profile where the host has it, a given one, or none", () => {
    expect(spec(["--rootfs", R, "sh"], { apparmor: true }).process?.apparmorProfile).toBe(DEFAULT_APPARMOR_PROFILE);
    expect(spec(["--rootfs", R, "sh"]).process?.apparmorProfile).toBeUndefined();
    expect(spec(["--rootfs", R, "--privileged", "sh"], { apparmor: true }).process?.apparmorProfile).toBeUndefined();
    // unshare's form keeps the caller's confinement
    expect(spec(["--mount", "true"], { apparmor: true }).process?.apparmorProfile).toBeUndefined();
    const given = (apparmor: string) => specFromRun({ ...parseRunArgs(["--rootfs", R, "sh"], HOST.env), apparmor }, { ...HOST, apparmor: true });
    expect(given("mine").process?.apparmorProfile).toBe("mine");
    expect(given("unconfined").process?.apparmorProfile).toBeUndefined();
  });

  test("--read-only", () => {
    expect(spec(["--rootfs", R, "--read-only", "sh"]).root).toEqual({ path: R, readonly: true });
  });

  test("volumes follow the default mounts, in order; ro and rw", () => {
    const s = spec(["--rootfs", R, "-v", "/data:/data:ro", "-v", "/cache:/var/cache", "-v", "/w:/w:rw", "sh"]);
    expect(dests(s).slice(-3)).toEqual(["/data", "/var/cache", "/w"]);
    expect(mountAt(s, "/data")).toEqual({ destination: "/data", type: "bind", source: "/data", options: ["rbind", "ro", "rprivate"] });
    expect(mountAt(s, "/var/cache")?.options).toEqual(["rbind", "rw", "rprivate"]);
    expect(mountAt(s, "/w")?.options).toEqual(["rbind", "rw", "rprivate"]);
  });

  test("bad volumes are one-line user errors", () => {
    for (const v of ["/only-one", ":/x", "/x:", "rel:/x", "/x:rel", "/x:/y:rx", "/a:/b:ro:extra"]) {
      const e = failure(() => spec(["--rootfs", R, "-v", v, "sh"]));
      expect(e.exitCode).toBe(125);
      expect(e.message).toContain("--volume");
      expect(e.message).not.toContain("\n");
    }
  });

  test("--tmpfs with and without options", () => {
    const s = spec(["--rootfs", R, "--tmpfs", "/tmp", "--tmpfs", "/run:size=1m,mode=700", "sh"]);
    expect(mountAt(s, "/tmp")).toEqual({ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec"] });
    expect(mountAt(s, "/run")?.options).toEqual(["nosuid", "nodev", "noexec", "size=1m", "mode=700"]);
    expect(failure(() => spec(["--tmpfs", "tmp"])).message).toContain("--tmpfs");
  });

  test("the spec is plain JSON (what `myuts spec` prints)", () => {
    const s = spec(["--all", "--rootfs", R, "--hostname", "h", "-v", "/a:/b", "sh", "-c", "echo hi"]);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    expect(s.process?.args).toEqual(["sh", "-c", "echo hi"]);
  });
});

describe("specFromRun: --device", () => {
  test("the host node's numbers go to linux.devices, its access after runc's default allow-list", () => {
    const s = spec(["--rootfs", "/srv/r", "--device", "/dev/null:/dev/x/null:rw", "--", "true"]);
    expect(s.linux?.devices).toEqual([{ path: "/dev/x/null", type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }]);
    const rules = s.linux?.resources?.devices ?? [];
    expect(rules[0]).toEqual({ allow: false, access: "rwm" });
    expect(rules.at(-1)).toEqual({ allow: true, type: "c", major: 1, minor: 3, access: "rw" });
  });
  test("in a user namespace the host node is bound instead", () => {
    const s = spec(["--rootfs", "/srv/r", "--map-root-user", "--device", "/dev/null:/dev/xnull", "--", "true"]);
    expect(s.linux?.devices).toBeUndefined();
    expect(mountAt(s, "/dev/xnull")).toEqual({ destination: "/dev/xnull", type: "bind", source: "/dev/null", options: ["bind"] });
  });
  test("a path that is not a device node, or a device without a root filesystem, is refused", () => {
    expect(failure(() => spec(["--rootfs", "/srv/r", "--device", "/etc/passwd", "true"])).message).toContain("not a device node");
    expect(failure(() => spec(["--device", "/dev/null", "true"])).message).toContain("--device needs --rootfs");
  });
});
