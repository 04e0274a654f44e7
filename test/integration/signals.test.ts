// Signals sent to `myuts run` reach the payload; killing `myuts run` outright takes
// the payload (parent-death signal) and its mounts with it.
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { isRoot, processesWith, requireBinary, sessionMembers, startMyuts, uniqueToken, waitFor, type MyutsProcess } from "../helpers/myuts.ts";
import { mountChanges, mountSnapshot, mountsUnder } from "../helpers/mounts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(30_000);

let fx: TestRootfs;
const running: MyutsProcess[] = [];

beforeAll(() => {
  requireBinary();
  if (isRoot) fx = createTestRootfs();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.dispose()));
});
afterAll(() => fx?.cleanup());

function start(args: string[]): MyutsProcess {
  const p = startMyuts(args);
  running.push(p);
  return p;
}

/** A payload that reports `sig` on stdout and exits with `code` when it arrives. */
function trapping(sig: string, code: number): string {
  // The short sleeps keep the shell between commands, where it runs traps promptly.
  return `trap 'echo got-${sig}; exit ${code}' ${sig}; echo ready; while :; do sleep 0.02; done`;
}

const FORWARDED: ReadonlyArray<[NodeJS.Signals, string]> = [
  ["SIGTERM", "TERM"],
  ["SIGINT", "INT"],
  ["SIGHUP", "HUP"],
  ["SIGQUIT", "QUIT"],
  ["SIGUSR1", "USR1"],
  ["SIGUSR2", "USR2"],
  ["SIGWINCH", "WINCH"],
];

describe.skipIf(!isRoot)("signal forwarding (needs root)", () => {
  for (const [signal, name] of FORWARDED) {
    test(`${signal} sent to myuts run reaches the payload (PID 1 of its namespace)`, async () => {
      const p = start(["run", "--pid", "--rootfs", fx.rootfs, "--", "sh", "-c", trapping(name, 40)]);
      await p.waitForStdout("ready");
      p.kill(signal);
      const r = await p.result();
      expect(r.stdout).toBe(`ready\ngot-${name}\n`);
      expect(r.code).toBe(40);
      expect(r.stderr).toBe("");
      expect(r.leftovers).toEqual([]);
    });
  }

  test("forwarding works without a PID namespace too", async () => {
    const p = start(["run", "--rootfs", fx.rootfs, "--", "sh", "-c", trapping("USR1", 41)]);
    await p.waitForStdout("ready");
    p.kill("SIGUSR1");
    const r = await p.result();
    expect(r.stdout).toBe("ready\ngot-USR1\n");
    expect(r.code).toBe(41);
  });

  test("several signals in a row each arrive", async () => {
    const script = "trap 'echo got-USR1' USR1; trap 'echo got-USR2' USR2; trap 'echo got-TERM; exit 3' TERM; echo ready; while :; do sleep 0.02; done";
    const p = start(["run", "--pid", "--rootfs", fx.rootfs, "--", "sh", "-c", script]);
    await p.waitForStdout("ready");
    p.kill("SIGUSR1");
    await p.waitForStdout("got-USR1");
    p.kill("SIGUSR2");
    await p.waitForStdout("got-USR2");
    p.kill("SIGTERM");
    const r = await p.result();
    expect(r.stdout).toBe("ready\ngot-USR1\ngot-USR2\ngot-TERM\n");
    expect(r.code).toBe(3);
  });

  test("an untrapped SIGTERM kills a payload that isn't PID 1: 128+15", async () => {
    const token = uniqueToken();
    // As PID 1 of its namespace (the default with --rootfs) it would ignore it, as in docker.
    const p = start(["run", "--share", "pid", "--rootfs", fx.rootfs, "--", "sh", "-c", `echo ready; exec sleep ${token}`]);
    await p.waitForStdout("ready");
    await waitFor(() => processesWith(token).some((x) => x.cmdline === `sleep ${token}`), 5_000, "the payload to exec sleep");
    p.kill("SIGTERM");
    const r = await p.result();
    expect(r.code).toBe(143);
    expect(r.stderr).toBe("");
  });
});

describe.skipIf(!isRoot)("myuts run killed with SIGKILL (needs root)", () => {
  async function killRuntime(args: string[], token: string): Promise<void> {
    const before = mountSnapshot();
    const p = start(args);
    await p.waitForStdout("ready");
    await waitFor(() => processesWith(token).some((x) => x.cmdline === `sleep ${token}`), 5_000, "the payload to exec sleep");
    p.kill("SIGKILL");
    await p.proc.exited;
    // The parent-death signal arrives asynchronously: poll, don't sleep.
    await waitFor(() => processesWith(token).length === 0 && sessionMembers(p.pid).length === 0, 5_000, "the payload to die with myuts").catch(() => undefined);
    expect(processesWith(token)).toEqual([]);
    expect(sessionMembers(p.pid)).toEqual([]);
    expect(mountChanges(before)).toEqual({ added: [], removed: [] });
    expect(mountsUnder(fx.base)).toEqual([]);
  }

  test("without a PID namespace, the payload dies with it", async () => {
    const token = uniqueToken();
    await killRuntime(["run", "--rootfs", fx.rootfs, "--", "sh", "-c", `echo ready; exec sleep ${token}`], token);
  });

  test("with a PID namespace and volumes, every process and mount goes", async () => {
    const token = uniqueToken();
    const vol = fx.scratch("killed");
    // Background children too: the whole namespace must go, not just PID 1.
    const script = `sleep ${token} & sleep ${token} & echo ready; exec sleep ${token}`;
    await killRuntime(["run", "--all", "--rootfs", fx.rootfs, "-v", `${vol}:/data`, "--tmpfs", "/scratch", "--", "sh", "-c", script], token);
  });

  test("with a non-root payload, the parent-death signal still holds", async () => {
    const token = uniqueToken();
    await killRuntime(["run", "--rootfs", fx.rootfs, "--setuid", "1000", "--setgid", "1000", "--", "sh", "-c", `echo ready; exec sleep ${token}`], token);
  });
});
