// The escape suite: what a process in a default root filesystem container tries
// first, each attempt run twice, once by default (it must be blocked) and once with
// the one protection that blocks it switched off (it must then work), which proves
// the probe would catch the escape. fixtures/probe.c makes the raw system calls.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { mountChanges, mountSnapshot } from "../helpers/mounts.ts";
import { isRoot, MYUTS, requireBinary, runMyuts, startMyuts, uniqueToken, waitFor, type MyutsProcess } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

let fx: TestRootfs;
const running: MyutsProcess[] = [];
const hostProcs: Bun.Subprocess[] = [];

/** The probe's answer in a container made with `flags`: "ok" or an errno name. */
async function probe(flags: string[], what: string): Promise<string> {
  const r = await runMyuts(["run", ...flags, "--rootfs", fx.rootfs, "--", "/bin/probe", what]);
  expect(r.stderr).toBe("");
  return r.stdout.trim();
}

async function inContainer(flags: string[], script: string): Promise<string> {
  const r = await runMyuts(["run", ...flags, "--rootfs", fx.rootfs, "--", "sh", "-c", script]);
  return r.stdout.trim();
}

function hostSleeper(): number {
  const p = Bun.spawn(["sleep", "60"], { stdio: ["ignore", "ignore", "ignore"] });
  hostProcs.push(p);
  return p.pid;
}

