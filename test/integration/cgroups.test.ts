// Resource limits on real containers, on whatever layout this host has (hybrid with
// v1 controllers on the project's machines). Root only.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, copyFileSync, mkdirSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { privateRun } from "../helpers/private-run.ts";
import { cgroupDirs, removeCgroup } from "../helpers/cgroups.ts";

const MYUTS = resolve(import.meta.dir, "../../dist/myuts");
const isRoot = process.getuid?.() === 0;
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
const skipReason = !isRoot ? "needs root" : !BUSYBOX ? "needs busybox (busybox-static)" : !existsSync(MYUTS) ? "needs dist/myuts (bun run build)" : undefined;
if (skipReason) console.warn(`cgroups integration tests skipped: ${skipReason}`);
const it = skipReason ? test.skip : test;

const TAG = `cgt${process.pid}`;
let rootfs = "";

function makeRootfs(): string {
  const dir = mkdtempSync(join(tmpdir(), "myuts-cg-rootfs-"));
  mkdirSync(join(dir, "bin"));
  copyFileSync(BUSYBOX!, join(dir, "bin/busybox"));
  chmodSync(join(dir, "bin/busybox"), 0o755);
  for (const a of ["sh", "cat", "echo", "sleep", "true", "grep", "seq", "dd", "tail", "head", "yes"]) symlinkSync("busybox", join(dir, "bin", a));
  return dir;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs myuts with `args`; with `raw`, `args` is the whole command line (a wrapper first). */
function run(args: string[], timeoutMs = 20000, raw = false): Result {
  const r = Bun.spawnSync(raw ? args : [MYUTS, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  return { code: r.exitCode ?? 128 + 9, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const name = (n: string) => `${TAG}-${n}`;
const statePath = (n: string) => `/run/myuts/${n}.json`;

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await Bun.sleep(20);
  }
}

/** A named container in the background; the caller stops it (SIGTERM is forwarded; without --pid the payload isn't PID 1, which would ignore it). */
async function startNamed(n: string, args: string[]): Promise<Bun.Subprocess> {
  const p = Bun.spawn([MYUTS, "run", "--name", n, ...args], { stdout: "pipe", stderr: "pipe" });
  await waitFor(() => existsSync(statePath(n)) && JSON.parse(readFileSync(statePath(n), "utf8")).status === "running");
  return p;
}

interface StatsJson {
  memory?: { usage: number; limit?: number; oomKills: number };
  cpu?: { usageNs: number };
  pids?: { current: number; limit?: number };
}
const stats = (n: string): StatsJson => JSON.parse(run(["stats", "--json", n]).stdout) as StatsJson;

beforeAll(() => {
  if (!skipReason) rootfs = makeRootfs();
});

afterAll(() => {
  const left = skipReason ? [] : cgroupDirs(TAG);
  for (const d of left) removeCgroup(d);
  for (const f of existsSync("/run/myuts") ? readdirSync("/run/myuts") : []) if (f.includes(TAG)) rmSync(join("/run/myuts", f), { force: true });
  if (rootfs) rmSync(rootfs, { recursive: true, force: true });
  expect(left).toEqual([]);
});

describe("cgroups", () => {
  // containers and 1–2 s measurements: more than bun's default 5 s per test
  it("a memory hog is OOM-killed at its limit: exit 137 and one line with the limit", () => {
    const n = name("oom");
    const r = run([
      "run",
      "--name",
      n,
      "--pid",
      "--rootfs",
      rootfs,
      "--memory",
      "32m",
      "--memory-swap",
      "32m",
      "--",
      "sh",
      "-c",
      'x=a; while :; do x="$x$x"; done',
    ]);
    expect(r.code).toBe(137);
    expect(r.stderr).toContain("myuts: the container was killed: out of memory (limit 32 MiB)");
    expect(cgroupDirs(n)).toEqual([]);
    expect(existsSync(statePath(n))).toBe(false);
  }, 30000);

  it("a fork bomb stops at --pids-limit", () => {
    const n = name("pids");
    const r = run([
      "run",
      "--name",
      n,
      "--pid",
      "--rootfs",
      rootfs,
      "--pids-limit",
      "8",
      "--",
      "sh",
      "-c",
      "for i in $(seq 1 30); do sleep 1 & done; wait; echo done",
    ]);
    expect(r.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    expect(cgroupDirs(n)).toEqual([]);
  }, 30000);

  it("--cpus 0.5 sets the CFS quota, and a busy loop gets about half a core", async () => {
    const n = name("cpu");
    const p = await startNamed(n, ["--share", "pid", "--rootfs", rootfs, "--cpus", "0.5", "--", "sh", "-c", "while :; do :; done"]);
    try {
      const st = JSON.parse(readFileSync(statePath(n), "utf8")) as { cgroup: { mode: string; dirs: Record<string, string> } };
      if (st.cgroup.mode === "v2") expect(readFileSync(join(st.cgroup.dirs.unified!, "cpu.max"), "utf8").trim()).toBe("50000 100000");
      else expect(readFileSync(join(st.cgroup.dirs.cpu!, "cpu.cfs_quota_us"), "utf8").trim()).toBe("50000");
      await Bun.sleep(300);
      const a = stats(n).cpu!.usageNs;
      const t0 = performance.now();
      await Bun.sleep(1500);
      const b = stats(n).cpu!.usageNs;
      const share = (b - a) / 1e6 / (performance.now() - t0);
      expect(share).toBeGreaterThan(0.3);
      expect(share).toBeLessThan(0.65);
    } finally {
      p.kill("SIGTERM");
      await p.exited;
    }
    expect(cgroupDirs(n)).toEqual([]);
  }, 30000);

  it("--cpuset-cpus pins the payload", () => {
    const r = run(["run", "--name", name("cpuset"), "--pid", "--rootfs", rootfs, "--cpuset-cpus", "0", "--", "grep", "Cpus_allowed_list", "/proc/self/status"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/Cpus_allowed_list:\s+0$/);
  }, 30000);

  it("with --cgroupns private the container sees its own cgroup as /", () => {
    const r = run(["run", "--name", name("ns"), "--pid", "--rootfs", rootfs, "--cgroupns", "private", "--memory", "64m", "--", "cat", "/proc/self/cgroup"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/:\/$/);
  }, 30000);

  it("without a cgroup namespace the payload is in myuts-NAME", () => {
    const n = name("place");
    const r = run(["run", "--name", n, "--rootfs", rootfs, "--cgroupns", "host", "--memory", "64m", "--", "cat", "/proc/self/cgroup"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`memory:.*/myuts-${n}\\n`));
  }, 30000);

  it("--oom-score-adj reaches the payload", () => {
    const r = run(["run", "--rootfs", rootfs, "--oom-score-adj", "500", "--", "cat", "/proc/self/oom_score_adj"]);
    expect(r.stdout.trim()).toBe("500");
  }, 30000);

  it("stats, events --stats and update on a running named container", async () => {
    const n = name("upd");
    const p = await startNamed(n, ["--share", "pid", "--rootfs", rootfs, "--memory", "64m", "--pids-limit", "20", "--", "sleep", "30"]);
    try {
      const s = stats(n);
      expect(s.memory?.limit).toBe(64 * 1024 * 1024);
      expect(s.pids).toEqual({ current: 1, limit: 20 });
      expect(run(["stats", n]).stdout).toContain("memory:  ");
      const ev = JSON.parse(run(["events", "--stats", n]).stdout) as { type: string; id: string; data: { memory: { usage: { limit: number } } } };
      expect(ev.type).toBe("stats");
      expect(ev.id).toBe(n);
      expect(ev.data.memory.usage.limit).toBe(64 * 1024 * 1024);
      const u = run(["update", n, "--memory", "128m", "--pids-limit", "30", "--cpus", "1"]);
      expect(u.stderr).toBe("");
      expect(u.code).toBe(0);
      const s2 = stats(n);
      expect(s2.memory?.limit).toBe(128 * 1024 * 1024);
      expect(s2.pids?.limit).toBe(30);
      const dup = run(["run", "--name", n, "--", "true"]);
      expect(dup.code).toBe(125);
      expect(dup.stderr).toContain(`--name ${n}: already in use`);
    } finally {
      p.kill("SIGTERM");
      await p.exited;
    }
    expect(cgroupDirs(n)).toEqual([]);
    expect(existsSync(statePath(n))).toBe(false);
    const gone = run(["stats", n]);
    expect(gone.code).toBe(125);
    expect(gone.stderr).toBe(`myuts: container ${n}: no such running container\n`);
  }, 30000);

  it("a SIGKILLed runtime's cgroup is collected by the next start", async () => {
    // A registry of this test's own: any other start on the machine would sweep the shared one first.
    const priv = privateRun();
    try {
      const n = name("stale");
      const entry = join(priv.stateDir, `${n}.json`);
      const p = Bun.spawn([...priv.wrap, MYUTS, "run", "--name", n, "--pid", "--rootfs", rootfs, "--memory", "64m", "--", "sleep", "30"], {
        stdout: "pipe",
        stderr: "pipe",
      });
      await waitFor(() => existsSync(entry) && JSON.parse(readFileSync(entry, "utf8")).status === "running");
      p.kill("SIGKILL");
      await p.exited;
      await waitFor(() => cgroupDirs(n).every((d) => readFileSync(join(d, "cgroup.procs"), "utf8").trim() === ""));
      expect(cgroupDirs(n).length).toBeGreaterThan(0);
      expect(run([...priv.wrap, MYUTS, "run", "--rootfs", rootfs, "--memory", "64m", "--", "true"], 20000, true).code).toBe(0);
      expect(cgroupDirs(n)).toEqual([]);
      expect(existsSync(entry)).toBe(false);
    } finally {
      priv.cleanup();
    }
  }, 30000);

  it("a value the kernel refuses: one line naming the controller and file, exit 125, nothing left", () => {
    const n = name("bad");
    const r = run(["run", "--name", n, "--rootfs", rootfs, "--cpuset-cpus", "99", "--", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^myuts: cgroup cpuset: write cpuset\.cpus=99: E[A-Z]+ \(.+\)\n$/);
    expect(cgroupDirs(n)).toEqual([]);
    expect(existsSync(statePath(n))).toBe(false);
  }, 30000);

  it("a limit below docker's minimum is refused before anything starts", () => {
    const r = run(["run", "--rootfs", rootfs, "--memory", "1k", "--", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("myuts: run: --memory 1k: below the minimum of 6 MiB\n");
  }, 30000);

  it("--cgroup-parent nests the container and removes what it made", () => {
    const parent = `${TAG}-parent/sub`;
    const r = run([
      "run",
      "--name",
      name("par"),
      "--rootfs",
      rootfs,
      "--cgroupns",
      "host",
      "--cgroup-parent",
      parent,
      "--pids-limit",
      "10",
      "--",
      "cat",
      "/proc/self/cgroup",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`pids:/${parent}/myuts-${name("par")}`);
    expect(cgroupDirs(`${TAG}-parent`)).toEqual([]);
  }, 30000);
});
