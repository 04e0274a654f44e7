// The setup program is plain data: what a container is made of, asserted without
// root or a kernel (the integration tests prove the native init runs it).
import { describe, expect, test } from "bun:test";
import { parseRunArgs } from "../../src/cli/run-flags.ts";
import { compilePrelude, compileRun, type SetupFacts } from "../../src/setup/compile.ts";
import { compileJoin } from "../../src/setup/join.ts";
import { HOOKS_SYNC } from "../../src/setup/protocol.ts";
import { decodeEscaped, encodeEscaped } from "../../ffi/bytes.ts";
import { describeProgram } from "../../src/setup/describe.ts";
import { encodeProgram, MAGIC, STEP_SIZE } from "../../src/setup/encode.ts";
import type { Arg, Program, Step } from "../../src/setup/program.ts";
import { specFromRun } from "../../src/spec/from-run.ts";
import type { ValidSpec } from "../../src/spec/types.ts";
import { DEFAULT_APPARMOR_PROFILE, defaultProfileText } from "../../src/lifecycle/apparmor.ts";

const facts: SetupFacts = { arch: "x64", lastCap: 40, isDirectory: () => true, canonical: (...at: [string, string]) => at[1] };
const user = { uid: 1000, gid: 1000, name: "alice", subuid: () => "", subgid: () => "" };

function specOf(args: string[]): ValidSpec {
  const o = parseRunArgs(args, {}, user);
  const spec = specFromRun(o, { env: {}, cwd: "/", uid: 0, gid: 0, stdinIsTTY: false });
  return { ...spec, process: spec.process!, root: spec.root!, linux: { ...spec.linux, namespaces: spec.linux?.namespaces ?? [] } };
}

const compile = (args: string[], opts = { barrier: false, cgroupnsAfterBarrier: false }) => compileRun(specOf(args), facts, opts);
const calls = (p: Program) => p.steps.filter((s) => s.op === "syscall") as Extract<Step, { op: "syscall" }>[];
const text = (a: Arg | undefined): string | undefined => (a?.kind === "data" ? a.text : undefined);
const index = (p: Program, pred: (s: Step) => boolean) => p.steps.findIndex(pred);
const whatIs = (w: string) => (s: Step) => s.what === w;
const callIs = (c: string) => (s: Step) => s.op === "syscall" && s.call === c;

