// An interactive shell on a terminal: stdio is inherited, /dev/console is that
// terminal, and the shell's job control works. script(1) provides the pty.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { isRoot, MYUTS, processesWith, requireBinary, uniqueToken, waitFor } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

let fx: TestRootfs;

describe.skipIf(!isRoot || !Bun.which("script"))("on a terminal (needs root and script(1))", () => {
  beforeAll(() => {
    requireBinary();
    fx = createTestRootfs();
  });
  afterAll(() => fx?.cleanup());

  test("an interactive shell: PID 1, /dev/console, background jobs, its exit code", () => {
    const input = ["echo pid:$$", "ls -l /dev/console", "sleep 0.3 &", "jobs", "wait", "exit 7", ""].join("\n");
    const r = Bun.spawnSync(["script", "-qefc", `${MYUTS} run --pid --mount --uts --rootfs ${fx.rootfs} -- /bin/sh -i`, "/dev/null"], {
      stdin: Buffer.from(input),
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: "/usr/bin:/bin", TERM: "dumb" },
      timeout: 20_000,
    });
    const out = r.stdout.toString().replaceAll("\r", "");
    expect(out).toContain("pid:1");
    expect(out).toMatch(/^c[rw-]{9}.* \/dev\/console$/m); // a character device: the pty
    expect(out).toMatch(/\[1\]\+? +Running +sleep 0\.3/);
    expect(r.exitCode).toBe(7);
  });

  /** Runs `shell` under script(1): a pty for the caller, as a user at a terminal has. */
  function onTerminal(shell: string, input?: string) {
    const r = Bun.spawnSync(["script", "-qefc", shell, "/dev/null"], {
      stdin: input === undefined ? "ignore" : Buffer.from(input),
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: "/usr/bin:/bin", TERM: "dumb" },
      timeout: 20_000,
    });
    return { out: r.stdout.toString().replaceAll("\r", ""), code: r.exitCode };
  }

  test("-t: a pty of the container's own with the caller's window size; the caller's terminal mode comes back", () => {
    const r = onTerminal(
      `stty rows 30 cols 100; stty -a > /tmp/.before-$$; ${MYUTS} run -t --rootfs ${fx.rootfs} -- sh -c 'stty size; test -t 0 && test -t 1 && echo tty; readlink /proc/self/fd/0; exit 5'; echo rc=$?; stty -a | diff - /tmp/.before-$$ && echo same-mode; rm -f /tmp/.before-$$`,
    );
    expect(r.out).toContain("30 100\n");
    expect(r.out).toContain("tty\n");
    // Not the caller's terminal: its slave is on the runtime's devpts, which the container doesn't see.
    expect(r.out).not.toMatch(/^\/dev\/pts\/\d+$/m);
    expect(r.out).toContain("rc=5\n");
    expect(r.out).toContain("same-mode\n");
  });

  test("-it: what the user types reaches the container's shell", () => {
    const r = Bun.spawnSync(
      [
        "sh",
        "-c",
        `(sleep 1; printf 'echo typed-$((6*7))\\n'; sleep 0.5; printf 'exit 4\\n'; sleep 1) | script -qefc "${MYUTS} run -it --rootfs ${fx.rootfs} -- sh" /dev/null`,
      ],
      { stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", TERM: "dumb" }, timeout: 20_000 },
    );
    expect(r.stdout.toString()).toContain("typed-42");
    expect(r.exitCode).toBe(4);
  });

  test("a resized terminal resizes the container's (SIGWINCH)", () => {
    const r = onTerminal(
      `stty rows 30 cols 100; (sleep 1; stty rows 40 cols 120 </dev/tty) & ${MYUTS} run -t --rootfs ${fx.rootfs} -- sh -c 'for i in 1 2 3 4 5 6; do stty size; sleep 0.4; done'`,
    );
    const sizes = r.out.split("\n").filter((l) => /^\d+ \d+$/.test(l.replace(/^\0/, "")));
    expect(sizes[0]).toContain("30 100");
    expect(sizes.at(-1)).toBe("40 120");
  });

  test("exec -it into a detached container: a terminal of its own, with what the user types and the window size", () => {
    const name = `tty${uniqueToken()}`;
    expect(Bun.spawnSync([MYUTS, "run", "-d", "--name", name, "--rootfs", fx.rootfs, "--", "sleep", "60"]).exitCode).toBe(0);
    try {
      const r = Bun.spawnSync(
        [
          "sh",
          "-c",
          `(sleep 1; printf 'echo typed-$((6*7)); stty size\\n'; sleep 0.5; printf 'exit 4\\n'; sleep 1) | script -qefc "stty rows 33 cols 90; ${MYUTS} exec -it ${name} sh" /dev/null`,
        ],
        { stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", TERM: "dumb" }, timeout: 20_000 },
      );
      const out = r.stdout.toString().replaceAll("\r", "");
      expect(out).toContain("typed-42\n33 90\n");
      expect(r.exitCode).toBe(4);
    } finally {
      Bun.spawnSync([MYUTS, "rm", "-f", name]);
    }
  });

  test("run -d -t, then attach: the terminal's output, typed input, ctrl-p ctrl-q detaches and it runs on; attach again, its exit code", () => {
    const name = `tty${uniqueToken()}`;
    const shell = (input: string, rows: number) =>
      Bun.spawnSync(["sh", "-c", `(sleep 1; ${input}; sleep 1) | script -qefc "stty rows ${rows} cols 90; ${MYUTS} attach ${name}" /dev/null`], {
        stdout: "pipe",
        stderr: "pipe",
        env: { PATH: "/usr/bin:/bin", TERM: "dumb" },
        timeout: 20_000,
      });
    try {
      const started = Bun.spawnSync([MYUTS, "run", "-d", "-t", "--name", name, "--rootfs", fx.rootfs, "--", "sh"], { stdout: "pipe", stderr: "pipe" });
      expect([started.exitCode, started.stdout.toString()]).toEqual([0, `${name}\n`]);
      const first = shell("printf 'echo typed-$((6*7))\\n'; sleep 0.5; printf '\\020\\021'", 33);
      const out = first.stdout.toString().replaceAll("\r", "");
      expect(out).toContain("typed-42\n");
      expect(out).toContain(`myuts: detached from ${name}, which goes on running`);
      expect(first.exitCode).toBe(0);
      const ps = Bun.spawnSync([MYUTS, "ps", "--format", "json"], { stdout: "pipe" });
      expect(JSON.parse(ps.stdout.toString()).find((c: { Name: string }) => c.Name === name)?.State.Status).toBe("running");
      const second = shell("printf 'stty size; exit 3\\n'", 40);
      expect(second.stdout.toString().replaceAll("\r", "")).toContain("40 90\n");
      expect(second.exitCode).toBe(3);
      // What the terminal showed is the log too.
      const logs = Bun.spawnSync([MYUTS, "logs", name], { stdout: "pipe" }).stdout.toString();
      expect(logs).toContain("typed-42");
    } finally {
      Bun.spawnSync([MYUTS, "rm", "-f", name]);
    }
  });

  test("run -it at a terminal: ctrl-p ctrl-q detaches and it runs on; a normal end leaves nothing; a killed runtime takes it along", async () => {
    const name = `fg${uniqueToken()}`;
    const sh = (line: string) =>
      Bun.spawnSync(["sh", "-c", line], { stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", TERM: "dumb" }, timeout: 20_000 });
    try {
      const first = sh(
        `(sleep 1; printf 'echo typed-$((6*7))\\n'; sleep 0.5; printf '\\020\\021'; sleep 1) | script -qefc "${MYUTS} run -it --name ${name} --rootfs ${fx.rootfs} -- sh" /dev/null`,
      );
      const out = first.stdout.toString().replaceAll("\r", "");
      expect(out).toContain("BusyBox"); // the shell's first words, written before anyone typed
      expect(out).toContain("typed-42\n");
      expect(out).toContain(`myuts: detached from ${name}, which goes on running`);
      expect(first.exitCode).toBe(0);
      const ps = JSON.parse(Bun.spawnSync([MYUTS, "ps", "--format", "json"], { stdout: "pipe" }).stdout.toString());
      expect(ps.find((c: { Name: string }) => c.Name === name)?.State.Status).toBe("running");
      const back = sh(`(sleep 1; printf 'exit 3\\n'; sleep 1) | script -qefc "${MYUTS} attach ${name}" /dev/null`);
      expect(back.exitCode).toBe(3);
    } finally {
      Bun.spawnSync([MYUTS, "rm", "-f", name]);
    }
    // Ended while attached: its code, and nothing of it stays.
    const plain = `fg${uniqueToken()}`;
    const ended = sh(`script -qefc "${MYUTS} run -t --name ${plain} --rootfs ${fx.rootfs} -- sh -c 'echo early; exit 5'" /dev/null < /dev/null`);
    expect(ended.stdout.toString()).toContain("early");
    expect(ended.exitCode).toBe(5);
    expect(existsSync(`/run/myuts/.containers/${plain}`)).toBe(false);
    expect(existsSync(`/run/myuts/${plain}.json`)).toBe(false);
    // The runtime killed: the container dies with it, and the next sweep leaves nothing.
    const killed = `fg${uniqueToken()}`;
    const bg = Bun.spawn(["script", "-qefc", `${MYUTS} run -t --name ${killed} --rootfs ${fx.rootfs} -- sleep 60`, "/dev/null"], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      await waitFor(() => existsSync(`/run/myuts/${killed}.json`), 10_000, "the container");
      const pid = JSON.parse(readFileSync(`/run/myuts/${killed}.json`, "utf8")).pid as number;
      await waitFor(() => processesWith(`run -t --name ${killed}`).length > 0, 5_000, "the runtime");
      for (const p of processesWith(`run -t --name ${killed}`)) if (!p.cmdline.startsWith("script")) process.kill(p.pid, "SIGKILL");
      await waitFor(() => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z"), 5_000, "the container's end");
      Bun.spawnSync([MYUTS, "ps", "-a"]);
      expect(existsSync(`/run/myuts/.containers/${killed}`)).toBe(false);
      expect(existsSync(`/run/myuts/${killed}.json`)).toBe(false);
    } finally {
      bg.kill();
      Bun.spawnSync([MYUTS, "rm", "-f", killed]);
    }
  });
});
