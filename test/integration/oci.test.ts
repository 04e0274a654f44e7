// runc's lifecycle commands on real containers: create leaves the container's first
// process waiting in the native init (no myuts process stays), start releases it,
// state follows the kernel, kill and delete end it. Each test uses a private --root.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseEnv, cmdlineOf, isRoot, MYUTS, processesWith, requireBinary, uniqueToken, waitFor } from "../helpers/myuts.ts";
import { cgroupDirs } from "../helpers/cgroups.ts";
import { createTestRootfs, removeTree, type TestRootfs } from "../helpers/rootfs.ts";

let fx: TestRootfs;
let root: string;
let out: string;
const made: string[] = [];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A myuts command, not in a session of its own: a created container must outlive it.
 * Its output goes through files: a created container keeps create's stdio open (as with
 * runc, whose callers hand it their own), so pipes would not close while it waits.
 */
function myuts(...args: string[]): Result {
  const o = join(fx.base, `.out-${process.pid}`);
  const e = join(fx.base, `.err-${process.pid}`);
  const r = Bun.spawnSync([MYUTS, "--root", root, ...args], { env: baseEnv(), stdout: Bun.file(o), stderr: Bun.file(e), timeout: 20_000 });
  const res = { code: r.exitCode ?? -1, stdout: readFileSync(o, "utf8"), stderr: readFileSync(e, "utf8") };
  rmSync(o, { force: true });
  rmSync(e, { force: true });
  return res;
}

/** A bundle whose process runs `script` in the test rootfs, with `out` bound on /out. */
function bundle(script: string): string {
  const dir = mkdtempSync(join(fx.base, "bundle-"));
  const r = Bun.spawnSync([MYUTS, "spec", "--all", "--rootfs", fx.rootfs, "-v", `${out}:/out`, "--", "sh", "-c", script], { env: baseEnv(), stdout: "pipe" });
  writeFileSync(join(dir, "config.json"), r.stdout);
  return dir;
}