describe("setup program for run", () => {
  const p = compile(["--all", "--hostname", "box", "--rootfs", "/srv/r", "--read-only", "-w", "/work", "--", "sh", "-c", "true"]);

  test("hostname and lo come before the mount namespace; the mounts in the spec's order", () => {
    const host = index(p, whatIs("--hostname"));
    const lo = index(p, whatIs("network: lo"));
    const priv = index(p, whatIs("make / private"));
    expect(host).toBeGreaterThan(-1);
    expect(lo).toBeGreaterThan(host);
    expect(priv).toBeGreaterThan(lo);
    const mounted = calls(p)
      .filter((s) => s.call === "mount" && s.args[1]?.kind === "fdpath" && s.what.startsWith("mount "))
      .map((s) => s.what.slice(6));
    expect(mounted).toEqual(["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"]);
  });

  test("every mount target is opened inside the root (openat2 RESOLVE_IN_ROOT) and mounted through its descriptor", () => {
    for (const s of calls(p).filter((s) => s.what === "mount /proc")) {
      if (s.call === "openat2") expect(p.slotNames[(s.args[0] as { slot: number }).slot]).toBe("root");
      if (s.call === "mount") expect(s.args[1]?.kind).toBe("fdpath");
    }
    const open = calls(p).find((s) => s.what === "mount /dev/pts" && s.call === "openat2")!;
    // A missing target is created, through descriptors resolved inside the root too.
    const onMissing = open.on.find((c) => c.errno === 2)!;
    expect("goto" in onMissing.react).toBe(true);
    const createdAt = (onMissing.react as { goto: { index: number } }).goto.index;
    expect(p.steps[createdAt]).toMatchObject({ op: "syscall", call: "openat2" });
    const mkdirs = calls(p)
      .filter((s) => s.what === "mount /dev/pts" && s.call === "mkdirat")
      .map((s) => text(s.args[1]));
    expect(mkdirs).toEqual(["dev", "pts"]);
  });

  test("/dev nodes are created with mknodat; in a user namespace the host's are bound instead", () => {
    expect(
      calls(p)
        .filter((s) => s.call === "mknodat")
        .map((s) => text(s.args[1])),
    ).toEqual(["null", "zero", "full", "random", "urandom", "tty"]);
    const rootless = compile(["--user", "--map-root-user", "--pid", "--rootfs", "/srv/r", "--", "true"]);
    expect(calls(rootless).some((s) => s.call === "mknodat")).toBe(false);
    const binds = calls(rootless)
      .filter((s) => s.what === "bind host /dev nodes" && s.call === "mount")
      .map((s) => text(s.args[0]));
    expect(binds).toEqual(["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]);
  });

  test("pivot_root falls back to MS_MOVE + chroot on EINVAL (an initramfs root)", () => {
    const pivot = calls(p).find((s) => s.call === "pivot_root")!;
    const fallback = (pivot.on.find((c) => c.errno === 22)!.react as { goto: { index: number } }).goto.index;
    expect(p.steps[fallback]).toMatchObject({ op: "syscall", call: "mount", what: "chroot fallback" });
    expect(p.steps[fallback + 1]).toMatchObject({ op: "syscall", call: "chroot" });
  });

  test("masked paths: /dev/null on files, a read-only tmpfs on directories (ENOTDIR), skipped when missing", () => {
    const first = calls(p).find((s) => s.what === "mask /proc/kcore" && s.call === "mount")!;
    expect(text(first.args[0])).toBe("/dev/null");
    expect(first.on.map((c) => c.errno).sort()).toEqual([2, 20]);
  });

  test("the working directory is created before the root turns read-only", () => {
    const mkdir = index(p, whatIs("workdir /work"));
    const ro = index(p, whatIs("--read-only /"));
    expect(mkdir).toBeGreaterThan(index(p, callIs("pivot_root")));
    expect(ro).toBeGreaterThan(mkdir);
    expect(p.steps[ro]).toMatchObject({ call: "mount_setattr" });
    // Kernels before 5.12 get a bind remount instead.
    expect(calls(p).find((s) => s.what === "--read-only /" && s.call === "mount")).toBeDefined();
  });

  test("docker's capabilities: the bounding set is cut, then ids, then capset", () => {
    const drops = calls(p).filter(
      (s) => s.what === "capabilities: bounding set" && s.args[1]?.kind === "imm" && s.args[0]?.kind === "imm" && s.args[0].value === 24,
    );
    const kept = new Set(Array.from({ length: 41 }, (_, c) => c));
    for (const d of drops) kept.delete((d.args[1] as { value: number }).value);
    expect([...kept].sort((a, b) => a - b)).toEqual([0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 29, 31]);
    expect(index(p, callIs("setresuid"))).toBeGreaterThan(index(p, whatIs("capabilities: bounding set")));
    expect(index(p, callIs("capset"))).toBeGreaterThan(index(p, callIs("setresuid")));
  });

  test("the payload is looked up along PATH: ENOENT tries the next, EACCES is remembered", () => {
    const execs = calls(p).filter((s) => s.call === "execve");
    expect(execs.map((s) => text(s.args[0]))).toEqual(["/usr/local/sbin/sh", "/usr/local/bin/sh", "/usr/sbin/sh", "/usr/bin/sh", "/sbin/sh", "/bin/sh"]);
    expect(execs[0]!.on.find((c) => c.errno === 13)!.react).toHaveProperty("record");
    const last = p.steps.at(-1)!;
    expect(last).toMatchObject({ op: "fail", errno: 2 });
    expect(last.meanings?.[2]).toEqual({ say: "command not found in PATH", exitCode: 127 });
  });

  test("an explicit path is exec'd once, then probed to tell a missing file from a missing interpreter", () => {
    const q = compile(["--pid", "--", "/opt/app", "x"]);
    const execs = calls(q).filter((s) => s.call === "execve");
    expect(execs.map((s) => text(s.args[0]))).toEqual(["/opt/app"]);
    expect(calls(q).find((s) => s.call === "faccessat")?.meanings?.[2]?.say).toBe("no such file");
  });

  test("a barrier stops before privileges drop; the cgroup namespace comes after it", () => {
    const q = compile(["--cgroup", "--rootfs", "/srv/r", "--", "true"], { barrier: true, cgroupnsAfterBarrier: true });
    const sync = index(q, (s) => s.op === "sync");
    expect(sync).toBeGreaterThan(index(q, callIs("pivot_root")));
    expect(index(q, callIs("unshare"))).toBe(sync + 1);
    expect(index(q, whatIs("capabilities: bounding set"))).toBeGreaterThan(sync);
  });

  test("the host tree: no pivot_root, no /dev, /proc remounted for --pid --mount", () => {
    const q = compile(["--pid", "--mount", "--", "true"]);
    expect(calls(q).some((s) => s.call === "pivot_root" || s.call === "mknodat")).toBe(false);
    expect(
      calls(q)
        .filter((s) => s.call === "mount")
        .map((s) => s.what),
    ).toEqual(["make / private", "mount /proc"]);
  });
});

describe("setup program for exec (join)", () => {
  const p = compileJoin(
    {
      pid: 42,
      namespaces: new Set(["mount", "pid", "user", "network"]),
      process: { user: { uid: 0, gid: 0 }, args: ["id"], env: ["PATH=/bin"], cwd: "/" },
      setgroupsDenied: true,
    },
    facts,
  );
  test("the working directory is opened inside the root without magic links, then fchdir: an inherited descriptor can't name it", () => {
    const steps = calls(p).filter((s) => s.what.startsWith("workdir"));
    expect(steps.map((s) => s.call)).toEqual(["openat", "openat2", "fchdir", "close", "close"]);
    expect(text(steps[1]!.args[1])).toBe("/");
    expect(calls(p).some((s) => s.call === "chdir")).toBe(false);
  });
  test("opens every namespace before the first setns; user first, mount last; forks for the PID namespace", () => {
    const opens = calls(p)
      .filter((s) => s.call === "openat" && s.what.startsWith("exec:"))
      .map((s) => text(s.args[1]));
    expect(opens).toEqual(["/proc/42/ns/user", "/proc/42/ns/net", "/proc/42/ns/pid", "/proc/42/ns/mnt"]);
    const setns = calls(p)
      .filter((s) => s.call === "setns")
      .map((s) => s.what);
    expect(setns).toEqual(["user", "network", "pid", "mount"].map((t) => `exec: join the container's ${t} namespace`));
    expect(index(p, callIs("setns"))).toBeGreaterThan(index(p, (s) => s.op === "syscall" && s.call === "openat" && text(s.args[1]) === "/proc/42/ns/mnt"));
    expect(index(p, (s) => s.op === "fork")).toBeGreaterThan(index(p, whatIs("exec: join the container's mount namespace")));
    // setgroups is denied there: an empty group list is not set.
    expect(calls(p).some((s) => s.call === "setgroups")).toBe(false);
  });
});

describe("the wire format", () => {
  test("header, fixed-size steps, relocations into the data block", () => {
    const p = compile(["--uts", "--hostname", "h", "--", "/bin/echo", "a", "b"]);
    const bytes = encodeProgram(p, { arch: "x64", trace: true });
    const v = new DataView(bytes.buffer);
    expect(v.getUint32(0, true)).toBe(MAGIC);
    expect(v.getUint32(8, true)).toBe(p.steps.length);
    expect(v.getUint32(12, true)).toBe(p.relocs.length);
    expect(v.getUint32(20, true)).toBe(1); // trace flag
    expect(bytes.length).toBe(24 + p.steps.length * STEP_SIZE + p.relocs.length * 4 + p.data.length);
    // sethostname(170 on x86_64) with a data pointer to "h"
    const step = 24 + index(p, whatIs("--hostname")) * STEP_SIZE;
    expect(v.getUint16(step + 2, true)).toBe(170);
    const dataAt = 24 + p.steps.length * STEP_SIZE + p.relocs.length * 4;
    const off = Number(v.getBigUint64(step + 16, true));
    expect(bytes[dataAt + off]).toBe("h".charCodeAt(0));
    expect(bytes[dataAt + off + 1]).toBe(0);
    // argv's pointer table holds data offsets of its strings until the init relocates them
    const argvOff = p.relocs[0]!;
    const first = Number(new DataView(p.data.buffer).getBigUint64(argvOff, true));
    expect(new TextDecoder().decode(p.data.subarray(first, first + 9))).toBe("/bin/echo");
    expect(encodeProgram(p, { arch: "arm64", trace: false })[step + 2]).toBe(161); // arm64's sethostname
  });

  test("--dry-run prints one line per step", () => {
    const p = compile(["--pid", "--mount", "--", "true"]);
    const lines = describeProgram(p).split("\n");
    expect(lines.length).toBe(p.steps.length);
    expect(lines.some((l) => /mount\("proc", \/proc\/self\/fd\/\$target, "proc", NOSUID\|NODEV\|NOEXEC, NULL\)/.test(l))).toBe(true);
  });

  test("bytes that aren't UTF-8 (escaped as lone surrogates) reach the program as they were", () => {
    const raw = decodeEscaped(Uint8Array.of(0x61, 0xff, 0xfe, 0xc3, 0xa9));
    expect(raw).toBe("a\udcff\udcfeé");
    expect([...encodeEscaped(raw)]).toEqual([0x61, 0xff, 0xfe, 0xc3, 0xa9]);
    const p = compileRun(specOf(["--uts", "--hostname", raw, "--", "/bin/echo", raw]), facts, { barrier: false, cgroupnsAfterBarrier: false });
    const table = new DataView(p.data.buffer);
    const second = Number(table.getBigUint64(p.relocs[1]!, true));
    expect([...p.data.subarray(second, second + 6)]).toEqual([0x61, 0xff, 0xfe, 0xc3, 0xa9, 0]);
    const host = calls(p).find((s) => s.call === "sethostname")!;
    expect(host.args[1]).toMatchObject({ kind: "imm", value: 5 });
  });

  test("escaping leaves valid UTF-8, surrogate pairs included, alone", () => {
    for (const s of ["plain", "ünïcödé", "emoji 😀", ""]) {
      expect(decodeEscaped(new TextEncoder().encode(s))).toBe(s);
      expect(new TextDecoder().decode(encodeEscaped(s))).toBe(s);
    }
    // Overlong and surrogate encodings are not UTF-8: each byte is kept as it was.
    for (const bad of [
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
    ]) {
      expect([...encodeEscaped(decodeEscaped(Uint8Array.from(bad)))]).toEqual(bad);
    }
  });
});

describe("encoding any program size", () => {
  test("data blocks of every length encode (the word views need rounding)", () => {
    for (const name of ["a", "ab", "abc", "abcd", "abcde"]) {
      const p = compile(["--uts", "--hostname", name, "--", "/bin/true"]);
      const bytes = encodeProgram(p, { arch: "x64", trace: false });
      expect(bytes.length).toBe(24 + p.steps.length * STEP_SIZE + p.relocs.length * 4 + p.data.length);
    }
  });
});

describe("the prelude and the time namespace", () => {
  test("the init's first program clones with the namespace flags, then loads the setup program", () => {
    const p = compilePrelude(0x20000000 | 0x20000, "CLONE_NEWPID|CLONE_NEWNS");
    expect(p.steps.map((s) => s.op)).toEqual(["fork", "load"]);
    expect(p.steps[0]).toMatchObject({ op: "fork", flags: 0x20020000 });
    const bytes = encodeProgram(p, { arch: "x64", trace: false });
    expect(new DataView(bytes.buffer).getUint32(24 + 16, true)).toBe(0x20020000);
  });

  test("with a cgroup v2 directory: opened before any namespace is joined, and the clone goes into it", () => {
    const p = compilePrelude(0x20000000, "CLONE_NEWPID", [{ type: "mount", path: "/proc/9/ns/mnt" }], "x64", undefined, "/sys/fs/cgroup/myuts-c1");
    const opens = calls(p).filter((s) => s.call === "openat");
    expect(text(opens[0]!.args[1])).toBe("/sys/fs/cgroup/myuts-c1");
    const fork = p.steps.find((s) => s.op === "fork");
    expect(fork).toMatchObject({ op: "fork", flags: 0x20000000, cgroup: opens[0]!.out });
    // The slot travels as slot + 1 in the fork's third argument (0: no cgroup).
    const bytes = encodeProgram(p, { arch: "x64", trace: false });
    const at = 24 + p.steps.indexOf(fork!) * STEP_SIZE;
    expect(Number(new DataView(bytes.buffer).getBigUint64(at + 32, true))).toBe(opens[0]!.out! + 1);
    expect(compilePrelude(0x20000000, "CLONE_NEWPID").steps[0]).not.toHaveProperty("cgroup");
  });

  test("run -d: a session of its own, a monitor forked first (it goes on at its branch), then the clone; the monitor's branch logs", () => {
    const monitor = {
      log: "/s/ctr.log",
      rotated: "/s/ctr.log.1",
      maxBytes: 8192,
      exitFile: "/s/exit",
      exitCommand: { argv: ["/m", "cleanup", "x"], env: ["PATH=/bin"] },
    };
    const p = compilePrelude(0x20000, "CLONE_NEWNS", [{ type: "network", path: "/run/netns/x" }], "x64", monitor);
    const ops = p.steps.map((s) => (s.op === "syscall" ? s.call : s.op));
    expect(ops).toEqual(["setsid", "fork", "openat", "setns", "fork", "load", "dup3", "dup3", "fcntl", "fcntl", "monitor"]);
    const forks = p.steps.filter((s) => s.op === "fork");
    // The monitor forks before the joins: its exit command runs in the host's namespaces.
    expect(forks[0]).toMatchObject({ flags: 0 });
    expect(forks[0]!.op === "fork" && forks[0]!.parent?.index).toBe(6);
    expect(forks[1]!.op === "fork" && forks[1]!.parent).toBeUndefined();
    const bytes = encodeProgram(p, { arch: "x64", trace: false });
    const view = new DataView(bytes.buffer);
    // fork's second word: the monitor's step + 1; the monitor's op is 8.
    expect(view.getUint32(24 + 1 * STEP_SIZE + 24, true)).toBe(7);
    expect(view.getUint16(24 + 10 * STEP_SIZE, true)).toBe(8);
    const text = new TextDecoder().decode(p.data);
    expect(text).toContain("/s/ctr.log\0/s/ctr.log.1\0");
    expect(text).toContain("cleanup");
  });

  test("a new time namespace: unshare, then its offsets written before the payload's exec enters it", () => {
    const p = compileRun(specOf(["--time", "--monotonic", "5", "--", "true"]), facts, {
      barrier: false,
      cgroupnsAfterBarrier: false,
      newTime: true,
      timensOffsets: "monotonic 5 0\n",
    });
    const time = calls(p).filter((s) => s.what.startsWith("time namespace"));
    expect(time.map((s) => s.call)).toEqual(["unshare", "openat", "write", "close"]);
    expect(text(time[1]!.args[1])).toBe("/proc/self/timens_offsets");
    expect(index(p, whatIs("time namespace"))).toBeLessThan(index(p, callIs("execve")));
  });
});

describe("resource limits", () => {
  test("--ulimit becomes prlimit64 steps, set before the user changes", () => {
    const p = compile(["--rootfs", "/srv/r", "--ulimit", "nofile=123:456", "--ulimit", "core=0", "--ulimit", "nproc=unlimited", "--", "true"]);
    const steps = calls(p).filter((s) => s.call === "prlimit64");
    expect(steps.map((s) => s.what)).toEqual(["rlimit RLIMIT_NOFILE", "rlimit RLIMIT_CORE", "rlimit RLIMIT_NPROC"]);
    expect(steps[0]!.args[1]).toMatchObject({ kind: "imm", value: 7 });
    const words = (s: (typeof steps)[number]) => {
      const a = s.args[2] as { offset: number };
      return [...new Uint32Array(p.data.slice(a.offset, a.offset + 16).buffer)];
    };
    expect(words(steps[0]!)).toEqual([123, 0, 456, 0]);
    expect(words(steps[2]!)).toEqual([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]);
    expect(index(p, callIs("prlimit64"))).toBeLessThan(index(p, callIs("setresuid")));
  });
});

describe("joining namespaces by path", () => {
  test("the prelude opens them all, joins the user namespace first, then clones the new ones", () => {
    const p = compilePrelude(0x20000000, "CLONE_NEWPID", [
      { type: "network", path: "/run/netns/a" },
      { type: "user", path: "/proc/9/ns/user" },
    ]);
    expect(calls(p).map((s) => s.call)).toEqual(["openat", "openat", "setns", "setns"]);
    expect(
      calls(p)
        .filter((s) => s.call === "openat")
        .map((s) => text(s.args[1])),
    ).toEqual(["/proc/9/ns/user", "/run/netns/a"]);
    expect(
      calls(p)
        .filter((s) => s.call === "setns")
        .map((s) => s.what),
    ).toEqual(["join the user namespace /proc/9/ns/user", "join the network namespace /run/netns/a"]);
    expect(p.steps.slice(-2).map((s) => s.op)).toEqual(["fork", "load"]);
  });

  test("--network ns:PATH joins instead of creating, and brings no lo up", () => {
    const spec = specOf(["--uts", "--network", "ns:/run/netns/x", "--", "true"]);
    expect(spec.linux.namespaces).toEqual([{ type: "network", path: "/run/netns/x" }, { type: "uts" }]);
    const p = compileRun(spec, facts, { barrier: false, cgroupnsAfterBarrier: false });
    expect(calls(p).some((s) => s.what === "network: lo")).toBe(false);
  });
});

describe("a created container (create, then start)", () => {
  test("no parent-death signal; it blocks SIGCONT, reports at its last sync step and waits there before the exec", () => {
    const p = compileRun(specOf(["--pid", "--rootfs", "/srv/r", "--", "true"]), facts, { barrier: false, cgroupnsAfterBarrier: false, detached: true });
    expect(calls(p).some((s) => s.what === "parent-death signal")).toBe(false);
    const block = index(p, (s) => s.op === "syscall" && s.call === "rt_sigprocmask" && s.what === "created: wait for start");
    const sync = index(p, (s) => s.op === "sync");
    const wait = index(p, callIs("rt_sigtimedwait"));
    expect(block).toBeGreaterThan(index(p, callIs("setresuid")));
    expect([block < sync, sync < wait, wait < index(p, callIs("execve"))]).toEqual([true, true, true]);
    expect(p.steps.filter((s) => s.op === "sync")).toHaveLength(1);
  });

  test("linux.devices: parents opened inside the root, then mknodat and fchownat with the spec's numbers and owner", () => {
    const spec = specOf(["--rootfs", "/srv/r", "--", "true"]);
    spec.linux.devices = [{ path: "/dev/net/tun", type: "c", major: 10, minor: 200, fileMode: 0o640, uid: 7, gid: 8 }];
    const p = compileRun(spec, facts, { barrier: false, cgroupnsAfterBarrier: false });
    const steps = calls(p).filter((s) => s.what === "device /dev/net/tun");
    expect(steps.map((s) => s.call)).toEqual(["openat2", "mkdirat", "close", "openat2", "mknodat", "fchownat", "close"]);
    const mknod = steps[4]!;
    expect(text(mknod.args[1])).toBe("tun");
    expect(mknod.args[2]).toMatchObject({ kind: "imm", value: 0o020000 | 0o640 });
    expect(mknod.args[3]).toMatchObject({ kind: "imm", value: (10 << 8) | 200 });
    expect(steps[5]!.args.slice(2, 4)).toMatchObject([{ value: 7 }, { value: 8 }]);
    // a user namespace binds the host's node instead of mknod
    const userns = specOf(["--rootfs", "/srv/r", "--map-root-user", "--", "true"]);
    userns.linux.devices = spec.linux.devices;
    const q = compileRun(userns, facts, { barrier: false, cgroupnsAfterBarrier: false });
    const bound = calls(q).filter((s) => s.what === "device /dev/net/tun");
    expect(bound.map((s) => s.call)).toContain("mount");
    expect(bound.map((s) => s.call)).not.toContain("mknodat");
  });
  test("sysctl: open, write, close under /proc/sys, before the mounts make it read-only", () => {
    const p = compile(["--net", "--rootfs", "/srv/r", "--sysctl", "net.ipv4.ip_forward=1", "--", "true"]);
    const steps = calls(p).filter((s) => s.what === "sysctl net.ipv4.ip_forward");
    expect(steps.map((s) => s.call)).toEqual(["openat", "write", "close"]);
    expect(text(steps[0]!.args[1])).toBe("/proc/sys/net/ipv4/ip_forward");
    expect(steps[1]!.args[2]).toMatchObject({ kind: "imm", value: 1 });
    expect(index(p, whatIs("sysctl net.ipv4.ip_forward"))).toBeLessThan(index(p, whatIs("make / private")));
  });
  test("process.terminal: the pty slave opened before pivot_root, then setsid, TIOCSCTTY and dup3 onto 0, 1, 2 after the barrier", () => {
    const spec = specOf(["--rootfs", "/srv/r", "--", "true"]);
    const p = compileRun(spec, facts, { barrier: true, cgroupnsAfterBarrier: false, terminal: "/dev/pts/7" });
    const open = index(p, whatIs("terminal /dev/pts/7"));
    expect(open).toBeGreaterThan(-1);
    expect(open).toBeLessThan(index(p, callIs("pivot_root")));
    const steps = calls(p).filter((s) => s.what === "terminal");
    expect(steps.map((s) => s.call)).toEqual(["setsid", "ioctl", "dup3", "dup3", "dup3", "close"]);
    expect(index(p, callIs("setsid"))).toBeGreaterThan(index(p, (s) => s.op === "sync"));
    // the same terminal is /dev/console
    expect(calls(p).some((s) => s.what === "bind /dev/pts/7 on /dev/console")).toBe(true);
  });
  test("exec into a cgroup v2 container: the fork goes into its cgroup, and its cgroup namespace is joined only after", () => {
    const p = compileJoin(
      {
        pid: 42,
        namespaces: new Set(["mount", "pid", "cgroup"]),
        process: specOf(["true"]).process,
        setgroupsDenied: false,
        barrier: true,
        cgroupDir: "/sys/fs/cgroup/myuts-c1",
      },
      facts,
    );
    const open = calls(p).find((s) => s.call === "openat" && text(s.args[1]) === "/sys/fs/cgroup/myuts-c1");
    expect(index(p, (s) => s === open)).toBeLessThan(index(p, callIs("setns")));
    const fork = index(p, (s) => s.op === "fork");
    expect(p.steps[fork]).toMatchObject({ cgroup: open!.out });
    expect(index(p, whatIs("exec: join the container's cgroup namespace"))).toBeGreaterThan(fork);
    expect(index(p, whatIs("exec: join the container's mount namespace"))).toBeLessThan(fork);
  });
  test("exec with a terminal: the slave opened before setns, taken after the fork", () => {
    const p = compileJoin(
      { pid: 42, namespaces: new Set(["mount", "pid"]), process: specOf(["true"]).process, setgroupsDenied: false, terminal: "/dev/pts/3" },
      facts,
    );
    expect(index(p, whatIs("terminal /dev/pts/3"))).toBeLessThan(index(p, callIs("setns")));
    expect(index(p, callIs("setsid"))).toBeGreaterThan(index(p, (s) => s.op === "fork"));
  });
  test("startContainer hooks: after pivot_root and the wait for start, before the exec, with the state", () => {
    const spec = specOf(["--rootfs", "/srv/r", "--", "true"]);
    spec.hooks = { startContainer: [{ path: "/bin/hook", args: ["hook", "x"], timeout: 2 }] };
    const p = compileRun(spec, facts, { barrier: false, cgroupnsAfterBarrier: false, detached: true, hookState: '{"id":"c1"}' });
    const at = index(p, (s) => s.op === "hook");
    expect(at).toBeGreaterThan(index(p, callIs("pivot_root")));
    expect(at).toBeGreaterThan(index(p, whatIs("created: wait for start")));
    expect(at).toBeLessThan(index(p, callIs("execve")));
    const hook = p.steps[at]!;
    expect(hook.what).toBe("startContainer hook /bin/hook");
    expect(hook.op === "hook" && hook.args[5]).toMatchObject({ kind: "imm", value: 2000 });
    expect(new TextDecoder().decode(p.data)).toContain('{"id":"c1"}');
  });

  test("create hooks: a sync step after the mounts, before pivot_root", () => {
    const p = compileRun(specOf(["--rootfs", "/srv/r", "--", "true"]), facts, { barrier: false, cgroupnsAfterBarrier: false, hooks: true });
    const sync = index(p, (s) => s.op === "sync" && s.what === HOOKS_SYNC);
    expect(sync).toBeGreaterThan(index(p, whatIs("mount /proc")));
    expect(sync).toBeLessThan(index(p, callIs("pivot_root")));
  });
  test("--no-pivot jumps past pivot_root to the MS_MOVE and chroot", () => {
    const p = compileRun(specOf(["--rootfs", "/srv/r", "--", "true"]), facts, { barrier: false, cgroupnsAfterBarrier: false, noPivot: true });
    const pivot = index(p, callIs("pivot_root"));
    expect(p.steps[pivot - 1]?.op).toBe("goto");
    expect(index(p, callIs("chroot"))).toBeGreaterThan(pivot);
  });
});

describe("--init", () => {
  test("the init becomes a child subreaper and stays PID 1 just before the payload's exec; without it, no such step", () => {
    const p = compileRun(specOf(["--pid", "--", "/bin/true"]), facts, { barrier: false, cgroupnsAfterBarrier: false, init: true });
    const at = p.steps.findIndex((s) => s.op === "pid1");
    expect(at).toBeGreaterThan(0);
    const before = p.steps[at - 1] as Extract<Step, { op: "syscall" }>;
    expect([before.call, before.args[0]]).toEqual(["prctl", expect.objectContaining({ value: 36 })]);
    expect(p.steps.slice(at + 1).find((s) => s.op === "syscall")).toMatchObject({ call: "execve" });
    expect(compile(["--pid", "--", "/bin/true"]).steps.some((s) => s.op === "pid1")).toBe(false);
  });
});

describe("AppArmor and SELinux", () => {
  const withProfile = (args: string[], profile: string): ValidSpec => {
    const s = specOf(args);
    return { ...s, process: { ...s.process, apparmorProfile: profile } };
  };
  const writes = (p: Program) => calls(p).filter((s) => s.call === "write" && s.what.startsWith("AppArmor"));

  test("the profile is asked for at the exec, after the hooks, before a late seccomp filter and the execve", () => {
    const p = compileRun(withProfile(["--rootfs", "/r", "--security-opt", "no-new-privileges", "--", "/bin/true"], "myuts-default-1"), facts, {
      barrier: false,
      cgroupnsAfterBarrier: false,
    });
    const opens = calls(p).filter((s) => s.call === "openat" && s.what.startsWith("AppArmor"));
    expect(opens.map((s) => text(s.args[1]))).toEqual(["/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec"]);
    expect(writes(p).map((s) => s.args[1]?.kind === "data" && s.args[1].label)).toEqual([JSON.stringify("exec myuts-default-1")]);
    const write = index(p, (s) => s.op === "syscall" && s.call === "write" && s.what.startsWith("AppArmor"));
    expect(write).toBeGreaterThan(index(p, whatIs("signal mask")));
    expect(write).toBeLessThan(index(p, whatIs("seccomp filter")));
    expect(write).toBeLessThan(index(p, callIs("execve")));
  });

  test("--init switches the init itself (it stays PID 1 and never execs); no profile, no steps", () => {
    const init = compileRun(withProfile(["--pid", "--", "/bin/true"], "p"), facts, { barrier: false, cgroupnsAfterBarrier: false, init: true });
    expect(
      calls(init)
        .filter((s) => s.call === "openat" && s.what.startsWith("AppArmor"))
        .map((s) => text(s.args[1])),
    ).toEqual(["/proc/thread-self/attr/apparmor/current", "/proc/thread-self/attr/current"]);
    expect(writes(init).map((s) => s.args[1]?.kind === "data" && s.args[1].label)).toEqual([JSON.stringify("changeprofile p")]);
    expect(index(init, (s) => s.op === "pid1")).toBeGreaterThan(index(init, (s) => s.op === "syscall" && s.call === "write"));
    expect(writes(compile(["--rootfs", "/r", "--", "/bin/true"]))).toEqual([]);
  });

  test("exec gives its process the profile it was handed", () => {
    const p = compileJoin(
      { pid: 42, namespaces: new Set(["mount"]), process: { ...specOf(["--", "/bin/true"]).process, apparmorProfile: "c" }, setgroupsDenied: false },
      facts,
    );
    expect(writes(p).map((s) => s.args[1]?.kind === "data" && s.args[1].label)).toEqual([JSON.stringify("exec c")]);
  });

  test("SELinux: the process label at the exec (attr/exec); the mount label on tmpfs and devpts, not on proc, sysfs or mqueue", () => {
    const s = specOf(["--rootfs", "/r", "--ipc", "--", "/bin/true"]);
    const labeled: ValidSpec = {
      ...s,
      process: { ...s.process, selinuxLabel: "u:r:container_t:s0" },
      linux: { ...s.linux, mountLabel: "u:object_r:container_file_t:s0" },
    };
    const p = compileRun(labeled, facts, { barrier: false, cgroupnsAfterBarrier: false });
    const w = calls(p).filter((c) => c.call === "write" && c.what.startsWith("SELinux"));
    expect(w.map((c) => c.args[1]?.kind === "data" && c.args[1].label)).toEqual([JSON.stringify("u:r:container_t:s0")]);
    const open = calls(p).find((c) => c.call === "openat" && c.what.startsWith("SELinux"));
    expect(text(open?.args[1])).toBe("/proc/thread-self/attr/exec");
    expect(index(p, (x) => x === w[0])).toBeLessThan(index(p, callIs("execve")));
    const dataOf = (dest: string) => text(calls(p).find((c) => c.call === "mount" && c.what === `mount ${dest}`)?.args[4]);
    for (const dest of ["/dev", "/dev/pts", "/dev/shm"]) expect(dataOf(dest)).toContain('context="u:object_r:container_file_t:s0"');
    for (const dest of ["/proc", "/sys", "/dev/mqueue"]) expect(dataOf(dest) ?? "").not.toContain("context=");
    expect(calls(compile(["--rootfs", "/r", "--", "/bin/true"])).some((c) => (text(c.args[4]) ?? "").includes("context="))).toBe(false);
  });

  test("the default profile's text belongs to its revision: a changed text needs a new name", () => {
    const text = defaultProfileText("NAME");
    expect(text).toContain("profile NAME flags=(attach_disconnected,mediate_deleted)");
    expect(text).toContain("deny mount,");
    // Bump DEFAULT_APPARMOR_PROFILE's revision, then this hash: hosts keep a loaded profile until reboot.
    expect([DEFAULT_APPARMOR_PROFILE, Bun.hash(text).toString(16)]).toEqual(["myuts-default-1", "244b30b2e836a9bb"]);
  });
});

describe("idmapped mounts", () => {
  test("the prelude clones, idmaps and parks each mount before the clone; the container moves it onto its target", () => {
    const mounts = [{ destination: "/data", source: "/srv/data", recursiveBind: true, recursiveMap: false, mappingPid: 4242, fd: 512 }];
    const prelude = compilePrelude(0x20000, "CLONE_NEWNS", [], "x64", undefined, undefined, mounts);
    const cs = calls(prelude);
    expect(cs.map((c) => c.call)).toEqual(["openat", "dup3", "open_tree", "mount_setattr", "dup3", "close", "close", "close"]);
    expect(text(cs[0]?.args[1])).toBe("/proc/4242/ns/user");
    expect(text(cs[2]?.args[1])).toBe("/srv/data");
    expect(cs[4]?.args[1]).toMatchObject({ value: 512 });
    expect(index(prelude, (s) => s.op === "fork")).toBeGreaterThan(index(prelude, callIs("mount_setattr")));
    const s = specOf(["--rootfs", "/r", "-v", "/srv/data:/data", "--", "/bin/true"]);
    const at = (s.mounts ?? []).findIndex((m) => m.destination === "/data");
    const p = compileRun(s, facts, { barrier: false, cgroupnsAfterBarrier: false, idmapped: new Map([[at, 512]]) });
    const move = calls(p).find((c) => c.call === "move_mount");
    expect(move?.what).toBe("mount /data");
    expect(move?.args[0]).toMatchObject({ value: 512 });
    // no plain bind of the source for it (a propagation change after the move is fine)
    expect(calls(p).some((c) => c.call === "mount" && text(c.args[0]) === "/srv/data")).toBe(false);
  });
});
