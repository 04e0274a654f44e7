// The payload's process: argv, environment, working directory, user and groups, stdio.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { baseEnv, isRoot, MYUTS, requireBinary, runMyuts } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(30_000);

let fx: TestRootfs;

beforeAll(() => {
  requireBinary();
  if (isRoot) fx = createTestRootfs();
});
afterAll(() => fx?.cleanup());

const envOf = (stdout: string) => stdout.trim().split("\n").sort();

/**
 * Runs a shell script with myuts as $0 and `args` as $1…: a shell passes bytes that
 * aren't UTF-8 as they are, where a JS string could not hold them. Its output lines,
 * trimmed; it must print nothing on stderr.
 */
function viaShell(script: string, ...args: string[]): string[] {
  const r = Bun.spawnSync(["sh", "-c", script, MYUTS, ...args], { env: { ...baseEnv(), LC_ALL: "C" }, stdout: "pipe", stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  return r.stdout
    .toString()
    .trimEnd()
    .split("\n")
    .map((l) => l.trim());
}

describe.skipIf(!isRoot)("the payload's process (needs root)", () => {
  test("argv passes through exactly: spaces, empty strings, flags that look like myuts's", async () => {
    const args = ["a b", "", "--uts", "-v", "--", "$HOME", "*", "ünïcödé"];
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--", "sh", "-c", 'for a in "$@"; do echo "[$a]"; done', "sh", ...args]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(args.map((a) => `[${a}]\n`).join(""));
  });

  test("with --rootfs the environment is clean: PATH, HOME, HOSTNAME only", async () => {
    const r = await runMyuts(["run", "--uts", "--hostname", "envbox", "--rootfs", fx.rootfs, "--", "env"], {
      env: baseEnv({ SECRET_FROM_HOST: "x", TERM: "xterm" }),
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(envOf(r.stdout)).toEqual(["HOME=/root", "HOSTNAME=envbox", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
  });

  test("-e KEY=VAL, -e KEY (the caller's value) and --env-file, later ones winning", async () => {
    const file = join(fx.scratch("env"), "vars.env");
    writeFileSync(file, "# comment\nFROM_FILE=file value\nOVERRIDDEN=from-file\n");
    const r = await runMyuts(
      [
        "run",
        "--rootfs",
        fx.rootfs,
        "--env-file",
        file,
        "-e",
        "OVERRIDDEN=from-flag",
        "-e",
        "COPIED",
        "-e",
        "NOT_SET_ANYWHERE",
        "-e",
        "WITH_EQ=a=b",
        "--",
        "env",
      ],
      { env: baseEnv({ COPIED: "caller's value" }) },
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const env = envOf(r.stdout);
    expect(env).toContain("FROM_FILE=file value");
    expect(env).toContain("OVERRIDDEN=from-flag");
    expect(env).toContain("COPIED=caller's value");
    expect(env).toContain("WITH_EQ=a=b");
    expect(env.filter((e) => e.startsWith("OVERRIDDEN="))).toHaveLength(1);
    expect(env.some((e) => e.startsWith("NOT_SET_ANYWHERE"))).toBe(false);
  });

  test("on the host tree the caller's environment is inherited, as with unshare", async () => {
    const r = await runMyuts(["run", "--uts", "--", "/bin/busybox", "env"], { env: baseEnv({ INHERITED_VAR: "yes" }) });
    expect(r.code).toBe(0);
    expect(envOf(r.stdout)).toContain("INHERITED_VAR=yes");
  });

  test("-w sets the working directory, creating it inside the rootfs", async () => {
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "-w", "/srv/app", "--", "sh", "-c", "pwd; echo $PWD"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("/srv/app\n/srv/app\n");
    expect(existsSync(join(fx.rootfs, "srv", "app"))).toBe(true);
  });

  test("-w with --read-only: the directory is made before the root turns read-only", async () => {
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--read-only", "-w", "/made-for-ro", "--", "sh", "-c", "pwd; touch /x 2>&1 | grep -c Read-only"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("/made-for-ro\n1\n");
    expect(r.code).toBe(0);
  });

  test("argv and an inherited environment reach the payload byte for byte, UTF-8 or not", () => {
    const script = `X="$(printf '\\372\\373')" "$0" run --pid -- /bin/sh -c 'printf %s "$1" | od -An -tx1; printf %s "$X" | od -An -tx1' sh "$(printf '\\377\\376')"`;
    expect(viaShell(script)).toEqual(["ff fe", "fa fb"]);
    // With a root filesystem only -e's names are inherited, and as exactly.
    const named = `X="$(printf 'a\\372')" "$0" run --rootfs "$1" -e X -- /bin/sh -c 'printf %s "$X" | od -An -tx1'`;
    expect(viaShell(named, fx.rootfs)).toEqual(["61 fa"]);
  });

  test("a hostname, a --rootfs path and a volume path that aren't UTF-8 reach the kernel byte for byte", () => {
    const bytes = (s: string, ...b: number[]) => Buffer.concat([Buffer.from(s), Buffer.from(b)]);
    const rootfs = bytes(`${fx.base}/rootfs-`, 0xff);
    const scratch = fx.scratch("vol");
    const vol = bytes(`${scratch}/d-`, 0xfe);
    symlinkSync(fx.rootfs, rootfs);
    mkdirSync(vol);
    writeFileSync(Buffer.concat([vol, Buffer.from("/f")]), "in the volume\n");
    try {
      const script = `"$0" run --uts --hostname "$(printf 'h\\377')" --rootfs "$(printf '%s\\377' "$1")" -v "$(printf '%s\\376' "$2"):/v" -- /bin/sh -c 'hostname | od -An -tx1; cat /v/f'`;
      expect(viaShell(script, `${fx.base}/rootfs-`, `${scratch}/d-`)).toEqual(["68 ff 0a", "in the volume"]);
    } finally {
      rmSync(rootfs, { force: true });
    }
  });

  test("--ulimit sets the payload's resource limits, as the kernel reports them", async () => {
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--ulimit", "nofile=123:456", "--ulimit", "core=0", "--", "cat", "/proc/self/limits"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Max open files\s+123\s+456\s+files\s*$/m);
    expect(r.stdout).toMatch(/^Max core file size\s+0\s+0\s+bytes\s*$/m);
  });

  test("--security-opt no-new-privileges sets the kernel's flag; it is off by default", async () => {
    const on = await runMyuts(["run", "--rootfs", fx.rootfs, "--security-opt", "no-new-privileges", "--", "grep", "NoNewPrivs", "/proc/self/status"]);
    expect(on.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    const off = await runMyuts(["run", "--rootfs", fx.rootfs, "--", "grep", "NoNewPrivs", "/proc/self/status"]);
    expect(off.stdout).toMatch(/^NoNewPrivs:\s+0$/m);
    const bad = await runMyuts(["run", "--rootfs", fx.rootfs, "--security-opt", "apparmor=docker-default", "--", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("--security-opt apparmor=docker-default: this host has no AppArmor");
  });

  test("without -w: / in a rootfs, the caller's directory on the host tree", async () => {
    const dir = fx.scratch("cwd");
    const inRootfs = await runMyuts(["run", "--rootfs", fx.rootfs, "--", "pwd"], { cwd: dir });
    expect(inRootfs.stdout).toBe("/\n");
    const onHost = await runMyuts(["run", "--uts", "--", "/bin/busybox", "pwd"], { cwd: dir });
    expect(onHost.stdout).toBe(`${dir}\n`);
  });

  test("--setuid, --setgid and --groups: seen by id and in /proc/self/status", async () => {
    const r = await runMyuts([
      "run",
      "--rootfs",
      fx.rootfs,
      "--setuid",
      "1234",
      "--setgid",
      "2345",
      "--groups",
      "10,20",
      "-G",
      "30",
      "--",
      "sh",
      "-c",
      "id; grep -E '^(Uid|Gid|Groups):' /proc/self/status; echo $HOME",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [id, uid, gid, groups, home] = r.stdout.trim().split("\n");
    expect(id).toBe("uid=1234 gid=2345 groups=10,20,30");
    expect(uid?.split(/\s+/).slice(1)).toEqual(["1234", "1234", "1234", "1234"]);
    expect(gid?.split(/\s+/).slice(1)).toEqual(["2345", "2345", "2345", "2345"]);
    expect(groups?.trim().split(/\s+/).slice(1)).toEqual(["10", "20", "30"]);
    expect(home).toBe("/");
  });

  test("as root by default, with no supplementary groups", async () => {
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--", "sh", "-c", "id; grep -E '^Groups:' /proc/self/status"]);
    expect(r.code).toBe(0);
    const [id, groups] = r.stdout.trim().split("\n");
    expect(id).toStartWith("uid=0(root) gid=0(root)");
    expect(groups?.trim()).toBe("Groups:");
  });

  test("a non-root payload cannot write where root owns", async () => {
    const r = await runMyuts([
      "run",
      "--rootfs",
      fx.rootfs,
      "--setuid",
      "1234",
      "--setgid",
      "1234",
      "--",
      "sh",
      "-c",
      "touch /etc/nope && echo WROTE; echo end",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("end\n");
    expect(r.stderr).toContain("Permission denied");
  });

  test("the default command in a rootfs is /bin/sh, reading stdin", async () => {
    const r = await runMyuts(["run", "--rootfs", fx.rootfs], { stdin: "echo from-stdin $$\nexit 3\n" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^from-stdin \d+\n$/);
    expect(r.code).toBe(3);
  });

  test("stdout and stderr are the caller's, separate", async () => {
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--", "sh", "-c", "echo out; echo err >&2"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\n");
  });

  test("no file descriptor of myuts leaks into the payload", async () => {
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--", "ls", "/proc/self/fd"]);
    expect(r.code).toBe(0);
    // 0, 1, 2 and the directory ls itself is reading.
    expect(
      r.stdout
        .trim()
        .split("\n")
        .map(Number)
        .filter((fd) => fd > 3),
    ).toEqual([]);
  });
});
