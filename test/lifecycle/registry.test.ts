// The state registry holds named containers only while their runtime lives; what a
// SIGKILLed runtime leaves is cleaned by the next start, and nothing else is.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroupDirs, removeCgroup } from "../helpers/cgroups.ts";
import { cmdlineOf, isRoot, MYUTS, processesWith, runMyuts, startMyuts, uniqueToken, waitFor, type MyutsProcess } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(30_000);

const STATE = "/run/myuts";
let fs: TestRootfs;
const entry = (name: string) => `${STATE}/${name}.json`;
const running = (name: string) => existsSync(entry(name)) && (JSON.parse(readFileSync(entry(name), "utf8")) as { status: string }).status === "running";

/** A named container without a PID namespace whose payload leaves `sleep TOKEN` behind, and its runtime SIGKILLed. */
async function orphanAfterKill(name: string, token: string, started: MyutsProcess[]): Promise<void> {
  const p = startMyuts(["run", "--name", name, "--memory", "64m", "--", "sh", "-c", `sleep ${token} & echo started; wait`]);
  started.push(p);
  await p.waitForStdout("started");
  await waitFor(() => running(name), 5000, "the entry to say running");
  p.kill("SIGKILL"); // the runtime only: the payload dies with it (parent-death signal), its child doesn't
  await p.proc.exited;
  await waitFor(() => processesWith(`sh -c sleep ${token}`).length === 0, 5000, "the payload to die");
  expect(processesWith(`sleep ${token}`)).toHaveLength(1);
  expect(existsSync(entry(name))).toBe(true);
  expect(cgroupDirs(`myuts-${name}`).length).toBeGreaterThan(0);
}

/** Whatever a test's orphan left, even when an assertion failed halfway. */
async function cleanupOrphan(name: string, token: string, started: MyutsProcess[]): Promise<void> {
  for (const o of processesWith(`sleep ${token}`)) process.kill(o.pid, "SIGKILL");
  for (const d of cgroupDirs(`myuts-${name}`)) removeCgroup(d);
  rmSync(entry(name), { force: true });
  await Promise.all(started.map((p) => p.dispose()));
}