function state(id: string): { status: string; pid: number } {
  const r = myuts("state", id);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

const newId = () => {
  const id = `oci${uniqueToken()}`;
  made.push(id);
  return id;
};

describe.skipIf(!isRoot)("OCI lifecycle: create, start, state, kill, delete (needs root)", () => {
  beforeAll(() => {
    requireBinary();
    fx = createTestRootfs();
    root = mkdtempSync(join(tmpdir(), "myuts-oci-root-"));
    out = fx.scratch("out");
  });
  afterEach(() => {
    for (const id of made.splice(0)) myuts("delete", "--force", id);
  });
  afterAll(() => {
    fx?.cleanup();
    if (root) removeTree(root);
  });

  test("startContainer hooks run in the container at start, before the payload, with the state on stdin; a failing one stops it", async () => {
    const id = newId();
    const dir = bundle("echo payload > /out/payload-$(cat /out/order 2>/dev/null | wc -l)");
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    const script = "cat > /out/hook-state.json; hostname > /out/hook-host; echo hook >> /out/order";
    config.hostname = "inside-hook";
    config.hooks = { startContainer: [{ path: "/bin/sh", args: ["sh", "-c", script], timeout: 5 }] };
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    expect(myuts("create", "-b", dir, id).code).toBe(0);
    // Not at create: at start.
    expect(existsSync(join(out, "hook-host"))).toBe(false);
    const pid = state(id).pid;
    expect(myuts("start", id).code).toBe(0);
    await waitFor(() => existsSync(join(out, "payload-1")), 5000, "the payload after the hook");
    expect(readFileSync(join(out, "hook-host"), "utf8")).toBe("inside-hook\n");
    expect(JSON.parse(readFileSync(join(out, "hook-state.json"), "utf8"))).toMatchObject({ id, pid, status: "created", bundle: dir });
    for (const f of ["hook-state.json", "hook-host", "order", "payload-1"]) rmSync(join(out, f), { force: true });

    config.hooks.startContainer = [{ path: "/bin/sh", args: ["sh", "-c", "exit 3"] }];
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    const failed = myuts("run", "-b", dir, newId());
    expect([failed.code, failed.stderr]).toEqual([125, "myuts: startContainer hook /bin/sh: exit code 3; a startContainer hook must exit 0\n"]);
    expect(existsSync(join(out, "payload-0"))).toBe(false);
    config.hooks.startContainer = [{ path: "/bin/sleep", args: ["sleep", "10"], timeout: 1 }];
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    const slow = myuts("run", "-b", dir, newId());
    expect(slow.stderr).toBe("myuts: startContainer hook /bin/sleep: timed out after 1 s (killed): ETIMEDOUT (Connection timed out)\n");
  });

  test("podman's stop, inspect and rm work on an OCI container too (by id, under --root)", () => {
    const id = newId();
    expect(myuts("create", "-b", bundle('trap "exit 0" TERM; while :; do sleep 0.1; done'), id).code).toBe(0);
    expect(myuts("start", id).code).toBe(0);
    const before = JSON.parse(myuts("inspect", id).stdout)[0];
    expect(before).toMatchObject({ Name: id, Oci: true, State: { Status: "running" } });
    const stop = myuts("stop", "-t", "5", id);
    expect([stop.code, stop.stdout, stop.stderr]).toEqual([0, `${id}\n`, ""]);
    expect(state(id).status).toBe("stopped");
    expect(myuts("rm", id).code).toBe(0);
    expect(myuts("state", id).stderr).toBe(`myuts: container ${id}: does not exist\n`);
  });

  test("linux.personality: LINUX32 gives a 32-bit uname; an unknown domain or any flag is refused in one line", () => {
    const dir = bundle("uname -m");
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    config.linux.personality = { domain: "LINUX32" };
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    const r = myuts("run", "-b", dir, newId());
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(process.arch === "arm64" ? "armv8l" : "i686");
    config.linux.personality = { domain: "BSD" };
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    expect(myuts("run", "-b", dir, newId()).stderr).toBe('myuts: spec: linux.personality.domain "BSD": expected LINUX or LINUX32\n');
    config.linux.personality = { domain: "LINUX", flags: ["ADDR_NO_RANDOMIZE"] };
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    expect(myuts("run", "-b", dir, newId()).stderr).toBe("myuts: spec: linux.personality.flags: not supported yet\n");
  });

  test("idmapped mounts: a mount's own mappings, and idmap with the container's user namespace; no holder stays", () => {
    const src = fx.scratch("idmap-src");
    writeFileSync(join(src, "f"), "x");
    writeFileSync(join(src, "g"), "y");
    chownSync(join(src, "g"), 7, 7);
    interface Config {
      mounts: Array<Record<string, unknown>>;
      linux: { namespaces: Array<{ type: string }>; uidMappings?: unknown; gidMappings?: unknown };
    }
    const write = (dir: string, edit: (c: Config) => void) => {
      const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      edit(config);
      writeFileSync(join(dir, "config.json"), JSON.stringify(config));
      return dir;
    };
    const one = (hostID: number) => [{ containerID: 0, hostID, size: 1 }];
    // On disk 0 is seen as 1234:5678; 7 is outside the mapping; root (0, unmapped on that side) can't create a file there.
    const own = write(bundle('stat -c "%u:%g" /data/f /data/g; touch /data/new 2>&1 | grep -c "too large"'), (c) =>
      c.mounts.push({ destination: "/data", type: "bind", source: src, options: ["rbind"], uidMappings: one(1234), gidMappings: one(5678) }),
    );
    const r = myuts("run", "-b", own, newId());
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("1234:5678\n65534:65534\n1\n");
    // In a user namespace (0 inside is 100000 outside), `idmap` shows the host's owners as they are.
    const userns = write(bundle('stat -c "%u:%g" /data/f /data/g /bin/busybox'), (c) => {
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.mounts = c.mounts.filter((m) => m.destination !== "/out");
      c.mounts.push({ destination: "/data", type: "bind", source: src, options: ["rbind", "idmap"] });
    });
    // uid 100000 must reach the root filesystem through the fixture's private folder
    const mode = statSync(fx.base).mode & 0o7777;
    chmodSync(fx.base, 0o755);
    let u: Result;
    try {
      u = myuts("run", "-b", userns, newId());
    } finally {
      chmodSync(fx.base, mode);
    }
    expect(u.stderr).toBe("");
    expect(u.stdout).toBe("0:0\n7:7\n65534:65534\n");
    const myUserns = readlinkSync("/proc/self/ns/user");
    const holders = processesWith("myuts-init").filter((p) => {
      try {
        return readlinkSync(`/proc/${p.pid}/ns/user`) !== myUserns;
      } catch {
        return false;
      }
    });
    expect(holders).toEqual([]);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(src);
  });

  // A host with AppArmor runs these in the VM (test/vm/apparmor-checks.sh).
  test.skipIf(existsSync("/sys/kernel/security/apparmor"))(
    "process.apparmorProfile and selinuxLabel on a host without the LSM: refused in one line that names the field, as is exec --apparmor",
    () => {
      const dir = bundle("true");
      const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      config.process.apparmorProfile = "containers-default-0.50.1";
      writeFileSync(join(dir, "config.json"), JSON.stringify(config));
      const id = newId();
      const r = myuts("create", "-b", dir, id);
      expect(r.code).toBe(125);
      expect(r.stderr).toBe(
        'myuts: spec: process.apparmorProfile "containers-default-0.50.1": this host has no AppArmor (/sys/kernel/security/apparmor is absent), so there is no profile to apply\n',
      );
      expect(myuts("state", id).code).not.toBe(0);
      config.process.apparmorProfile = "";
      config.process.selinuxLabel = "system_u:system_r:container_t:s0:c1,c2";
      writeFileSync(join(dir, "config.json"), JSON.stringify(config));
      if (!existsSync("/sys/fs/selinux/enforce"))
        expect(myuts("run", "-b", dir, newId()).stderr).toBe(
          'myuts: spec: process.selinuxLabel "system_u:system_r:container_t:s0:c1,c2": this host has no SELinux (no policy at /sys/fs/selinux), so there is no label to apply\n',
        );
      const e = myuts("exec", "--apparmor", "p", "nosuch", "true");
      expect(e.stderr).toBe(
        "myuts: exec: --apparmor p: this host has no AppArmor (/sys/kernel/security/apparmor is absent), so there is no profile to apply\n",
      );
    },
  );

  test("create leaves the container waiting in the native init, with no myuts process; start runs it", async () => {
    const id = newId();
    const marker = join(out, `${id}.started`);
    const b = bundle(`echo started > /out/${id}.started; exec sleep 30`);
    const pidFile = join(b, "pid");
    const c = myuts("create", "-b", b, "--pid-file", pidFile, id);
    expect(c.stderr).toBe("");
    expect(c.code).toBe(0);
    expect(readFileSync(pidFile, "utf8")).toMatch(/^\d+$/); // runc's form: no newline
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(state(id)).toMatchObject({ status: "created", pid });
    // What waits is the small init from its memfd, in a few dozen KiB; nothing of myuts runs.
    expect(readlinkSync(`/proc/${pid}/exe`)).toBe("/memfd:myuts-init (deleted)");
    expect(Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1])).toBeLessThan(1024);
    const myutsProcesses = readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .map((d) => cmdlineOf(Number(d)))
      .filter((c) => c.startsWith(MYUTS) && c.includes(id));
    expect(myutsProcesses).toEqual([]);
    expect(existsSync(marker)).toBe(false); // the payload hasn't run

    expect(myuts("start", id).code).toBe(0);
    await waitFor(() => existsSync(marker), 5000, "the payload to run");
    expect(state(id)).toMatchObject({ status: "running", pid });
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toBe("sleep\u000030\u0000");

    expect(myuts("kill", id, "KILL").code).toBe(0);
    await waitFor(() => state(id).status === "stopped", 5000, "the container to stop");
    expect(state(id).pid).toBe(0);
    expect(myuts("delete", id).code).toBe(0);
    expect(existsSync(join(root, id))).toBe(false);
    const gone = myuts("state", id);
    expect(gone.code).toBe(125);
    expect(gone.stderr).toBe(`myuts: container ${id}: does not exist\n`);
  });

  test("lifecycle errors are one line, exit 125; delete --force ends a container that never started", () => {
    const id = newId();
    const b = bundle(`echo ran > /out/${id}.ran; exec sleep 30`);
    expect(myuts("create", "-b", b, id).code).toBe(0);
    const again = myuts("create", "-b", b, id);
    expect([again.code, again.stderr]).toEqual([125, `myuts: container ${id}: already exists\n`]);
    const busy = myuts("delete", id);
    expect(busy.code).toBe(125);
    expect(busy.stderr).toContain("cannot delete a container that is created");
    const badSignal = myuts("kill", id, "NOPE");
    expect([badSignal.code, badSignal.stderr]).toEqual([125, "myuts: kill: NOPE: not a signal name or number\n"]);
    const pid = state(id).pid;
    expect(myuts("delete", "--force", id).code).toBe(0);
    expect(existsSync(`/proc/${pid}/status`) && !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, "utf8"))).toBe(false);
    expect(existsSync(join(out, `${id}.ran`))).toBe(false);
    const startGone = myuts("start", id);
    expect([startGone.code, startGone.stderr]).toEqual([125, `myuts: container ${id}: does not exist\n`]);
    // as runc: a forced delete of what is already gone succeeds (engines clean up twice); a plain one says so
    expect(myuts("delete", "--force", id)).toMatchObject({ code: 0, stderr: "" });
    expect(myuts("delete", id)).toMatchObject({ code: 125, stderr: `myuts: container ${id}: does not exist\n` });
    const noBundle = myuts("create", "-b", join(fx.base, "no-such-bundle"), newId());
    expect(noBundle.code).toBe(125);
    expect(noBundle.stderr).toMatch(/^myuts: bundle .*no-such-bundle\/config\.json: open: ENOENT/);
  });

  test("start twice: the second is refused; kill takes names with and without SIG", async () => {
    const id = newId();
    expect(myuts("create", "-b", bundle("trap 'exit 3' TERM; while :; do sleep 0.1; done"), id).code).toBe(0);
    expect(myuts("start", id).code).toBe(0);
    const twice = myuts("start", id);
    expect(twice.stderr).toBe(`myuts: container ${id}: cannot start a container that is running\n`);
    expect(myuts("kill", id, "SIGTERM").code).toBe(0);
    await waitFor(() => state(id).status === "stopped", 5000, "the container to stop on SIGTERM");
  });

  test("list and ps: the containers under the root, and a container's processes", async () => {
    const id = newId();
    expect(myuts("create", "-b", bundle("sleep 30 & exec sleep 31"), id).code).toBe(0);
    const listed = JSON.parse(myuts("list", "--format", "json").stdout) as Array<{ id: string; status: string; pid: number }>;
    expect(listed.find((c) => c.id === id)).toMatchObject({ status: "created" });
    expect(myuts("list", "-q").stdout.split("\n")).toContain(id);
    expect(myuts("start", id).code).toBe(0);
    const pid = state(id).pid;
    await waitFor(() => (JSON.parse(myuts("ps", "--format", "json", id).stdout) as number[]).length === 2, 5000, "both sleeps");
    const pids = JSON.parse(myuts("ps", "--format", "json", id).stdout) as number[];
    expect(pids).toContain(pid);
    expect(pids.map((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0")[0])).toEqual(["sleep", "sleep"]);
    const table = myuts("list").stdout.split("\n");
    expect(table[0]).toMatch(/^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED$/);
    expect(table.some((l) => l.startsWith(`${id} `) && l.includes(" running "))).toBe(true);
  });

  test("a created container with limits: in its cgroup before it starts; delete removes the cgroup", async () => {
    const id = newId();
    const dir = mkdtempSync(join(fx.base, "bundle-"));
    const spec = Bun.spawnSync([MYUTS, "spec", "--pid", "--rootfs", fx.rootfs, "--memory", "64m", "--pids-limit", "20", "--", "sleep", "30"], {
      env: baseEnv(),
      stdout: "pipe",
    });
    writeFileSync(join(dir, "config.json"), spec.stdout);
    const c = myuts("create", "-b", dir, id);
    expect(c.stderr).toBe("");
    expect(c.code).toBe(0);
    const pid = state(id).pid;
    const cgroups = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    expect(cgroups).toContain(`myuts-${id}`);
    expect(cgroupDirs(`myuts-${id}`).length).toBeGreaterThan(0);
    expect(myuts("start", id).code).toBe(0);
    expect(myuts("delete", "--force", id).code).toBe(0);
    expect(cgroupDirs(`myuts-${id}`)).toEqual([]);
  });

  test("pause freezes the container's cgroup and state says paused; resume thaws it; delete --force ends a paused one", async () => {
    const id = newId();
    const ticks = join(out, `${id}.ticks`);
    const dir = mkdtempSync(join(fx.base, "bundle-"));
    const script = `while :; do echo . >> /out/${id}.ticks; sleep 0.05; done`;
    const spec = Bun.spawnSync([MYUTS, "spec", "--pid", "--rootfs", fx.rootfs, "-v", `${out}:/out`, "--memory", "64m", "--", "sh", "-c", script], {
      env: baseEnv(),
      stdout: "pipe",
    });
    writeFileSync(join(dir, "config.json"), spec.stdout);
    expect(myuts("create", "-b", dir, id).code).toBe(0);
    const early = myuts("pause", id);
    expect([early.code, early.stderr]).toEqual([125, `myuts: container ${id}: cannot pause a container that is created\n`]);
    expect(myuts("start", id).code).toBe(0);
    await waitFor(() => existsSync(ticks), 5000, "the first tick");
    const paused = myuts("pause", id);
    expect(paused.stderr).toBe("");
    expect(paused.code).toBe(0);
    expect(state(id).status).toBe("paused");
    const size = readFileSync(ticks, "utf8").length;
    await Bun.sleep(300);
    expect(readFileSync(ticks, "utf8").length).toBe(size); // nothing ran while frozen
    const execPaused = myuts("exec", id, "true");
    expect(execPaused.stderr).toContain("cannot exec into a container that is paused");
    expect(myuts("pause", id).stderr).toContain("cannot pause a container that is paused");
    expect(myuts("resume", id).code).toBe(0);
    expect(state(id).status).toBe("running");
    await waitFor(() => readFileSync(ticks, "utf8").length > size, 5000, "ticks after resume");
    expect(myuts("pause", id).code).toBe(0);
    expect(myuts("delete", "--force", id).code).toBe(0);
    expect(cgroupDirs(`myuts-${id}`)).toEqual([]);
    // without a cgroup there is nothing to freeze: one line says so
    const plain = newId();
    expect(myuts("create", "-b", bundle("exec sleep 30"), plain).code).toBe(0);
    expect(myuts("start", plain).code).toBe(0);
    const none = myuts("pause", plain);
    expect(none.code).toBe(125);
    expect(none.stderr).toBe(`myuts: container ${plain}: has no cgroup to freeze (give it resources or a cgroupsPath)\n`);
  });

  test("exec by OCI id: -e, -w, -u, --process FILE, and --detach with --pid-file", async () => {
    const id = newId();
    expect(myuts("create", "-b", bundle("exec sleep 30"), id).code).toBe(0);
    const early = myuts("exec", id, "true");
    expect(early.stderr).toBe(`myuts: container ${id}: cannot exec into a container that is created\n`);
    expect(myuts("start", id).code).toBe(0);
    const r = myuts("exec", "-e", "FOO=bar", "-w", "/bin", "-u", "1000:1001", id, "sh", "-c", "echo $FOO; pwd; id -u; id -g");
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("bar\n/bin\n1000\n1001\n");
    const file = join(fx.base, `${id}.process.json`);
    writeFileSync(file, JSON.stringify({ args: ["sh", "-c", "echo $X; id -u"], env: ["PATH=/bin", "X=from-file"], cwd: "/", user: { uid: 7, gid: 7 } }));
    expect(myuts("exec", "--process", file, id).stdout).toBe("from-file\n7\n");
    const pidFile = join(fx.base, `${id}.exec.pid`);
    const d = myuts("exec", "--detach", "--pid-file", pidFile, id, "sleep", "29");
    expect(d.code).toBe(0);
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toBe("sleep\u000029\u0000");
    // It lives in the container: its PID namespace is the container's.
    expect(readlinkSync(`/proc/${pid}/ns/pid`)).toBe(readlinkSync(`/proc/${state(id).pid}/ns/pid`));
  });

  test("kill --all signals every process of the PID namespace; a plain kill only the first, which as its init ignores TERM", async () => {
    const id = newId();
    const done = join(out, `${id}.done`);
    const b = bundle(`sleep 100 & sleep 100 & wait; echo done > /out/${id}.done`);
    expect(myuts("create", "-b", b, id).code).toBe(0);
    expect(myuts("start", id).code).toBe(0);
    await waitFor(() => myuts("ps", "--format", "json", id).stdout.split(",").length === 3, 5000, "both sleeps to start");
    expect(myuts("kill", id, "TERM").code).toBe(0);
    await Bun.sleep(200);
    expect(state(id).status).toBe("running");
    expect(myuts("kill", "--all", id, "TERM").code).toBe(0);
    await waitFor(() => state(id).status === "stopped", 5000, "the container to stop");
    expect(readFileSync(done, "utf8")).toBe("done\n");
  });

  test("runc's global --log and --log-format: errors also go to the log file, one record a line", () => {
    const log = join(fx.base, `log-${uniqueToken()}`);
    const r = myuts("--log", log, "--log-format", "json", "state", "no-such-container");
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("myuts: container no-such-container: does not exist\n");
    const rec = JSON.parse(readFileSync(log, "utf8").trim());
    expect(rec).toMatchObject({ level: "error", msg: "container no-such-container: does not exist" });
    expect(Number.isNaN(Date.parse(rec.time))).toBe(false);
    rmSync(log, { force: true });
    const text = myuts(`--log=${log}`, "kill", "no-such-container");
    expect(text.code).toBe(125);
    expect(readFileSync(log, "utf8")).toMatch(/^time="[^"]+" level=error msg="container no-such-container: does not exist"\n$/);
    rmSync(log, { force: true });
    for (const [args, line] of [
      [["--systemd-cgroup", "list"], "myuts: --systemd-cgroup: not supported"],
      [["--log-format", "xml", "list"], "myuts: --log-format xml: expected text or json"],
      [["--log", "/nonexistent-dir/log", "list"], "myuts: --log /nonexistent-dir/log: ENOENT"],
    ] as const) {
      const e = myuts(...args);
      expect(e.code).toBe(125);
      expect(e.stderr.startsWith(line)).toBe(true);
      expect(e.stderr.trim().split("\n")).toHaveLength(1);
    }
    expect(myuts("--rootless", "auto", "list", "-q").code).toBe(0);
  });

  test("features: the OCI features document, built from what the engine applies", () => {
    const r = myuts("features");
    expect(r.code).toBe(0);
    const f = JSON.parse(r.stdout);
    expect(f.ociVersionMax).toBe("1.2.0");
    expect(f.hooks).toEqual(["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]);
    expect(f.mountOptions).toEqual(expect.arrayContaining(["ro", "nosuid", "rbind", "rprivate", "nosymfollow"]));
    expect(f.linux.namespaces.sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"]);
    expect(f.linux.capabilities).toContain("CAP_SYS_ADMIN");
    expect(f.linux.seccomp.enabled).toBe(true);
    expect(f.linux.seccomp.operators).toContain("SCMP_CMP_MASKED_EQ");
    expect(f.linux.seccomp.actions).toContain("SCMP_ACT_ERRNO");
    expect(f.linux.cgroup.systemd).toBe(false);
  });

  test("spec with runc's options writes a starting config.json for ./rootfs (never over an existing one) that runs as it is", () => {
    const dir = mkdtempSync(join(fx.base, "bundle-"));
    expect(myuts("spec", "-b", dir).code).toBe(0);
    const again = myuts("spec", "-b", dir);
    expect([again.code, again.stderr]).toEqual([125, `myuts: spec: ${dir}/config.json exists; remove it first\n`]);
    const spec = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    expect(spec.root).toEqual({ path: "rootfs", readonly: true });
    expect(spec.process.args).toEqual(["sh"]);
    expect(spec.linux.namespaces.map((n: { type: string }) => n.type).sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "uts"]);
    symlinkSync(fx.rootfs, join(dir, "rootfs"));
    spec.process.args = ["sh", "-c", "hostname; touch /x 2>/dev/null || echo read-only"];
    writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
    const r = myuts("run", "-b", dir, newId());
    expect(r.stderr).toBe("");
    expect([r.code, r.stdout]).toEqual([0, "myuts\nread-only\n"]);
    const rootless = mkdtempSync(join(fx.base, "bundle-"));
    expect(myuts("spec", "--rootless", "--bundle", rootless).code).toBe(0);
    const rs = JSON.parse(readFileSync(join(rootless, "config.json"), "utf8"));
    expect(rs.linux.namespaces.map((n: { type: string }) => n.type)).toContain("user");
    expect(rs.linux.uidMappings).toEqual([{ containerID: 0, hostID: process.getuid!(), size: 1 }]);
  });

  test.skipIf(!Bun.which("runc"))("runc's own default bundle (runc spec) runs: its cgroup mount is the host tree, read-only to the bottom", () => {
    const dir = mkdtempSync(join(fx.base, "bundle-"));
    expect(Bun.spawnSync(["runc", "spec"], { cwd: dir }).exitCode).toBe(0);
    symlinkSync(fx.rootfs, join(dir, "rootfs"));
    const spec = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    const v2 = existsSync("/sys/fs/cgroup/cgroup.controllers");
    const probe = v2 ? "/sys/fs/cgroup/cgroup.subtree_control" : "/sys/fs/cgroup/memory/memory.limit_in_bytes";
    spec.process.terminal = false;
    spec.process.args = ["sh", "-c", `test -n "$(ls /sys/fs/cgroup)" && echo listed; (echo 1 > ${probe}) 2>/dev/null || echo read-only`];
    writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
    const r = myuts("run", "-b", dir, newId());
    expect(r.stderr).toBe("");
    expect([r.code, r.stdout]).toEqual([0, "listed\nread-only\n"]);
  });

  test("process.terminal and --console-socket go together; a socket nobody listens on fails create and leaves nothing", () => {
    const plain = bundle("true");
    const noTerminal = myuts("create", "-b", plain, "--console-socket", join(fx.base, "nosock"), newId());
    expect([noTerminal.code, noTerminal.stderr]).toEqual([125, "myuts: create: --console-socket needs process.terminal in the spec\n"]);
    const dir = mkdtempSync(join(fx.base, "bundle-"));
    const spec = JSON.parse(readFileSync(join(plain, "config.json"), "utf8"));
    spec.process.terminal = true;
    writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
    const noSocket = myuts("create", "-b", dir, newId());
    expect(noSocket.code).toBe(125);
    expect(noSocket.stderr).toContain("process.terminal needs --console-socket");
    const id = newId();
    const refused = myuts("create", "-b", dir, "--console-socket", join(fx.base, "nosock"), id);
    expect(refused.code).toBe(125);
    expect(refused.stderr).toBe(`myuts: create: --console-socket ${join(fx.base, "nosock")}: connect: ENOENT (No such file or directory)\n`);
    expect(existsSync(join(root, id))).toBe(false);
    expect(processesWith(id)).toEqual([]);
  });

  test("hooks: createRuntime and createContainer see the created process before pivot_root; poststart after start; poststop after delete", async () => {
    const id = newId();
    const log = join(out, `${id}.hooks`);
    const hook = join(fx.base, `hook-${id}.sh`);
    // each call appends: its kind, the state's status, whether the pid is live, and its mount namespace
    writeFileSync(
      hook,
      `#!/bin/sh\nstate=$(cat)\npid=$(echo "$state" | sed 's/.*"pid":\\([0-9]*\\).*/\\1/')\necho "$1 $(echo "$state" | sed 's/.*"status":"\\([a-z]*\\)".*/\\1/') $(test -d /proc/$pid && readlink /proc/$pid/ns/mnt)" >> ${log}\n`,
      { mode: 0o755 },
    );
    const dir = bundle("exec sleep 30");
    const spec = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    const h = (kind: string) => [{ path: hook, args: ["hook", kind], env: ["PATH=/usr/bin:/bin"] }];
    spec.hooks = { createRuntime: h("createRuntime"), createContainer: h("createContainer"), poststart: h("poststart"), poststop: h("poststop") };
    writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
    const c = myuts("create", "-b", dir, id);
    expect(c.stderr).toBe("");
    expect(c.code).toBe(0);
    const pid = state(id).pid;
    const containerMnt = readlinkSync(`/proc/${pid}/ns/mnt`);
    expect(containerMnt).not.toBe(readlinkSync("/proc/self/ns/mnt"));
    expect(readFileSync(log, "utf8")).toBe(`createRuntime creating ${containerMnt}\ncreateContainer creating ${containerMnt}\n`);
    expect(myuts("start", id).code).toBe(0);
    expect(readFileSync(log, "utf8").split("\n")[2]).toBe(`poststart running ${containerMnt}`);
    expect(myuts("delete", "--force", id).code).toBe(0);
    expect(readFileSync(log, "utf8").split("\n")[3]).toBe("poststop stopped ");

    // a failing create hook fails create, naming it, and leaves nothing
    const failing = join(fx.base, `fail-${id}.sh`);
    writeFileSync(failing, "#!/bin/sh\necho refused by policy >&2\nexit 7\n", { mode: 0o755 });
    spec.hooks = { createRuntime: [{ path: failing }] };
    writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
    const bad = newId();
    const f = myuts("create", "-b", dir, bad);
    expect([f.code, f.stderr]).toEqual([125, `myuts: hooks.createRuntime[0] ${failing}: exited with 7 (refused by policy)\n`]);
    expect(existsSync(join(root, bad))).toBe(false);
    expect(processesWith(bad)).toEqual([]);
    // one that outlives its timeout is killed
    const slow = join(fx.base, `slow-${id}.sh`);
    writeFileSync(slow, "#!/bin/sh\nexec sleep 30\n", { mode: 0o755 });
    spec.hooks = { createContainer: [{ path: slow, timeout: 1 }] };
    writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
    const t = myuts("create", "-b", dir, newId());
    expect([t.code, t.stderr]).toEqual([125, `myuts: hooks.createContainer[0] ${slow}: did not finish within 1 s\n`]);
  });

  test("events --stats, stats and update address an OCI container by id, through its cgroup", () => {
    const id = newId();
    const dir = mkdtempSync(join(fx.base, "bundle-"));
    const spec = Bun.spawnSync([MYUTS, "spec", "--pid", "--rootfs", fx.rootfs, "--memory", "64m", "--", "sleep", "30"], { env: baseEnv(), stdout: "pipe" });
    writeFileSync(join(dir, "config.json"), spec.stdout);
    expect(myuts("create", "-b", dir, id).code).toBe(0);
    expect(myuts("start", id).code).toBe(0);
    const ev = myuts("events", "--stats", id);
    expect(ev.code).toBe(0);
    expect(JSON.parse(ev.stdout)).toMatchObject({ type: "stats", id, data: { memory: { usage: { limit: 67108864 } } } });
    expect(myuts("update", id, "--memory", "128m").code).toBe(0);
    expect(JSON.parse(myuts("stats", "--json", id).stdout)).toMatchObject({ name: id, memory: { limit: 134217728 } });
    const plain = newId();
    expect(myuts("create", "-b", bundle("exec sleep 30"), plain).code).toBe(0);
    const none = myuts("events", "--stats", plain);
    expect([none.code, none.stderr]).toEqual([125, `myuts: container ${plain}: has no cgroup (its spec sets no resources and no cgroupsPath)\n`]);
  });

  test("create --no-pivot: the root is moved over / and chrooted into, as runc does for an initramfs", async () => {
    const id = newId();
    const marker = join(out, `${id}.root`);
    expect(myuts("create", "--no-pivot", "-b", bundle(`cat /etc/myuts-test-rootfs > /out/${id}.root`), id).code).toBe(0);
    expect(myuts("start", id).code).toBe(0);
    await waitFor(() => existsSync(marker) && readFileSync(marker, "utf8") !== "", 5000, "the payload to run");
    expect(readFileSync(marker, "utf8")).toBe("inside\n");
  });

  test("run -b DIR -d ID creates and starts it under --root (runc run -d): state, the pid file, kill and delete", async () => {
    const id = newId();
    const pidFile = join(fx.base, `${id}.pid`);
    const r = myuts("run", "-b", bundle("sleep 30"), "-d", "--pid-file", pidFile, id);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const st = state(id);
    expect(st.status).toBe("running");
    expect(readFileSync(pidFile, "utf8")).toBe(String(st.pid));
    expect(myuts("kill", id, "KILL").code).toBe(0);
    await waitFor(() => state(id).status === "stopped", 5000, "the container to stop");
    expect(myuts("delete", id).code).toBe(0);
    // Without --bundle, -d is the detached run (test/integration/detached.test.ts); --pid-file stays the bundle form's.
    const plain = myuts("run", "-d", "--pid-file", pidFile, "--rootfs", fx.rootfs, "--", "true");
    expect([plain.code, plain.stderr]).toEqual([125, "myuts: run: --pid-file and --console-socket go with --bundle --detach (myuts run -b DIR -d ID)\n"]);
  });

  test("--preserve-fds N: the caller's descriptors 3 to 3+N-1 reach create's payload and exec's command, no others", async () => {
    const id = newId();
    const file = join(fx.base, `${id}.fd3`);
    writeFileSync(file, "passed on\n");
    const fd = openSync(file, "r");
    try {
      const withFd = (args: string[]) => Bun.spawnSync([MYUTS, "--root", root, ...args], { env: baseEnv(), stdio: ["ignore", "pipe", "pipe", fd] });
      // Not pipes for create: the created container keeps its stdio open.
      const made = Bun.spawnSync([MYUTS, "--root", root, "create", "--preserve-fds", "1", "-b", bundle(`cat <&3 > /out/${id}.got; sleep 30`), id], {
        env: baseEnv(),
        stdio: ["ignore", "ignore", "ignore", fd],
      });
      expect(made.exitCode).toBe(0);
      expect(myuts("start", id).code).toBe(0);
      await waitFor(() => existsSync(join(out, `${id}.got`)) && readFileSync(join(out, `${id}.got`), "utf8") !== "", 5000, "the payload to read fd 3");
      expect(readFileSync(join(out, `${id}.got`), "utf8")).toBe("passed on\n");
      // The container's cat read the shared offset to the end: exec gets a fresh descriptor.
      const again = openSync(file, "r");
      const e = Bun.spawnSync([MYUTS, "--root", root, "exec", "--preserve-fds", "1", id, "--", "sh", "-c", "cat <&3"], {
        env: baseEnv(),
        stdio: ["ignore", "pipe", "pipe", again],
      });
      closeSync(again);
      expect(e.stdout.toString()).toBe("passed on\n");
      const none = withFd(["exec", id, "--", "sh", "-c", "cat <&3 2>/dev/null || echo closed"]);
      expect(none.stdout.toString()).toBe("closed\n");
      expect(withFd(["exec", "--preserve-fds", "x", id, "--", "true"]).stderr.toString()).toContain("--preserve-fds x: expected a number");
    } finally {
      closeSync(fd);
      myuts("delete", "--force", id);
    }
  });

  test("run -b DIR ID runs a bundle in the foreground, with the payload's exit code", () => {
    const r = Bun.spawnSync([MYUTS, "run", "-b", bundle("exit 7"), newId()], { env: baseEnv(), stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(7);
  });
});
