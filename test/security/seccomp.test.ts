// Seccomp against the kernel: a bundle's linux.seccomp (actions, errnos, argument
// comparisons), exec'd processes filtered as the container's first one, profiles in
// docker's format, and the one line a bad profile gets. The compiler's own cases
// run without root in test/unit/seccomp.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { baseEnv, isRoot, MYUTS, requireBinary, runMyuts, startMyuts, uniqueToken, type MyutsProcess } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";
import type { LinuxSeccomp } from "../../src/spec/types.ts";

let fx: TestRootfs;
const running: MyutsProcess[] = [];

/** A bundle running `script` under `seccomp`, built from the spec run's flags give. */
function bundle(seccomp: LinuxSeccomp, script: string): string {
  const made = Bun.spawnSync([MYUTS, "spec", "--rootfs", fx.rootfs, "--", "sh", "-c", script], { env: baseEnv(), stdout: "pipe" });
  const spec = JSON.parse(made.stdout.toString());
  spec.linux.seccomp = seccomp;
  const dir = fx.scratch("bundle");
  writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
  return dir;
}

describe.skipIf(!isRoot)("seccomp filters (needs root)", () => {
  beforeAll(() => {
    requireBinary();
    fx = createTestRootfs();
  });
  afterAll(async () => {
    for (const p of running) {
      try {
        p.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    await Promise.all(running.map((p) => p.result()));
    fx?.cleanup();
  });

  test("a bundle's filter: the listed call gets its errno, an argument comparison picks one case, the rest runs", async () => {
    const dir = bundle(
      {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [
          { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
          // kill(pid, 0) alone: signal 0 is the probe, any real signal passes.
          { names: ["kill"], action: "SCMP_ACT_ERRNO", errnoRet: 38, args: [{ index: 1, value: 0, op: "SCMP_CMP_EQ" }] },
        ],
      },
      "grep ^Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; kill -0 $$ 2>&1; kill -CONT $$ && echo cont-ok; echo done",
    );
    const r = await runMyuts(["run", "-b", dir, `sc${uniqueToken()}`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^Seccomp:\s+2$/);
    expect(lines[1]).toContain("Permission denied");
    expect(lines[2]).toContain("Function not implemented");
    expect(lines.slice(3)).toEqual(["cont-ok", "done"]);
  });

  test("SCMP_ACT_KILL_PROCESS ends the payload with SIGSYS: 128+31", async () => {
    const dir = bundle(
      { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_KILL_PROCESS" }] },
      "echo before; exec mkdir /tmp/k",
    );
    const r = await runMyuts(["run", "-b", dir, `sc${uniqueToken()}`]);
    expect(r.stdout).toBe("before\n");
    expect(r.code).toBe(128 + 31);
  });

  test("exec'd processes are filtered as the container's first one: a bundle's, and a --rootfs container's default profile", async () => {
    const id = `sc${uniqueToken()}`;
    const dir = bundle({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }] }, "sleep 30");
    const c = startMyuts(["run", "-b", dir, id]);
    running.push(c);
    const name = `sc${uniqueToken()}`;
    const d = startMyuts(["run", "--name", name, "--rootfs", fx.rootfs, "--", "sleep", "30"]);
    running.push(d);
    const execUntil = async (target: string, script: string) => {
      for (let i = 0; i < 100; i++) {
        const r = await runMyuts(["exec", target, "--", "sh", "-c", script]);
        if (r.code === 0) return r.stdout;
        await Bun.sleep(30);
      }
      throw new Error(`exec into ${target} never worked`);
    };
    const inBundle = await execUntil(id, "grep ^Seccomp: /proc/self/status; mkdir /tmp/e 2>&1; true");
    expect(inBundle).toMatch(/^Seccomp:\s+2\n.*Permission denied/);
    const inDefault = await execUntil(name, "grep ^Seccomp: /proc/self/status; unshare -U true 2>&1; true");
    expect(inDefault).toMatch(/^Seccomp:\s+2\n.*Operation not permitted/);
    c.kill("SIGKILL");
    d.kill("SIGKILL");
  });

  test("--security-opt seccomp=FILE reads docker's format (podman's own profile where installed); a bad one gets one line", async () => {
    const docker = fx.scratch("profiles");
    const file = join(docker, "deny-mkdir.json");
    writeFileSync(
      file,
      JSON.stringify({
        defaultAction: "SCMP_ACT_ALLOW",
        archMap: [{ architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86"] }],
        syscalls: [
          { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13, excludes: { caps: ["CAP_SYS_ADMIN"] } },
          { name: "rmdir", action: "SCMP_ACT_ERRNO" },
        ],
      }),
    );
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--security-opt", `seccomp=${file}`, "--", "sh", "-c", "mkdir /tmp/x 2>&1; echo done"]);
    expect(r.stdout).toContain("Permission denied");
    // The rule excludes CAP_SYS_ADMIN: with it added, mkdir works.
    const admin = await runMyuts([
      "run",
      "--rootfs",
      fx.rootfs,
      "--cap-add",
      "SYS_ADMIN",
      "--security-opt",
      `seccomp=${file}`,
      "--",
      "sh",
      "-c",
      "mkdir /tmp/x && echo made",
    ]);
    expect(admin.stdout).toBe("made\n");
    if (existsSync("/usr/share/containers/seccomp.json")) {
      // podman's profile allows unshare (for nested containers) but not mount without CAP_SYS_ADMIN.
      const podman = await runMyuts([
        "run",
        "--rootfs",
        fx.rootfs,
        "--security-opt",
        "seccomp=/usr/share/containers/seccomp.json",
        "--",
        "sh",
        "-c",
        "echo ok; mkdir -p /m; mount -t tmpfs t /m 2>/dev/null || echo refused",
      ]);
      expect(podman.stderr).toBe("");
      expect(podman.stdout).toBe("ok\nrefused\n");
    }
    const bad = join(docker, "bad.json");
    for (const [profile, words] of [
      [{ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["no_such_call"], action: "SCMP_ACT_ALLOW" }] }, 'unknown system call "no_such_call"'],
      [{ defaultAction: "SCMP_ACT_MAYBE" }, 'unknown action "SCMP_ACT_MAYBE"'],
      ["not json", "not valid JSON"],
    ] as const) {
      writeFileSync(bad, typeof profile === "string" ? profile : JSON.stringify(profile));
      const e = await runMyuts(["run", "--rootfs", fx.rootfs, "--security-opt", `seccomp=${bad}`, "--", "true"]);
      expect(e.code).toBe(125);
      expect(e.stderr).toContain(words);
      expect(e.stderr.trim().split("\n")).toHaveLength(1);
    }
    mkdirSync(join(docker, "a-dir"));
    const dirProfile = await runMyuts(["run", "--rootfs", fx.rootfs, "--security-opt", `seccomp=${join(docker, "a-dir")}`, "--", "true"]);
    expect(dirProfile.code).toBe(125);
    expect(dirProfile.stderr.trim().split("\n")).toHaveLength(1);
  });

  test("SCMP_ACT_NOTIFY: the listener reaches the agent with the container's state, for run, create/start and exec alike", async () => {
    const dir = fx.scratch("agent");
    const agentBin = join(dir, "agent");
    const built = Bun.spawnSync(["gcc", "-O2", "-o", agentBin, join(import.meta.dir, "fixtures", "agent.c")], { stderr: "pipe" });
    expect(built.stderr.toString()).toBe("");
    const sock = join(dir, "agent.sock");
    const log = join(dir, "agent.log");
    // ENOMEDIUM: an answer only the agent gives.
    const agent = Bun.spawn([agentBin, sock, log, "123"], { stdout: "pipe", stderr: "inherit" });
    try {
      await new Response(agent.stdout).body!.getReader().read();
      const seccomp: LinuxSeccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        listenerPath: sock,
        listenerMetadata: "probe-metadata",
        syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_NOTIFY" }],
      };
      const once = bundle(seccomp, "mkdir /tmp/a 2>&1; echo done");
      const id = `sc${uniqueToken()}`;
      const r = await runMyuts(["run", "-b", once, id]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("mkdir: can't create directory '/tmp/a': No medium found\ndone\n");
      const first = JSON.parse(readFileSync(log, "utf8").split("\n")[0]!);
      expect(first).toMatchObject({ fds: ["seccompFd"], metadata: "probe-metadata", state: { id, status: "creating", bundle: once } });
      expect(first.pid).toBe(first.state.pid);

      const held = bundle(seccomp, "sleep 30");
      const cid = `sc${uniqueToken()}`;
      // Files, not pipes, for create's stdio: the created container keeps them open.
      const out = join(dir, "create.out");
      expect(Bun.spawnSync([MYUTS, "create", "-b", held, cid], { env: baseEnv(), stdout: Bun.file(out), stderr: Bun.file(out) }).exitCode).toBe(0);
      try {
        expect((await runMyuts(["start", cid])).code).toBe(0);
        const e = await runMyuts(["exec", cid, "--", "sh", "-c", "mkdir /tmp/b 2>&1; true"]);
        expect(e.stdout).toBe("mkdir: can't create directory '/tmp/b': No medium found\n");
        const states = readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .slice(1)
          .map((l) => JSON.parse(l).state);
        expect(states.map((x: { id: string; status: string }) => [x.id, x.status])).toEqual([
          [cid, "creating"],
          [cid, "running"],
        ]);
      } finally {
        await runMyuts(["delete", "--force", cid]);
      }
    } finally {
      agent.kill("SIGKILL");
      await agent.exited;
    }
    // No agent: one line naming the path and the errno, and nothing starts.
    const gone = bundle(
      { ...{ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_NOTIFY" }] }, listenerPath: join(dir, "none.sock") },
      "echo ran",
    );
    const e = await runMyuts(["run", "-b", gone, `sc${uniqueToken()}`]);
    expect(e.code).toBe(125);
    expect(e.stdout).toBe("");
    expect(e.stderr).toBe(`myuts: linux.seccomp.listenerPath ${join(dir, "none.sock")}: connect: ENOENT (No such file or directory)\n`);
  });

  test("the bare unshare-style form keeps the caller's privileges: no filter unless asked", async () => {
    const r = await runMyuts(["run", "--pid", "--mount", "--", "grep", "^Seccomp:", "/proc/self/status"]);
    expect(r.stdout.trim()).toMatch(/^Seccomp:\s+0$/);
    const root = await runMyuts(["run", "--rootfs", fx.rootfs, "--", "grep", "^Seccomp:", "/proc/self/status"]);
    expect(root.stdout.trim()).toMatch(/^Seccomp:\s+2$/);
    const priv = await runMyuts(["run", "--privileged", "--rootfs", fx.rootfs, "--", "grep", "^Seccomp:", "/proc/self/status"]);
    expect(priv.stdout.trim()).toMatch(/^Seccomp:\s+0$/);
  });
});
