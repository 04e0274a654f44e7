import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateSpec } from "../../src/spec/validate.ts";
import type { Mount, NamespaceType, Rlimit, Spec } from "../../src/spec/types.ts";
import { describe as describeError } from "../../src/cli/report.ts";
import { OsError, UserError } from "../../src/util/errors.ts";

let dir = "";
let rootfs = "";
let file = "";

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "myuts-validate-"));
  rootfs = join(dir, "rootfs");
  mkdirSync(rootfs);
  file = join(dir, "file");
  writeFileSync(file, "");
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function base(ns: NamespaceType[] = []): Spec {
  return {
    ociVersion: "1.2.0",
    process: { user: { uid: 0, gid: 0 }, args: ["/bin/true"], env: ["PATH=/bin"], cwd: "/" },
    root: { path: "/" },
    mounts: [],
    linux: { namespaces: ns.map((type) => ({ type })) },
  };
}

function rejects(s: Spec, ...fragments: string[]): void {
  let err: unknown;
  try {
    validateSpec(s);
  } catch (e) {
    err = e;
  }
  expect(err instanceof UserError || err instanceof OsError).toBe(true);
  expect((err as UserError | OsError).exitCode).toBe(125);
  const line = describeError(err);
  expect(line).not.toContain("\n");
  for (const f of fragments) expect(line).toContain(f);
}