describe.skipIf(!isRoot)("escapes from a default container (needs root)", () => {
  beforeAll(() => {
    requireBinary();
    fx = createTestRootfs();
    const built = Bun.spawnSync(["gcc", "-static", "-O2", "-o", join(fx.rootfs, "bin", "probe"), join(import.meta.dir, "fixtures", "probe.c")], {
      stderr: "pipe",
    });
    if (built.exitCode !== 0) throw new Error(`gcc: ${built.stderr.toString()}`);
  });
  afterAll(async () => {
    for (const p of [...running, ...hostProcs]) {
      try {
        p.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    await Promise.all([...running.map((p) => p.result()), ...hostProcs.map((p) => p.exited)]);
    fx?.cleanup();
  });

  test("host processes: not visible, not signalled, not traced (off: --share pid, and --privileged to trace)", async () => {
    const pid = hostSleeper();
    const look = `test -e /proc/${pid} && echo seen; kill -0 ${pid} 2>/dev/null && echo signalled; cat /proc/${pid}/environ >/dev/null 2>&1 && echo traced; echo done`;
    expect(await inContainer([], look)).toBe("done");
    expect(await inContainer(["--share", "pid"], look)).toBe("seen\nsignalled\ndone");
    expect(await inContainer(["--share", "pid", "--privileged"], look)).toBe("seen\nsignalled\ntraced\ndone");
  });

  test("mount: refused (off: --cap-add SYS_ADMIN, which the profile then follows)", async () => {
    const script = "mkdir -p /m && mount -t tmpfs probe /m && echo mounted || echo refused";
    const before = mountSnapshot();
    expect(await inContainer([], script)).toBe("refused");
    expect(await inContainer(["--cap-add", "SYS_ADMIN"], script)).toBe("mounted");
    expect(mountChanges(before)).toEqual({ added: [], removed: [] });
  });

  test("kernel interfaces: masked ones read empty, read-only ones can't be opened for writing (off: --privileged)", async () => {
    // The list, where this kernel has them (a minimal kernel lacks /proc/kcore and
    // /proc/sysrq-trigger). Opening for writing is the test: nothing is ever written.
    const masked = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"].filter((f) => existsSync(f));
    const readOnly = ["/proc/sysrq-trigger", "/proc/sys/vm/drop_caches"].filter((f) => existsSync(f));
    expect(masked.length).toBeGreaterThan(0);
    expect(readOnly.length).toBeGreaterThan(0);
    const script = [
      ...masked.map((f) => `echo ${f} $(head -c 16 ${f} 2>/dev/null | wc -c)`),
      ...readOnly.map((f) => `(: >> ${f}) 2>/dev/null && echo ${f} writable || echo ${f} read-only`),
    ].join("; ");
    const want = (off: boolean) => [...masked.map((f) => `${f} ${off ? 16 : 0}`), ...readOnly.map((f) => `${f} ${off ? "writable" : "read-only"}`)].join("\n");
    expect(await inContainer([], script)).toBe(want(false));
    expect(await inContainer(["--privileged"], script)).toBe(want(true));
  });

  test("/proc/1/root is the container's own root (off: --share pid --privileged reaches a host process's root)", async () => {
    const marker = join("/tmp", `myuts-escape-${uniqueToken()}`);
    writeFileSync(marker, "host secret\n");
    const pid = hostSleeper();
    try {
      const read = (n: number | string) => `cat /proc/${n}/root${marker} 2>/dev/null || echo unreachable`;
      expect(await inContainer([], read(1))).toBe("unreachable");
      expect(await inContainer([], read(pid))).toBe("unreachable");
      expect(await inContainer(["--share", "pid", "--privileged"], read(pid))).toBe("host secret");
    } finally {
      rmSync(marker, { force: true });
    }
  });

  test("a descriptor the runtime inherited never reaches the payload, nor becomes its working directory (CVE-2024-21626)", async () => {
    const dir = fx.scratch("leak");
    writeFileSync(join(dir, "host-file"), "x");
    const fd = openSync(dir, "r");
    try {
      const withFd = (args: string[]) => Bun.spawnSync([MYUTS, "run", "--rootfs", fx.rootfs, ...args], { stdio: ["ignore", "pipe", "pipe", fd] });
      const list = withFd(["--", "sh", "-c", "for f in /proc/self/fd/*; do ls $f/ 2>/dev/null; done; echo done"]);
      expect(list.stdout.toString()).toBe("done\n");
      const cwd = withFd(["-w", "/proc/self/fd/3", "--", "ls"]);
      expect(cwd.exitCode).toBe(125);
      expect(cwd.stdout.toString()).toBe("");
      expect(cwd.stderr.toString()).toContain("workdir /proc/self/fd/3");
      // runc's --preserve-fds passes it on by choice; even then it can't become the working directory.
      const kept = withFd(["--preserve-fds", "1", "--", "sh", "-c", "ls /proc/self/fd/3/"]);
      expect(kept.stdout.toString()).toBe("host-file\n");
      expect(withFd(["--preserve-fds", "1", "-w", "/proc/self/fd/3", "--", "ls"]).exitCode).toBe(125);
      // Off: a runtime that passes its descriptors on (unshare's chroot) hands the host directory over.
      const leaky = Bun.spawnSync(["unshare", "--fork", "--pid", "--mount-proc", `--root=${fx.rootfs}`, "sh", "-c", "ls /proc/self/fd/3/"], {
        stdio: ["ignore", "pipe", "pipe", fd],
      });
      expect(leaky.stdout.toString()).toBe("host-file\n");
    } finally {
      closeSync(fd);
    }
  });

  test("a rootfs symlink can't aim a mount at the host (off: resolved on the host, it points there)", async () => {
    const hostDir = fx.scratch("aimed-at");
    symlinkSync(`/../../../..${hostDir}`, join(fx.rootfs, "aim"));
    try {
      const before = mountSnapshot();
      const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--tmpfs", "/aim/t", "--", "sh", "-c", "echo inside > /aim/t/f && cat /aim/t/f"]);
      expect(r.stdout).toBe("inside\n");
      expect(readdirSync(hostDir)).toEqual([]);
      expect(mountChanges(before)).toEqual({ added: [], removed: [] });
      expect(realpathSync(join(fx.rootfs, "aim"))).toBe(hostDir);
    } finally {
      rmSync(join(fx.rootfs, "aim"), { force: true });
    }
  });

  test("/bin/sh -> /proc/self/exe runs the sealed init copy, never the runtime's binary; its exe can't be written (CVE-2019-5736)", async () => {
    const sum = () => new Bun.CryptoHasher("sha256").update(readFileSync(MYUTS)).digest("hex");
    const before = sum();
    symlinkSync("/proc/self/exe", join(fx.rootfs, "bin", "evil"));
    try {
      const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--", "/bin/evil"]);
      // The init, run with no channel, exits at once.
      expect(r.code).toBe(125);
    } finally {
      rmSync(join(fx.rootfs, "bin", "evil"), { force: true });
    }
    // During exec, the processes the runtime puts into the container are the memfd init:
    // the container looks at every /proc/N/exe it can see and tries to open it for writing.
    const name = `esc${uniqueToken()}`;
    const c = startMyuts([
      "run",
      "--name",
      name,
      "--rootfs",
      fx.rootfs,
      "--",
      "sh",
      "-c",
      'echo ready; while :; do for e in /proc/[0-9]*/exe; do l=$(readlink $e); case $l in *myuts*) echo "seen $l";; esac; (: >> $e) 2>/dev/null && echo "wrote $l"; done; done',
    ]);
    running.push(c);
    await c.waitForStdout("ready");
    for (let i = 0; i < 15; i++) await runMyuts(["exec", name, "--", "sleep", "0.05"]);
    c.kill("SIGKILL");
    const out = (await c.result()).stdout;
    expect(out.split("\n").filter((l) => l.startsWith("wrote"))).toEqual([]);
    for (const l of out.split("\n").filter((x) => x.startsWith("seen"))) expect(l).toMatch(/^seen \/memfd:myuts-init/);
    expect(sum()).toBe(before);
    // Off: a runtime binary in the container's view is reachable (here the runtime itself, with the host's PIDs shared).
    const host = startMyuts(["run", "--share", "pid", "--rootfs", fx.rootfs, "--", "sleep", "30"]);
    running.push(host);
    await waitFor(() => host.pid > 0, 5000, "the runtime");
    expect(await inContainer(["--share", "pid", "--privileged"], `readlink /proc/${host.pid}/exe`)).toBe(MYUTS);
  });

  test("a setuid binary grants nothing under no-new-privileges (off: without it, it does)", async () => {
    const suid = join(fx.rootfs, "bin", "suid-probe");
    copyFileSync(join(fx.rootfs, "bin", "probe"), suid);
    chownSync(suid, 0, 0);
    chmodSync(suid, 0o4755);
    try {
      const euidWith = async (flags: string[]) =>
        (await runMyuts(["run", "--setuid", "1000", ...flags, "--rootfs", fx.rootfs, "--", "/bin/suid-probe", "euid"])).stdout.trim();
      expect(await euidWith(["--security-opt", "no-new-privileges"])).toBe("1000");
      expect(await euidWith([])).toBe("0");
    } finally {
      rmSync(suid, { force: true });
    }
  });

  // Each is refused by the default seccomp profile; with it switched off (or, where
  // the kernel's own capability checks also stand in the way, with --privileged),
  // the call gets past the permission checks.
  const blocked: Array<[string, string[]]> = [
    ["open-by-handle-at", ["--privileged"]],
    ["keyctl-user", ["--security-opt", "seccomp=unconfined"]],
    ["add-key", ["--security-opt", "seccomp=unconfined"]],
    ["bpf", ["--security-opt", "seccomp=unconfined"]],
    ["perf-event-open", ["--security-opt", "seccomp=unconfined"]],
    ["userfaultfd", ["--privileged"]],
    ["kexec-load", ["--security-opt", "seccomp=unconfined"]],
    ["init-module", ["--security-opt", "seccomp=unconfined"]],
    ["unshare-user", ["--security-opt", "seccomp=unconfined"]],
    ["clone-user", ["--security-opt", "seccomp=unconfined"]],
    ["unshare-mount", ["--security-opt", "seccomp=unconfined"]],
  ];
  for (const [what, off] of blocked) {
    test(`seccomp: ${what} is refused with EPERM (off: ${off.join(" ")})`, async () => {
      expect(await probe([], what)).toBe("EPERM");
      expect(await probe(off, what)).not.toBe("EPERM");
    });
  }

  test("each container has its own session keyring, named for it (off: --no-new-keyring keeps the caller's)", async () => {
    const name = `kr${uniqueToken()}`;
    const own = await probe(["--name", name, "--security-opt", "seccomp=unconfined"], "session-keyring");
    expect(own).toMatch(new RegExp(`^keyring;0;0;[0-9a-f]+;_ses\\.${name}\\.[0-9a-f]{8}$`));
    const kept = await probe(["--no-new-keyring", "--security-opt", "seccomp=unconfined"], "session-keyring");
    expect(kept).not.toContain(";_ses.");
  });

  test("limits can't be raised from inside: no cgroup files to write (off: --privileged --cgroupns host mounts the host's)", async () => {
    mkdirSync(join(fx.rootfs, "cg"), { recursive: true });
    const script =
      "mount -t cgroup -o pids probe /cg 2>/dev/null || mount -t cgroup2 probe /cg 2>/dev/null || echo no-mount; " +
      "for f in /cg/pids.max /cg/*/pids.max /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; do test -w $f && echo writable && break; done; echo done";
    expect(await inContainer(["--memory", "64m", "--pids-limit", "20"], script)).toBe("no-mount\ndone");
    const before = mountSnapshot();
    expect(await inContainer(["--privileged", "--cgroupns", "host", "--memory", "64m", "--pids-limit", "20"], script)).toBe("writable\ndone");
    expect(mountChanges(before)).toEqual({ added: [], removed: [] });
  });
});
