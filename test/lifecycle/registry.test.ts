// The state registry holds named containers only while their runtime lives; what a
// SIGKILLed runtime leaves is cleaned by the next start, and nothing else is. Each
// test keeps its registry in a /run of its own (privateRun), so that the other
// runtimes on the machine, which sweep /run/myuts at every start, can't clean up
// before the start under test does.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroupDirs, removeCgroup } from "../helpers/cgroups.ts";
import {
  cmdlineOf,
  isRoot,
  processesWith,
  runMyuts as runMyutsShared,
  startMyuts as startMyutsShared,
  uniqueToken,
  waitFor,
  type MyutsProcess,
  type RunOptions,
} from "../helpers/myuts.ts";
import { privateRun, type PrivateRun } from "../helpers/private-run.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(30_000);

let priv: PrivateRun;
let STATE = "";
let fs: TestRootfs;
const entry = (name: string) => `${STATE}/${name}.json`;
const startMyuts = (args: string[], opts: RunOptions = {}) => startMyutsShared(args, { ...opts, wrap: priv.wrap });
const runMyuts = (args: string[], opts: RunOptions = {}) => runMyutsShared(args, { ...opts, wrap: priv.wrap });
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

beforeAll(() => {
  if (!isRoot) return;
  priv = privateRun();
  STATE = priv.stateDir;
});
afterAll(() => priv?.cleanup());

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

  test("a named container's entry lives with it, and a SIGKILLed runtime's is swept by the next start that keeps state", async () => {
    const name = `reg${process.pid}`;
    const p = startMyuts(["run", "--name", name, "--pid", "--rootfs", fs.rootfs, "--", "sleep", "30"]);
    await waitFor(() => existsSync(entry(name)), 5000, "the entry to appear");
    p.kill("SIGKILL");
    await p.result();
    expect(existsSync(entry(name))).toBe(true); // nobody could remove it
    // A plain start keeps no state and leaves the registry alone (it costs nothing);
    await runMyuts(["run", "--", "true"]);
    expect(existsSync(entry(name))).toBe(true);
    // a named one sweeps it, and a killed runtime's half-written entry (its temporary file).
    const ghost = join(STATE, ".ghost.4194303.tmp");
    writeFileSync(ghost, "{");
    const r = await runMyuts(["run", "--name", `${name}b`, "--", "true"]);
    expect(r.code).toBe(0);
    expect(existsSync(entry(name))).toBe(false);
    expect(existsSync(ghost)).toBe(false);
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

describe.skipIf(!isRoot)("registry entries are untrusted (needs root)", () => {
  let base = "";
  beforeAll(() => (base = mkdtempSync(join(tmpdir(), "myuts-hostile-registry-"))));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  test("null, {}, [], strings, wrong types, escaping names, foreign cgroup paths and symlinks: skipped with one warning each", async () => {
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
      climb: JSON.stringify({
        ...base0,
        name: "climb",
        cgroup: { mode: "v2", dirs: { unified: `/sys/fs/cgroup/../..${fake}` }, created: [`/sys/fs/cgroup/../..${fake}`] },
      }),
    };
    // An earlier test's run may still be removing its (empty) state directory: it must hold nothing.
    if (existsSync(STATE)) expect(readdirSync(STATE)).toEqual([]);
    mkdirSync(STATE, { recursive: true, mode: 0o700 });
    // "../x/victim" from the state directory, in the private /run
    const other = join(STATE, "..", "x");
    mkdirSync(other);
    writeFileSync(join(other, "victim.json"), "keep\n");
    try {
      for (const [n, text] of Object.entries(bad)) writeFileSync(join(STATE, `${n}.json`), text);
      writeFileSync(join(base, "elsewhere.json"), JSON.stringify({ ...base0, name: "link" }));
      symlinkSync(join(base, "elsewhere.json"), join(STATE, "link.json"));
      const run = await runMyuts(["run", "--memory", "64m", "--", "true"]);
      expect(run.code).toBe(0);
      const lines = run.stderr.trim().split("\n");
      expect(lines).toHaveLength(Object.keys(bad).length + 1);
      for (const l of lines) expect(l).toMatch(/^myuts: warning: registry entry \/run\/myuts\/[a-z]+\.json: .+; skipped$/);
      const stats = await runMyuts(["stats", "null"]);
      expect(stats.code).toBe(125);
      expect(stats.stderr).toBe(
        "myuts: warning: registry entry /run/myuts/null.json: not a JSON object (null); skipped\nmyuts: container null: no such running container\n",
      );
      expect(readdirSync(STATE).sort()).toEqual([...Object.keys(bad), "link"].map((n) => `${n}.json`).sort());
      expect(readFileSync(join(other, "victim.json"), "utf8")).toBe("keep\n");
    } finally {
      rmSync(STATE, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    }
    expect(readFileSync(target, "utf8")).toBe("untouched\n");
  });
});