describe("validateSpec", () => {
  test("a minimal spec and a full one pass", () => {
    expect(() => validateSpec(base())).not.toThrow();
    const s = base(["pid", "network", "ipc", "uts", "mount", "cgroup", "time"]);
    s.root = { path: rootfs, readonly: true };
    s.hostname = "h";
    s.domainname = "d";
    s.linux!.timeOffsets = { monotonic: { secs: 1 } };
    s.mounts = [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/data", type: "bind", source: dir, options: ["rbind", "ro"] },
      { destination: "/file", source: file, options: ["bind"] },
    ];
    expect(() => validateSpec(s)).not.toThrow();
  });

  test("the process", () => {
    const noProcess = base();
    delete noProcess.process;
    rejects(noProcess, "process");
    const empty = base();
    empty.process!.args = [];
    rejects(empty, "process.args");
    const emptyName = base();
    emptyName.process!.args = [""];
    rejects(emptyName, "process.args");
    const cwd = base();
    cwd.process!.cwd = "relative";
    rejects(cwd, "process.cwd", "relative");
    const nulArg = base();
    nulArg.process!.args = ["/bin/true", "a\0b"];
    rejects(nulArg, "NUL");
    const nulEnv = base();
    nulEnv.process!.env = ["A=\0"];
    rejects(nulEnv, "NUL");
  });

  test("user ids", () => {
    for (const bad of [-1, 1.5, 0xffffffff, Number.NaN]) {
      const s = base();
      s.process!.user = { uid: bad, gid: 0 };
      rejects(s, "process.user");
    }
    const g = base();
    g.process!.user = { uid: 0, gid: 0, additionalGids: [1, -2] };
    rejects(g, "process.user", "-2");
  });

  test("namespaces", () => {
    const unknown = base();
    unknown.linux!.namespaces = [{ type: "bogus" as NamespaceType }];
    rejects(unknown, "bogus");
    rejects(base(["uts", "uts"]), "uts", "twice");
    const byPath = base();
    byPath.linux!.namespaces = [{ type: "network", path: "/proc/1/ns/net" }];
    expect(() => validateSpec(byPath)).not.toThrow();
    byPath.linux!.namespaces = [{ type: "network", path: "relative/net" }];
    rejects(byPath, "network", "path", "absolute");
    // Mappings belong to a user namespace the container creates, not one it joins.
    const joinedUser = base();
    joinedUser.linux!.namespaces = [{ type: "user", path: "/proc/1/ns/user" }];
    joinedUser.linux!.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
    rejects(joinedUser, "uidMappings", "new user namespace");
    rejects(base(["user"]), "user namespace", "uidMappings");
  });

  test("hostname and time offsets need their namespaces", () => {
    const h = base();
    h.hostname = "x";
    rejects(h, "uts");
    const d = base();
    d.domainname = "x";
    rejects(d, "uts");
    const t = base(["uts"]);
    t.linux!.timeOffsets = { boottime: { secs: 1 } };
    rejects(t, "time");
  });

  test("the root", () => {
    const missing = base(["mount"]);
    delete missing.root;
    rejects(missing, "root.path");
    const noMountNs = base();
    noMountNs.root = { path: rootfs };
    rejects(noMountNs, rootfs, "mount namespace");
    const absent = base(["mount"]);
    absent.root = { path: join(dir, "nope") };
    rejects(absent, `rootfs ${join(dir, "nope")}`, "ENOENT");
    const notDir = base(["mount"]);
    notDir.root = { path: file };
    rejects(notDir, "ENOTDIR");
  });

  test("mounts need a mount namespace, absolute destinations and existing bind sources", () => {
    const noNs = base();
    noNs.mounts = [{ destination: "/tmp", type: "tmpfs", source: "tmpfs" }];
    rejects(noNs, "mount namespace");
    const ro = base();
    ro.root = { path: "/", readonly: true };
    rejects(ro, "mount namespace");
    const rel = base(["mount"]);
    rel.mounts = [{ destination: "tmp", type: "tmpfs" }];
    rejects(rel, "tmp", "absolute");
    const src = base(["mount"]);
    src.mounts = [{ destination: "/x", type: "bind", source: join(dir, "gone") }];
    rejects(src, "/x", join(dir, "gone"), "ENOENT");
    const byOption = base(["mount"]);
    byOption.mounts = [{ destination: "/x", source: join(dir, "gone"), options: ["rbind"] }];
    rejects(byOption, "ENOENT");
  });
  test("fields nothing applies yet are refused by name, not ignored", () => {
    const s = base();
    (s.linux as Record<string, unknown>).intelRdt = { closID: "x" };
    rejects(s, "linux.intelRdt", "not supported yet");
    const idmap = (m: Partial<Mount>, ns: NamespaceType[] = ["mount"]) => {
      const x = base(ns);
      x.mounts = [{ destination: "/data", type: "bind", source: dir, ...m }];
      return x;
    };
    const one = [{ containerID: 0, hostID: 1000, size: 1 }];
    rejects(idmap({ uidMappings: one }), "mount /data: uidMappings and gidMappings go together");
    rejects(idmap({ options: ["rbind", "idmap"] }), "mount /data: idmap needs the mount's uidMappings and gidMappings, or a new user namespace's");
    rejects(idmap({ type: "tmpfs", uidMappings: one, gidMappings: one }), "mount /data: only bind mounts can be idmapped");
    rejects(idmap({ uidMappings: [{ containerID: 0, hostID: 1, size: 0 }], gidMappings: one }), "mount /data: uidMappings: expected a list");
    expect(() => validateSpec(idmap({ uidMappings: one, gidMappings: one }))).not.toThrow();
    // Labels for an LSM this host lacks: one line naming the field (hosts with one run test/vm).
    const lsm = (edit: (x: Spec) => void, ...fragments: string[]) => {
      const x = base();
      edit(x);
      rejects(x, ...fragments);
    };
    if (!existsSync("/sys/fs/selinux/enforce")) {
      lsm((x) => (x.linux!.mountLabel = "system_u:object_r:container_file_t:s0"), 'linux.mountLabel "system_u:object_r:container_file_t:s0"', "no SELinux");
      lsm((x) => (x.process!.selinuxLabel = "system_u:system_r:container_t:s0"), "process.selinuxLabel", "no SELinux");
    }
    if (!existsSync("/sys/kernel/security/apparmor")) lsm((x) => (x.process!.apparmorProfile = "p"), 'process.apparmorProfile "p"', "no AppArmor");
    lsm((x) => (x.process!.selinuxLabel = "justone"), "process.selinuxLabel", "not an SELinux context");
    lsm((x) => (x.process!.apparmorProfile = "a\nb"), "process.apparmorProfile", "not a profile name");
    const hooks = base();
    (hooks as unknown as Record<string, unknown>).hooks = { poststop: [{ path: "relative" }] };
    rejects(hooks, "hooks.poststop[0]: path must be an absolute path");
    (hooks as unknown as Record<string, unknown>).hooks = { later: [] };
    rejects(hooks, "hooks.later: unknown hook kind");
    (hooks as unknown as Record<string, unknown>).hooks = { prestart: [{ path: "/x", timeout: 0 }] };
    rejects(hooks, "timeout must be a whole number");
    const empty = base();
    (empty.linux as Record<string, unknown>).seccomp = {};
    expect(() => validateSpec(empty)).not.toThrow();
  });
  test("the result has its process, root and namespaces filled in", () => {
    const v = validateSpec(base(["uts"]));
    expect(v.process.args).toEqual(["/bin/true"]);
    expect(v.root.path).toBe("/");
    expect(v.linux.namespaces).toEqual([{ type: "uts" }]);
  });
  test("a NUL in any string the init reads is refused, naming the field", () => {
    const s = base(["mount"]);
    s.mounts = [{ destination: "/x\0y", type: "tmpfs", source: "tmpfs" }];
    rejects(s, "mounts[0].destination", "NUL");
    const t = base(["mount"]);
    t.linux!.maskedPaths = ["/proc/kcore\0"];
    rejects(t, "linux.maskedPaths", "NUL");
  });
  test("rlimits: known types, once each, whole numbers, soft at most hard", () => {
    const ok = base();
    ok.process!.rlimits = [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 2048 }];
    expect(() => validateSpec(ok)).not.toThrow();
    const cases: Array<[Rlimit[], string]> = [
      [[{ type: "RLIMIT_BOGUS", soft: 1, hard: 1 }], "unknown type"],
      [
        [
          { type: "RLIMIT_NOFILE", soft: 1, hard: 1 },
          { type: "RLIMIT_NOFILE", soft: 2, hard: 2 },
        ],
        "twice",
      ],
      [[{ type: "RLIMIT_NOFILE", soft: -1, hard: 1 }], "whole number"],
      [[{ type: "RLIMIT_NOFILE", soft: 3, hard: 2 }], "above hard"],
    ];
    for (const [rlimits, fragment] of cases) {
      const s = base();
      s.process!.rlimits = rlimits;
      rejects(s, "process.rlimits", fragment);
    }
  });

  test("linux.devices: only plain paths under /dev, known types and kernel-sized numbers, in a /dev tmpfs", () => {
    const withDevices = (devices: unknown[], devTmpfs = true): Spec => {
      const s = base(["mount"]);
      s.root = { path: rootfs };
      s.mounts = devTmpfs ? [{ destination: "/dev", type: "tmpfs", source: "tmpfs" }] : [];
      s.linux!.devices = devices as NonNullable<NonNullable<Spec["linux"]>["devices"]>;
      return s;
    };
    const ok = { path: "/dev/net/tun", type: "c", major: 10, minor: 200, fileMode: 0o600, uid: 0, gid: 0 };
    expect(() => validateSpec(withDevices([ok, { path: "/dev/fifo", type: "p" }]))).not.toThrow();
    rejects(withDevices([ok], false), "linux.devices need a root filesystem with a tmpfs mounted on /dev");
    const cases: Array<[unknown, string]> = [
      [{ ...ok, path: "/etc/shadow" }, "path must be under /dev/"],
      [{ ...ok, path: "/dev/../etc/x" }, "no empty"],
      [{ ...ok, path: "/dev//x" }, "no empty"],
      [{ ...ok, type: "x" }, "must be one of c, b, u, p"],
      [{ ...ok, major: 4096 }, "major 4096"],
      [{ ...ok, minor: -1 }, "minor -1"],
      [{ ...ok, minor: 1.5 }, "minor 1.5"],
      [{ ...ok, fileMode: 0o10000 }, "fileMode"],
      [{ ...ok, uid: "0" }, "uid"],
    ];
    for (const [d, fragment] of cases) rejects(withDevices([d]), "linux.devices", fragment);
    rejects(withDevices([ok, ok]), "listed twice");
  });
  test("linux.sysctl: only settings of the container's own namespaces, by plain names", () => {
    const withSysctl = (ns: NamespaceType[], sysctl: Record<string, unknown>): Spec => {
      const s = base(ns);
      s.linux!.sysctl = sysctl as Record<string, string>;
      return s;
    };
    expect(() =>
      validateSpec(
        withSysctl(["network", "ipc", "uts"], { "net.ipv4.ip_forward": "1", "fs.mqueue.msg_max": "20", "kernel.sem": "1 2 3 4", "kernel.hostname": "h" }),
      ),
    ).not.toThrow();
    rejects(withSysctl(["network"], { "kernel.panic": "1" }), "kernel.panic", "not namespaced");
    rejects(withSysctl([], { "net.core.somaxconn": "1" }), "needs its own network namespace");
    rejects(withSysctl(["uts"], { "kernel.msgmax": "1" }), "needs its own ipc namespace");
    rejects(withSysctl(["network"], { "net/../kernel/panic": "1" }), "not a sysctl name");
    rejects(withSysctl(["network"], { "net.a": 1 }), "must be a string");
  });
});
