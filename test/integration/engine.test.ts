// The engine: a setup program that the small native init runs from a sealed memfd,
// and `exec`, which joins a running container through the same init.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, readlinkSync } from "node:fs";
import { isRoot, processesWith, requireBinary, runMyuts, startMyuts, uniqueToken, waitFor, type MyutsProcess } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

let fx: TestRootfs;
const running: MyutsProcess[] = [];

function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("myuts: ");
  return lines[0]!;
}

describe("the engine without root", () => {
  test("`myuts init` by hand is one line on stderr and exit 125, nothing on stdout", async () => {
    requireBinary();
    const r = await runMyuts(["init", "0", "1"]);
    expect(r.code).toBe(125);
    expect(r.stdout).toBe("");
    expect(oneLine(r.stderr)).toContain("unknown command init");
  });

  test("--dry-run prints the setup program and starts nothing", async () => {
    const r = await runMyuts(["run", "--all", "--hostname", "dry", "--dry-run", "--", "true"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe('spawn → execveat(sealed memfd "myuts-init")');
    // The init clones the container's first process into its namespaces, which then loads the setup program.
    expect(r.stdout).toContain("fork(CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWUTS|CLONE_NEWNS|CLONE_NEWCGROUP)");
    expect(r.stdout).toContain("unshare(CLONE_NEWTIME)");
    expect(r.stdout).toContain('sethostname("dry", 3)');
    expect(r.stdout).toMatch(/mount\("proc", \/proc\/self\/fd\/\$target, "proc", NOSUID\|NODEV\|NOEXEC, NULL\)/);
    expect(r.stdout).toMatch(/execve\("\/usr\/local\/sbin\/true", \["true"\], \[\d+ variables\]\)/);
    expect(r.leftovers).toEqual([]);
  });
});

describe.skipIf(!isRoot)("the engine (needs root)", () => {
  beforeAll(() => {
    requireBinary();
    fx = createTestRootfs();
  });
  afterEach(async () => {
    for (const p of running.splice(0)) await p.dispose();
  });
  afterAll(() => fx?.cleanup());

  test("a container waiting at the barrier is the small init from a sealed memfd, not Bun", async () => {
    // A memory limit makes the init wait for the runtime to join the cgroup.
    const r = await runMyuts(["run", "--pid", "--rootfs", fx.rootfs, "--memory", "64m", "--trace", "--", "true"]);
    expect(r.code).toBe(0);
    const m = /init waits at the barrier: VmRSS (\d+) kB, exe (.*)$/m.exec(r.stderr);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(1024);
    expect(m![2]).toBe("/memfd:myuts-init (deleted)");
  });

  test("the payload's parent chain holds no myuts binary: /proc/1/exe is the payload", async () => {
    const r = await runMyuts(["run", "--pid", "--rootfs", fx.rootfs, "--", "sh", "-c", "readlink /proc/1/exe"]);
    expect(r.stdout.trim()).toBe("/bin/busybox");
    expect(r.code).toBe(0);
  });

  test("exec joins every namespace of a running container and takes its capabilities", async () => {
    const name = `exec${uniqueToken()}`;
    const token = uniqueToken();
    const c = startMyuts(["run", "--all", "--name", name, "--hostname", "inside", "--rootfs", fx.rootfs, "--", "sleep", token]);
    running.push(c);
    const payloadPid = () => processesWith(token).find((p) => p.cmdline.startsWith("sleep "))?.pid;
    await waitFor(() => payloadPid() !== undefined, 10_000, "the container's payload");
    const payload = payloadPid()!;
    // The runtime registers the name while the container starts; wait until it answers.
    for (let i = 0; i < 100 && (await runMyuts(["exec", name, "--", "true"])).code !== 0; i++) await Bun.sleep(20);
    const types = ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"];
    const script = `${types.map((t) => `readlink /proc/self/ns/${t}`).join("; ")}; hostname; grep CapEff /proc/self/status; echo pid=$$`;
    const r = await runMyuts(["exec", name, "--", "sh", "-c", script]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = r.stdout.trimEnd().split("\n");
    expect(out.slice(0, types.length)).toEqual(types.map((t) => readlinkSync(`/proc/${payload}/ns/${t}`)));
    expect(out[types.length]).toBe("inside");
    const capEff = /CapEff:\s*(\S+)/.exec(readFileSync(`/proc/${payload}/status`, "utf8"))![1];
    expect(out[types.length + 1]).toBe(`CapEff:\t${capEff}`);
    expect(Number(out[types.length + 2]!.slice(4))).toBeLessThan(10); // a pid in the container's PID namespace
    // Its exit code is the command's, and a missing command gets docker's 127.
    expect((await runMyuts(["exec", name, "--", "sh", "-c", "exit 7"])).code).toBe(7);
    const missing = await runMyuts(["exec", name, "--", "no-such-command"]);
    expect(missing.code).toBe(127);
    expect(oneLine(missing.stderr)).toContain("no-such-command");
  });

  test("exec joins the container's cgroup too, before the command runs", async () => {
    const name = `execcg${uniqueToken()}`;
    const token = uniqueToken();
    const c = startMyuts(["run", "--cgroupns", "host", "--memory", "64m", "--name", name, "--rootfs", fx.rootfs, "--", "sleep", token]);
    running.push(c);
    const payloadPid = () => processesWith(token).find((p) => p.cmdline.startsWith("sleep "))?.pid;
    await waitFor(() => payloadPid() !== undefined, 10_000, "the container's payload");
    for (let i = 0; i < 100 && (await runMyuts(["exec", name, "--", "true"])).code !== 0; i++) await Bun.sleep(20);
    // The command's very first view of /proc/self/cgroup: no moment outside the container's limits.
    const r = await runMyuts(["exec", name, "--", "cat", "/proc/self/cgroup"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const theirs = readFileSync(`/proc/${payloadPid()}/cgroup`, "utf8");
    expect(r.stdout).toBe(theirs);
    expect(theirs).toContain(`myuts-${name}`);
  });

  test("exec into a container that isn't running is one line, exit 125", async () => {
    const r = await runMyuts(["exec", `gone${uniqueToken()}`, "--", "true"]);
    expect(r.code).toBe(125);
    expect(oneLine(r.stderr)).toContain("no such running container");
  });
});
