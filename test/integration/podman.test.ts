// podman with myuts as its OCI runtime (`podman --runtime dist/myuts`): conmon drives
// create, start, state, exec, kill and delete exactly as it drives runc. podman's
// storage, state and cgroups live in this test's temporary folders and cgroup parent,
// and everything is removed afterwards.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isRoot, MYUTS, requireBinary, uniqueToken, waitFor } from "../helpers/myuts.ts";
import { cgroupDirs, removeCgroup } from "../helpers/cgroups.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(60_000);

const podmanPath = Bun.which("podman");
let fx: TestRootfs;
let parent = "";
/** What podman makes outside its --root, --runroot and --tmpdir (a blob cache, network state): removed afterwards unless it was there before. */
const PODMAN_SIDE_PATHS = ["/var/lib/containers", "/run/containers", "/etc/cni/net.d/cni.lock"];
let sidePathsBefore: string[] = [];
const image = "localhost/myuts-test-busybox:latest";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function podman(...args: string[]): Result {
  const r = Bun.spawnSync(
    [
      podmanPath!,
      "--root",
      join(fx.base, "podman-root"),
      "--runroot",
      join(fx.base, "podman-run"),
      "--tmpdir",
      join(fx.base, "podman-tmp"),
      "--storage-driver",
      "vfs",
      "--cgroup-manager",
      "cgroupfs",
      "--events-backend",
      "file",
      "--runtime",
      MYUTS,
      ...args,
    ],
    { stdout: "pipe", stderr: "pipe", stdin: "ignore", timeout: 60_000 },
  );
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/**
 * Options every container here gets. The ulimits: podman asks
 * for limits above this machine's hard ones, which only CAP_SYS_RESOURCE may raise (runc
 * fails alike where the runtime lacks it), so they are set to what any caller may set.
 */
const common = () => ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--cgroup-parent", parent];

describe.skipIf(!isRoot || !podmanPath)("podman --runtime myuts (needs root and podman)", () => {
  beforeAll(() => {
    requireBinary();
    sidePathsBefore = PODMAN_SIDE_PATHS.filter((p) => existsSync(p));
    fx = createTestRootfs();
    parent = `/myuts-podman-${uniqueToken()}`;
    const tar = join(fx.base, "busybox.tar");
    expect(Bun.spawnSync(["tar", "-C", fx.rootfs, "-cf", tar, "."]).exitCode).toBe(0);
    const imported = podman("import", "--quiet", tar, image);
    expect(imported.code).toBe(0);
  });
  afterAll(() => {
    if (!fx) return;
    podman("rm", "--all", "--force", "--time", "0");
    podman("rmi", "--all", "--force");
    for (const dir of cgroupDirs(parent.slice(1)).sort((a, b) => b.length - a.length)) removeCgroup(dir);
    fx.cleanup();
    for (const p of PODMAN_SIDE_PATHS) if (!sidePathsBefore.includes(p)) rmSync(p, { recursive: true, force: true });
  });

  test("run --rm: the payload's output and exit code, as with runc", () => {
    const r = podman("run", "--rm", ...common(), image, "echo", "hello");
    expect(r.stderr).toBe("");
    expect([r.code, r.stdout]).toEqual([0, "hello\n"]);
    expect(podman("run", "--rm", ...common(), image, "sh", "-c", "exit 3").code).toBe(3);
  });

  test("--user, --env, --workdir and --memory reach the container", () => {
    const script = [
      "id -u; id -g; echo $FOO; pwd",
      // the container's memory cgroup, as the host's tree shows it (read-only) inside
      'p=$(grep -E "^[0-9]+:memory:|^0::" /proc/self/cgroup | head -1 | cut -d: -f3)',
      "cat /sys/fs/cgroup/memory$p/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup$p/memory.max",
    ].join("; ");
    const r = podman("run", "--rm", ...common(), "--user", "1000:1000", "-e", "FOO=bar", "-w", "/etc", "--memory", "64m", image, "sh", "-c", script);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["1000", "1000", "bar", "/etc", "67108864"]);
  });

  test("detached: exec into it, stop it (TERM, then KILL), remove it; nothing of it stays", async () => {
    const name = `myuts-${uniqueToken()}`;
    const started = podman("run", "-d", "--name", name, ...common(), image, "sleep", "1000");
    expect(started.stderr).toBe("");
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    const exec = podman("exec", name, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; id -u; test -t 0 || echo no-tty");
    expect(exec.stderr).toBe("");
    expect([exec.code, exec.stdout]).toEqual([0, "sleep 1000 0\nno-tty\n"]);
    // exec -t: a new terminal for the process, through the console socket
    const tty = podman("exec", "-t", name, "sh", "-c", "test -t 0 && test -t 1 && echo exec-tty");
    expect([tty.code, tty.stdout]).toEqual([0, "exec-tty\r\n"]);
    expect(podman("inspect", "--format", "{{.State.Status}}", name).stdout.trim()).toBe("running");
    const pid = Number(podman("inspect", "--format", "{{.State.Pid}}", name).stdout.trim());
    expect(pid).toBeGreaterThan(0);
    // sleep as a PID namespace's init ignores TERM: podman falls back to KILL after -t
    expect(podman("stop", "-t", "1", name).code).toBe(0);
    await waitFor(() => !existsSync(`/proc/${pid}/status`) || /State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, "utf8")), 5000, "the container to end");
    expect(podman("inspect", "--format", "{{.State.Status}}", name).stdout.trim()).toBe("exited");
    expect(podman("rm", name).code).toBe(0);
    // myuts's own state for it is gone (podman gives it no --root: the default one)
    expect(existsSync(join("/run/myuts", id))).toBe(false);
    expect(cgroupDirs(id)).toEqual([]);
  });

  test("kill -s KILL ends a detached container; its exit code is 128+9", async () => {
    const name = `myuts-${uniqueToken()}`;
    expect(podman("run", "-d", "--name", name, ...common(), image, "sleep", "1000").code).toBe(0);
    expect(podman("kill", "-s", "KILL", name).code).toBe(0);
    const waited = podman("wait", name);
    expect([waited.code, waited.stdout.trim()]).toEqual([0, "137"]);
    expect(podman("rm", name).code).toBe(0);
  });

  test("-t: conmon gets the terminal through --console-socket; the payload's stdio and /dev/console are that terminal", () => {
    const script = "test -t 0 && test -t 1 && test -t 2 && echo all-tty; tty";
    const r = podman("run", "--rm", "-t", ...common(), image, "sh", "-c", script);
    expect(r.code).toBe(0);
    // a terminal ends lines with CR LF
    expect(r.stdout.split("\r\n").slice(0, 2)).toEqual(["all-tty", "/dev/console"]);
  });
});