describe.skipIf(!isRoot)("state registry (needs root)", () => {
  beforeAll(() => (fs = createTestRootfs()));
  afterAll(() => fs?.cleanup());

  test("an unnamed container without limits leaves no entry, even while it runs", async () => {
    const before = existsSync(STATE) ? readdirSync(STATE) : [];
    const p = startMyuts(["run", "--pid", "--rootfs", fs.rootfs, "--", "sleep", "1"]);
    await Bun.sleep(300);
    expect(existsSync(STATE) ? readdirSync(STATE) : []).toEqual(before);
    await p.result();
  });

  test("a named container's entry lives with it, and a SIGKILLed runtime's is swept by the next start", async () => {
    const name = `reg${process.pid}`;
    const p = startMyuts(["run", "--name", name, "--pid", "--rootfs", fs.rootfs, "--", "sleep", "30"]);
    await waitFor(() => existsSync(entry(name)), 5000, "the entry to appear");
    p.kill("SIGKILL");
    await p.result();
    expect(existsSync(entry(name))).toBe(true); // nobody could remove it
    const r = await runMyuts(["run", "--", "true"]);
    expect(r.code).toBe(0);
    expect(existsSync(entry(name))).toBe(false);
  });

  test("without --pid, what a SIGKILLed runtime's payload left running is killed before its cgroup and entry go", async () => {
    const name = `orph${process.pid}`;
    const token = uniqueToken();
    const started: MyutsProcess[] = [];
    try {
      await orphanAfterKill(name, token, started);
      const r = await runMyuts(["run", "--memory", "64m", "--", "true"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(processesWith(`sleep ${token}`)).toEqual([]);
      expect(cgroupDirs(`myuts-${name}`)).toEqual([]);
      expect(existsSync(entry(name))).toBe(false);
    } finally {
      await cleanupOrphan(name, token, started);
    }
  });

  test("a new container of the same name gets a fresh cgroup: the old one's leftovers are gone first", async () => {
    const name = `reuse${process.pid}`;
    const token = uniqueToken();
    const started: MyutsProcess[] = [];
    try {
      await orphanAfterKill(name, token, started);
      // The payload lists what its own memory (or v2) cgroup holds.
      const script = [
        "p=$(grep -E '^[0-9]+:memory:' /proc/self/cgroup | cut -d: -f3); d=/sys/fs/cgroup/memory$p",
        "if [ -z \"$p\" ]; then p=$(grep '^0::' /proc/self/cgroup | cut -d: -f3); d=/sys/fs/cgroup$p; fi",
        'cat "$d/cgroup.procs"',
      ].join("; ");
      const r = await runMyuts(["run", "--name", name, "--memory", "64m", "--", "sh", "-c", script]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const pids = r.stdout.trim().split("\n").map(Number);
      expect(pids.length).toBeGreaterThan(0);
      for (const pid of pids) expect(cmdlineOf(pid)).not.toContain(token);
      expect(processesWith(`sleep ${token}`)).toEqual([]);
    } finally {
      await cleanupOrphan(name, token, started);
    }
  });

  test("a leftover cgroup of that name that still holds processes is never joined: the start is refused", async () => {
    const name = `left${process.pid}`;
    const token = uniqueToken();
    const started: MyutsProcess[] = [];
    try {
      await orphanAfterKill(name, token, started);
      rmSync(entry(name)); // as if its entry were lost: nothing proves whose it is
      const r = await runMyuts(["run", "--name", name, "--memory", "64m", "--", "true"]);
      expect(r.code).toBe(125);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^myuts: cgroup .*myuts-${name} already exists and holds processes`));
      expect(processesWith(`sleep ${token}`)).toHaveLength(1); // neither joined nor killed
      expect(existsSync(entry(name))).toBe(false);
    } finally {
      await cleanupOrphan(name, token, started);
    }
  });
});

/** Runs a shell script with a private, empty /run, so the hostile entries reach no other runtime on this machine. */
function withPrivateRun(script: string): { code: number; out: string } {
  const r = Bun.spawnSync(["unshare", "--mount", "--propagation", "private", "--", "sh", "-euc", `mount -t tmpfs -o mode=0755 tmpfs /run; mkdir -m 0700 /run/myuts; ${script}`], {
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}

describe.skipIf(!isRoot)("registry entries are untrusted (needs root)", () => {
  let base = "";
  beforeAll(() => (base = mkdtempSync(join(tmpdir(), "myuts-hostile-registry-"))));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  test("null, {}, [], strings, wrong types, escaping names, foreign cgroup paths and symlinks: skipped with one warning each", () => {
    const src = join(base, "entries");
    mkdirSync(src);
    const target = join(base, "target");
    writeFileSync(target, "untouched\n");
    const fake = join(base, "fake-cgroup");
    mkdirSync(fake);
    writeFileSync(join(fake, "cgroup.procs"), "");
    symlinkSync(target, join(fake, "cgroup.kill"));
    const dead = { pid: 4194304, start: "1" };
    const base0 = { status: "running", owner: dead, created: "2024-01-01T00:00:00Z" };
    const bad: Record<string, string> = {
      null: "null",
      empty: "{}",
      array: "[]",
      string: '"hello"',
      types: JSON.stringify({ name: "types", status: 5, owner: "me", created: [] }),
      escape: JSON.stringify({ ...base0, name: "../x/victim" }),
      foreign: JSON.stringify({ ...base0, name: "foreign", cgroup: { mode: "v2", dirs: { unified: fake }, created: [fake] } }),
      climb: JSON.stringify({ ...base0, name: "climb", cgroup: { mode: "v2", dirs: { unified: `/sys/fs/cgroup/../..${fake}` }, created: [`/sys/fs/cgroup/../..${fake}`] } }),
    };
    for (const [n, text] of Object.entries(bad)) writeFileSync(join(src, `${n}.json`), text);
    writeFileSync(join(base, "elsewhere.json"), JSON.stringify({ ...base0, name: "link" }));
    symlinkSync(join(base, "elsewhere.json"), join(src, "link.json"));
    const out = (f: string) => join(base, f);
    const r = withPrivateRun(
      [
        `cp -a ${src}/* /run/myuts/`,
        "mkdir /run/x && echo keep > /run/x/victim.json",
        `set +e; ${MYUTS} run --memory 64m -- true 2>${out("run.err")}; echo $? >${out("run.rc")}`,
        `${MYUTS} stats null 2>${out("stats.err")}; echo $? >${out("stats.rc")}`,
        `ls /run/myuts >${out("left")}; cat /run/x/victim.json >${out("victim")}`,
      ].join("\n"),
    );
    expect(r.out).toBe("");
    const runErr = readFileSync(out("run.err"), "utf8").trim().split("\n");
    expect({ rc: readFileSync(out("run.rc"), "utf8").trim(), err: runErr }).toMatchObject({ rc: "0" });
    expect(runErr).toHaveLength(Object.keys(bad).length + 1);
    for (const l of runErr) expect(l).toMatch(/^myuts: warning: registry entry \/run\/myuts\/[a-z]+\.json: .+; skipped$/);
    expect(readFileSync(out("stats.rc"), "utf8").trim()).toBe("125");
    expect(readFileSync(out("stats.err"), "utf8")).toMatch(/^myuts: warning: registry entry \/run\/myuts\/null\.json: not a JSON object \(null\); skipped\nmyuts: container null: no such running container\n$/);
    expect(readFileSync(out("left"), "utf8").trim().split("\n").sort()).toEqual([...Object.keys(bad), "link"].map((n) => `${n}.json`).sort());
    expect(readFileSync(out("victim"), "utf8")).toBe("keep\n");
    expect(readFileSync(target, "utf8")).toBe("untouched\n");
  });
});
