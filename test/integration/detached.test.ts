// Detached containers (run -d) and podman's everyday commands over them: the
// container's parent is a monitor (the native init's image, no Bun process) that logs
// its output as json-lines and records its exit code; ps, inspect, logs, exec, stop,
// kill, rm and --rm; names held until rm; nothing left once a container is removed.
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cgroupDirs } from "../helpers/cgroups.ts";
import { isRoot, MYUTS, requireBinary, runMyuts, uniqueToken, waitFor } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(60_000);

const STATE = "/run/myuts";
let fx: TestRootfs;
const made: string[] = [];

/** A fresh container name, removed after the test whatever happens. */
function newName(): string {
  const n = `d${uniqueToken()}`;
  made.push(n);
  return n;
}

async function detach(name: string, args: string[], script: string): Promise<number> {
  const r = await runMyuts(["run", "-d", "--name", name, ...args, "--rootfs", fx.rootfs, "--", "sh", "-c", script]);
  expect(r.stderr).toBe("");
  expect(r.stdout).toBe(`${name}\n`);
  expect(r.code).toBe(0);
  // The run's own session holds nothing: the container and its monitor have their own.
  expect(r.leftovers).toEqual([]);
  return pidOf(name);
}

function pidOf(name: string): number {
  return JSON.parse(readFileSync(`${STATE}/${name}.json`, "utf8")).pid as number;
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

async function psAll(): Promise<Array<{ Name: string; State: { Status: string; ExitCode?: number; Pid: number } }>> {
  const r = await runMyuts(["ps", "-a", "--format", "json"]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

async function statusOf(name: string) {
  return (await psAll()).find((c) => c.Name === name)?.State;
}

describe.skipIf(!isRoot)("detached containers (needs root)", () => {
  beforeAll(() => {
    requireBinary();
    fx = createTestRootfs();
  });
  afterEach(async () => {
    for (const n of made.splice(0)) await runMyuts(["rm", "-f", n]);
  });
  afterAll(() => fx?.cleanup());

  test("run -d returns at once; the monitor is the container's parent; logs, exec, inspect, stop with the exit code, rm", async () => {
    const name = newName();
    const pid = await detach(name, [], 'trap "echo got TERM; exit 3" TERM; echo out; echo err >&2; while :; do sleep 0.1; done');
    const monitor = parentOf(pid);
    expect(readFileSync(`/proc/${monitor}/comm`, "utf8")).toBe("memfd:myuts-ini\n");
    // A few KiB, not a Bun process.
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${monitor}/status`, "utf8"))?.[1]);
    expect(rss).toBeLessThan(1024);
    await waitFor(() => readFileSync(`${STATE}/.containers/${name}/ctr.log`, "utf8").split("\n").length > 2, 5000, "the log");
    const records = readFileSync(`${STATE}/.containers/${name}/ctr.log`, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(records.map((r) => [r.stream, r.log]).sort()).toEqual([
      ["stderr", "err\n"],
      ["stdout", "out\n"],
    ]);
    for (const r of records) expect(Date.parse(r.time)).toBeGreaterThan(Date.now() - 60_000);
    const logs = await runMyuts(["logs", name]);
    expect([logs.stdout, logs.stderr]).toEqual(["out\n", "err\n"]);
    const stamped = await runMyuts(["logs", "-t", name]);
    expect(stamped.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out\n$/);

    const ex = await runMyuts(["exec", name, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"]);
    expect(ex.stdout).toContain("sh -c trap");
    expect((await statusOf(name))?.Status).toBe("running");
    const insp = JSON.parse((await runMyuts(["inspect", name])).stdout)[0];
    expect(insp.State).toMatchObject({ Status: "running", Pid: pid });
    expect(insp.Path).toBe("sh");

    const stop = await runMyuts(["stop", name]);
    expect(stop.stderr).toBe("");
    expect(stop.stdout).toBe(`${name}\n`);
    expect(await statusOf(name)).toMatchObject({ Status: "exited", ExitCode: 3 });
    expect((await runMyuts(["logs", name])).stdout).toBe("out\ngot TERM\n");
    expect(existsSync(`${STATE}/${name}.json`)).toBe(false);
    const table = await runMyuts(["ps", "-a"]);
    expect(table.stdout).toMatch(new RegExp(`${name} .*Exited \\(3\\)`));
    expect((await runMyuts(["ps"])).stdout).not.toContain(name);

    const rm = await runMyuts(["rm", name]);
    expect(rm.code).toBe(0);
    expect(existsSync(`${STATE}/.containers/${name}`)).toBe(false);
    expect(await statusOf(name)).toBeUndefined();
  });

  test("stop escalates to SIGKILL for a PID 1 that ignores SIGTERM, and says why; with --init SIGTERM is enough", async () => {
    const stubborn = newName();
    await detach(stubborn, [], "echo ready; exec sleep 60");
    const t0 = Date.now();
    const stop = await runMyuts(["stop", "-t", "1", stubborn]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(stop.stderr).toContain(`${stubborn} did not stop within 1s`);
    expect(stop.stderr).toContain("--init");
    expect((await statusOf(stubborn))?.ExitCode).toBe(137);

    const polite = newName();
    await detach(polite, ["--init"], "exec sleep 60");
    const t1 = Date.now();
    const stop2 = await runMyuts(["stop", "-t", "10", polite]);
    expect(stop2.stderr).toBe("");
    expect(Date.now() - t1).toBeLessThan(5000);
    expect((await statusOf(polite))?.ExitCode).toBe(143);
  });

  test("a name is held until rm: a second run -d, a foreground run and rm without -f are refused", async () => {
    const name = newName();
    await detach(name, [], "exec sleep 60");
    const again = await runMyuts(["run", "-d", "--name", name, "--rootfs", fx.rootfs, "--", "true"]);
    expect(again.code).toBe(125);
    expect(again.stderr).toBe(`myuts: --name ${name}: already in use by a running container\n`);
    const rm = await runMyuts(["rm", name]);
    expect(rm.code).toBe(125);
    expect(rm.stderr).toContain("is running");
    await runMyuts(["kill", "-s", "KILL", name]);
    await waitFor(() => !existsSync(`${STATE}/${name}.json`), 10_000, "the monitor's cleanup");
    const fg = await runMyuts(["run", "--name", name, "--rootfs", fx.rootfs, "--", "true"]);
    expect(fg.code).toBe(125);
    expect(fg.stderr).toBe(`myuts: --name ${name}: already in use by a container (remove it first: myuts rm ${name})\n`);
    expect((await runMyuts(["rm", name])).code).toBe(0);
    expect((await runMyuts(["run", "--name", name, "--rootfs", fx.rootfs, "--", "true"])).code).toBe(0);
  });

  test("logs rotate at --log-max-size (one old file kept); --tail and -f", async () => {
    const name = newName();
    await detach(name, ["--log-max-size", "8k"], "i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); done");
    await waitFor(() => existsSync(`${STATE}/.containers/${name}/exit`), 10_000, "the container's end");
    const files = readdirSync(`${STATE}/.containers/${name}`).sort();
    expect(files).toEqual(["config.json", "ctr.log", "ctr.log.1", "exit", "meta.json"]);
    for (const f of ["ctr.log", "ctr.log.1"]) expect(readFileSync(`${STATE}/.containers/${name}/${f}`).length).toBeLessThan(8192 + 200);
    const lines = (await runMyuts(["logs", name])).stdout.trim().split("\n");
    // What remains is the newest output, in order and without a gap.
    expect(lines.at(-1)).toBe("line 399");
    const first = Number(lines[0]!.split(" ")[1]);
    expect(lines).toEqual(Array.from({ length: 400 - first }, (_, i) => `line ${first + i}`));
    expect((await runMyuts(["logs", "--tail", "2", name])).stdout).toBe("line 398\nline 399\n");

    const follow = newName();
    await detach(follow, [], "echo one; sleep 1; echo two; sleep 0.5");
    const f = await runMyuts(["logs", "-f", follow]);
    expect(f.stdout).toBe("one\ntwo\n");
  });

  test("--rm: the container, its cgroup and its log are gone once it ends", async () => {
    const name = newName();
    await detach(name, ["--rm", "--memory", "64m"], "echo bye");
    await waitFor(() => !existsSync(`${STATE}/.containers/${name}`), 10_000, "the container's removal");
    expect(existsSync(`${STATE}/${name}.json`)).toBe(false);
    expect(cgroupDirs(name)).toEqual([]);
  });

  test("kill -s delivers the signal; a killed monitor takes its container with it, and rm frees its cgroup", async () => {
    const name = newName();
    const pid = await detach(name, ["--memory", "64m"], 'trap "echo got HUP" HUP; echo ready; while :; do sleep 0.1; done');
    expect((await runMyuts(["kill", "-s", "HUP", name])).code).toBe(0);
    await waitFor(() => readFileSync(`${STATE}/.containers/${name}/ctr.log`, "utf8").includes("got HUP"), 5000, "the trap's line");
    expect(cgroupDirs(name).length).toBeGreaterThan(0);
    process.kill(parentOf(pid), "SIGKILL");
    await waitFor(() => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z"), 5000, "the container's death");
    expect((await statusOf(name))?.Status).toBe("exited");
    expect((await runMyuts(["rm", name])).code).toBe(0);
    expect(cgroupDirs(name)).toEqual([]);
  });

  test("--restart on-failure:N starts a failing container again N times; stop ends it for good", async () => {
    const failing = newName();
    await detach(failing, ["--restart", "on-failure:2"], "echo run; exit 2");
    await waitFor(() => (readFileSync(`${STATE}/.containers/${failing}/ctr.log`, "utf8").match(/run/g) ?? []).length === 3, 15_000, "three runs");
    await waitFor(() => !existsSync(`${STATE}/${failing}.json`), 10_000, "the last run's cleanup");
    await Bun.sleep(500);
    const insp = JSON.parse((await runMyuts(["inspect", failing])).stdout)[0];
    expect(insp.RestartCount).toBe(2);
    expect(insp.State).toMatchObject({ Status: "exited", ExitCode: 2 });
    expect((await runMyuts(["logs", failing])).stdout).toBe("run\nrun\nrun\n");

    const stopped = newName();
    await detach(stopped, ["--restart", "on-failure", "--init"], "echo up; exec sleep 60");
    expect((await runMyuts(["stop", stopped])).code).toBe(0);
    await Bun.sleep(1000);
    expect(await statusOf(stopped)).toMatchObject({ Status: "exited", ExitCode: 143 });
    expect((await runMyuts(["logs", stopped])).stdout).toBe("up\n");
  });

  test("--entrypoint comes before the arguments", async () => {
    const name = newName();
    const r = await runMyuts(["run", "-d", "--name", name, "--entrypoint", "/bin/echo", "--rootfs", fx.rootfs, "--", "from", "entrypoint"]);
    expect(r.code).toBe(0);
    await waitFor(() => existsSync(`${STATE}/.containers/${name}/exit`), 10_000, "its end");
    expect((await runMyuts(["logs", name])).stdout).toBe("from entrypoint\n");
  });

  test("50 detached starts at once, 10 of them under one name: each name once, and rm of them all at once leaves nothing", async () => {
    const names = Array.from({ length: 40 }, () => newName());
    const shared = newName();
    const starts = await Promise.all([
      ...names.map((n) => runMyuts(["run", "-d", "--name", n, "--memory", "32m", "--rootfs", fx.rootfs, "--", "sleep", "60"], { timeoutMs: 60_000 })),
      ...Array.from({ length: 10 }, () => runMyuts(["run", "-d", "--name", shared, "--rootfs", fx.rootfs, "--", "sleep", "60"], { timeoutMs: 60_000 })),
    ]);
    for (const r of starts.slice(0, 40)) expect([r.code, r.stderr]).toEqual([0, ""]);
    const same = starts.slice(40);
    expect(same.filter((r) => r.code === 0)).toHaveLength(1);
    for (const r of same.filter((r) => r.code !== 0)) expect(r.stderr).toMatch(new RegExp(`^myuts: --name ${shared}: already in use by a`));
    const running = (await psAll()).filter((c) => c.State.Status === "running").map((c) => c.Name);
    for (const n of [...names, shared]) expect(running).toContain(n);
    const removed = await Promise.all([...names, shared].map((n) => runMyuts(["rm", "-f", n], { timeoutMs: 60_000 })));
    for (const r of removed) expect([r.code, r.stderr]).toEqual([0, ""]);
    for (const n of [...names, shared]) {
      expect(existsSync(`${STATE}/.containers/${n}`)).toBe(false);
      expect(existsSync(`${STATE}/${n}.json`)).toBe(false);
      expect(cgroupDirs(n)).toEqual([]);
    }
  });

  test("logs -f into a reader that stops (| head) ends quietly, as a program SIGPIPE ends", async () => {
    const name = newName();
    await detach(name, [], "while :; do echo tick; sleep 0.1; done");
    const r = Bun.spawnSync(["sh", "-c", `${MYUTS} logs -f ${name} | head -n 2`], {
      stdout: "pipe",
      stderr: "pipe",
      timeout: 20_000,
    });
    expect(r.stdout.toString()).toStartWith("tick\ntick\n");
    expect(r.stderr.toString()).toBe("");
  });

  test("bad input: one line each", async () => {
    const name = newName();
    for (const [args, line] of [
      [["logs", name], `myuts: container ${name}: no such container\n`],
      [["stop", name], `myuts: container ${name}: no such container\n`],
      [["rm", name], `myuts: container ${name}: no such container\n`],
      [["logs", "--since", "yesterday", name], "myuts: logs: --since yesterday: expected an RFC 3339 time or a duration such as 10s, 5m, 2h\n"],
      [
        ["run", "--log-max-size", "1m", "--rootfs", fx.rootfs, "true"],
        "myuts: run: --log-max-size goes with --detach (a foreground run's output is the terminal's)\n",
      ],
      [
        ["run", "-d", "--restart", "always", "--rootfs", fx.rootfs, "true"],
        "myuts: run: --restart always: not supported (myuts has no daemon to start containers again at boot); on-failure[:N] restarts after a failed exit\n",
      ],
      [["attach", name], `myuts: container ${name}: no such container\n`],
    ] as const) {
      const r = await runMyuts([...args]);
      expect(r.stderr).toBe(line);
      expect(r.code).toBe(125);
    }
  });
});
