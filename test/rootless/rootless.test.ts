// Rootless containers: a real unprivileged account runs the compiled binary through
// setpriv, and the tests read the kernel's view (uid_map, ownership on the host).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot, MYUTS, requireBinary } from "../helpers/myuts.ts";
import { createTestRootfs, removeTree, type TestRootfs } from "../helpers/rootfs.ts";
import { createTestUser, reachableBinary, type TestUser } from "./test-user.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let user: TestUser;
let fs: TestRootfs;
let work: string;
let bin: string;

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}

/** Runs argv as `who` (the test user by default) with a clean environment. */
function as(argv: string[], who?: { uid: number; gid: number }, wrap: string[] = [], env: Record<string, string> = {}): Result {
  const u = who ?? user;
  const r = Bun.spawnSync([...wrap, "setpriv", `--reuid=${u.uid}`, `--regid=${u.gid}`, "--clear-groups", "--", ...argv], {
    cwd: work,
    env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", HOME: work, LANG: "C", XDG_RUNTIME_DIR: "", ...env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: 20_000,
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const myuts = (args: string[], who?: { uid: number; gid: number }, wrap?: string[], env?: Record<string, string>) => as([bin, ...args], who, wrap, env);

/** Where myuts looks for newuidmap and newgidmap (src/lifecycle/userns.ts). */
const HELPER_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"];

/**
 * A wrapper that runs one command in a private mount namespace where no
 * newuidmap/newgidmap can be executed, whether or not the uidmap package is
 * installed: each one present is covered by a non-executable stand-in, and an empty
 * tmpfs covers /usr/local/bin. `standIn`, if given, is put there as newuidmap.
 */
function withoutIdHelpers(standIn?: string): string[] {
  const hide = HELPER_DIRS.filter((d) => d !== "/usr/local/bin")
    .flatMap((d) => ["newuidmap", "newgidmap"].map((h) => `${d}/${h}`))
    .map((f) => `if [ -e ${f} ]; then mount --bind /dev/null ${f}; fi`);
  const setup = [
    "mount -t tmpfs -o mode=0755 tmpfs /usr/local/bin",
    ...hide,
    ...(standIn ? [`cp ${standIn} /usr/local/bin/newuidmap`, "chmod 0755 /usr/local/bin/newuidmap"] : []),
  ];
  return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-euc", `${setup.join("; ")}; exec "$@"`, "sh"];
}

function oneErrorLine(r: Result): string {
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("myuts: ");
  expect(r.stderr).not.toContain("    at ");
  return lines[0]!;
}

describe.skipIf(!isRoot)("rootless (as an unprivileged user; needs root to create it)", () => {
  beforeAll(() => {
    requireBinary();
    user = createTestUser();
    fs = createTestRootfs();
    chmodSync(fs.base, 0o755);
    chownTree(fs.rootfs, user.uid, user.gid);
    work = mkdtempSync(join(tmpdir(), "rootless-"));
    chownSync(work, user.uid, user.gid);
    bin = reachableBinary(MYUTS, mkdtempSync(join(tmpdir(), "rootless-bin-")));
  });

  afterAll(() => {
    user?.remove();
    fs?.cleanup();
    if (work) removeTree(work);
    if (bin) removeTree(join(bin, ".."));
  });

  test("--map-root-user: root inside, the real user outside", () => {
    const r = myuts([
      "run",
      "--user",
      "--map-root-user",
      "--uts",
      "--pid",
      "--mount",
      "--hostname",
      "box",
      "--",
      "sh",
      "-c",
      "id -u; id -g; hostname; cat /proc/self/uid_map; echo $$",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [uid, gid, host, map, pid] = r.stdout.trim().split("\n");
    expect([uid, gid, host, pid]).toEqual(["0", "0", "box", "1"]);
    expect(map!.trim().split(/\s+/)).toEqual(["0", String(user.uid), "1"]);
  });

  test("a file root creates inside is owned by the real user on the host", () => {
    const r = myuts(["run", "-r", "--all", "--rootfs", fs.rootfs, "--", "sh", "-c", "touch /made-inside && ls -n /made-inside"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.split(/\s+/).slice(2, 4)).toEqual(["0", "0"]);
    const st = statSync(join(fs.rootfs, "made-inside"));
    expect([st.uid, st.gid]).toEqual([user.uid, user.gid]);
  });

  test("--map-users=auto maps the whole subordinate range through newuidmap", () => {
    const r = myuts([
      "run",
      "--user",
      "--map-users=auto",
      "--map-groups=auto",
      "--pid",
      "--mount",
      "-w",
      "/",
      "--",
      "sh",
      "-c",
      "cat /proc/self/uid_map /proc/self/gid_map; id -u",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/));
    expect(lines[0]).toEqual(["0", String(user.subStart), String(user.subCount)]);
    expect(lines[1]).toEqual(["0", String(user.subStart), String(user.subCount)]);
    expect(lines[2]).toEqual(["0"]);
  });

  test("--setuid/--setgid inside the mapping", () => {
    const r = myuts([
      "run",
      "--map-users=auto",
      "--map-groups=auto",
      "--setuid",
      "1000",
      "--setgid",
      "100",
      "-w",
      "/",
      "--",
      "sh",
      "-c",
      "id -u; id -g; grep CapEff /proc/self/status",
    ]);
    expect(r.stderr).toBe("");
    const [uid, gid, caps] = r.stdout.trim().split("\n");
    expect([uid, gid]).toEqual(["1000", "100"]);
    expect(caps).toMatch(/CapEff:\s+0+$/);
  });

  test("every other namespace flag works with --user, with a root filesystem", () => {
    const script = [
      "hostname",
      "echo $$",
      "ls /proc | grep -c '^[0-9]'",
      "cat /sys/class/net/lo/operstate",
      "ls /dev",
      "for n in uts pid mnt net ipc cgroup time user; do readlink /proc/self/ns/$n; done",
    ].join("; ");
    const r = myuts(["run", "-r", "--all", "--rootfs", fs.rootfs, "--hostname", "rl", "--", "sh", "-c", script]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = r.stdout.trim().split("\n");
    expect(out[0]).toBe("rl");
    expect(out[1]).toBe("1");
    expect(Number(out[2])).toBeLessThanOrEqual(3); // sh, ls and grep
    expect(out[3]).toBe("unknown"); // lo is up; loopback reports "unknown" rather than "up"
    for (const node of ["null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx"]) expect(out).toContain(node);
    const ns = out.slice(-8);
    for (const link of ns) {
      const [type, inode] = /^(\w+):\[(\d+)\]$/.exec(link)!.slice(1);
      expect(Number(inode)).not.toBe(statSync(`/proc/self/ns/${type}`).ino);
    }
  });

  test("/sys is bound from the host when there is no new network namespace", () => {
    const r = myuts(["run", "-r", "--pid", "--rootfs", fs.rootfs, "--", "sh", "-c", "ls /sys/class/net | grep -c .; touch /sys/x 2>&1 || echo ro"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(Number(r.stdout.split("\n")[0])).toBeGreaterThanOrEqual(1);
    expect(r.stdout).toContain("ro");
  });

  test("--read-only and volumes keep working inside a user namespace", () => {
    const vol = join(work, "vol");
    mkdirSync(vol, { recursive: true });
    writeFileSync(join(vol, "data"), "from-host\n");
    chownSync(vol, user.uid, user.gid);
    chownSync(join(vol, "data"), user.uid, user.gid);
    const r = myuts([
      "run",
      "-r",
      "--mount",
      "--pid",
      "--rootfs",
      fs.rootfs,
      "--read-only",
      "-v",
      `${vol}:/vol:ro`,
      "--tmpfs",
      "/scratch",
      "--",
      "sh",
      "-c",
      "cat /vol/data; touch /rootfile 2>/dev/null || echo root-ro; touch /vol/x 2>/dev/null || echo vol-ro; touch /scratch/ok && echo tmpfs-rw",
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")).toEqual(["from-host", "root-ro", "vol-ro", "tmpfs-rw"]);
  });

  test("exec joins the user, mount and PID namespaces of a running rootless container", async () => {
    const name = `rlexec${process.pid}`;
    const token = String(100_000_000 + Math.floor(Math.random() * 900_000_000));
    const env = { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", HOME: work, LANG: "C", XDG_RUNTIME_DIR: "" };
    const runner = Bun.spawn(
      [
        "setpriv",
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        "--clear-groups",
        "--",
        bin,
        "run",
        "--user",
        "--map-root-user",
        "--pid",
        "--mount",
        "--name",
        name,
        "--",
        "sleep",
        token,
      ],
      {
        cwd: work,
        env,
        stdout: "ignore",
        stderr: "pipe",
      },
    );
    try {
      const payload = async (): Promise<number | undefined> => {
        for (let i = 0; i < 250; i++) {
          for (const d of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
            try {
              if (readFileSync(`/proc/${d}/cmdline`, "utf8") === `sleep\0${token}\0`) return Number(d);
            } catch {
              // gone meanwhile
            }
          }
          await Bun.sleep(20);
        }
        return undefined;
      };
      const pid = await payload();
      expect(pid).toBeDefined();
      let r = myuts(["exec", name, "--", "true"]);
      for (let i = 0; i < 100 && r.code !== 0; i++) {
        await Bun.sleep(20);
        r = myuts(["exec", name, "--", "true"]);
      }
      r = myuts(["exec", name, "--", "sh", "-c", "readlink /proc/self/ns/user /proc/self/ns/mnt /proc/self/ns/pid; id -u; echo $$"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const out = r.stdout.trim().split("\n");
      expect(out.slice(0, 3)).toEqual(["user", "mnt", "pid"].map((t) => readlinkSync(`/proc/${pid}/ns/${t}`)));
      expect(out.slice(0, 3)).not.toEqual(["user", "mnt", "pid"].map((t) => readlinkSync(`/proc/self/ns/${t}`)));
      expect(out[3]).toBe("0"); // root inside, as the container's own process
      expect(Number(out[4])).toBeLessThan(10); // numbered in the container's PID namespace
    } finally {
      runner.kill("SIGKILL");
      await runner.exited;
    }
  });

  describe("the state directory", () => {
    const fallback = () => join(tmpdir(), `myuts-${user.uid}`);
    const clear = () => rmSync(fallback(), { recursive: true, force: true });

    test("a rootless run leaves no empty state directory behind", () => {
      clear();
      try {
        const r = myuts(["run", "-r", "--uts", "--name", "rl-state", "--", "sh", "-c", `ls ${fallback()}`]);
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe("rl-state.json\n"); // it was there while the container ran
        expect(r.code).toBe(0);
        expect(existsSync(fallback())).toBe(false);
      } finally {
        clear();
      }
    });

    test("$XDG_RUNTIME_DIR/myuts is preferred", () => {
      const xdg = join(work, "xdg");
      mkdirSync(xdg, { mode: 0o700 });
      chownSync(xdg, user.uid, user.gid);
      clear();
      try {
        const r = myuts(["run", "-r", "--uts", "--name", "rl-xdg", "--", "sh", "-c", 'ls "$XDG_RUNTIME_DIR/myuts"'], undefined, [], { XDG_RUNTIME_DIR: xdg });
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe("rl-xdg.json\n");
        expect(existsSync(join(xdg, "myuts"))).toBe(false);
        expect(existsSync(fallback())).toBe(false);
      } finally {
        rmSync(xdg, { recursive: true, force: true });
      }
    });

    test("a directory planted by another user is refused, and nothing in it is touched", () => {
      clear();
      try {
        mkdirSync(fallback(), { mode: 0o777 });
        chmodSync(fallback(), 0o777);
        // A dead owner's entry whose "cgroup" is someone's files: the old sweep deleted them.
        const victim = join(work, "victim");
        mkdirSync(victim);
        writeFileSync(join(victim, "file"), "keep\n");
        const planted = JSON.stringify({
          name: "planted",
          status: "running",
          owner: { pid: 4194304, start: "1" },
          created: "x",
          cgroup: { mode: "v1", dirs: {}, created: [victim] },
        });
        writeFileSync(join(fallback(), "planted.json"), planted);
        const named = myuts(["run", "-r", "--uts", "--name", "rl-planted", "--", "true"]);
        expect(named.code).toBe(125);
        expect(oneErrorLine(named)).toBe(
          `myuts: state directory ${fallback()}: is owned by uid 0, not by you (uid ${user.uid}); refusing to use it (remove it, or set XDG_RUNTIME_DIR)`,
        );
        const plain = myuts(["run", "-r", "--uts", "--", "true"]);
        expect(plain.code).toBe(0);
        // A plain run keeps no state: it never opens the directory.
        expect(plain.stderr).toBe("");
        expect(readdirSync(fallback())).toEqual(["planted.json"]);
        expect(readFileSync(join(fallback(), "planted.json"), "utf8")).toBe(planted);
        expect(readFileSync(join(victim, "file"), "utf8")).toBe("keep\n");
      } finally {
        clear();
      }
    });

    test("a symlink, or the user's own directory open to others, is refused", () => {
      clear();
      const elsewhere = join(work, "elsewhere");
      try {
        mkdirSync(elsewhere, { mode: 0o700 });
        chownSync(elsewhere, user.uid, user.gid);
        symlinkSync(elsewhere, fallback());
        const r = myuts(["run", "-r", "--uts", "--name", "rl-link", "--", "true"]);
        expect(r.code).toBe(125);
        expect(oneErrorLine(r)).toContain(`state directory ${fallback()}: is a symbolic link; refusing to follow it`);
        expect(readdirSync(elsewhere)).toEqual([]);
        clear();
        mkdirSync(fallback(), { mode: 0o755 });
        chmodSync(fallback(), 0o755);
        chownSync(fallback(), user.uid, user.gid);
        const w = myuts(["run", "-r", "--uts", "--name", "rl-wide", "--", "true"]);
        expect(w.code).toBe(125);
        expect(oneErrorLine(w)).toContain(`state directory ${fallback()}: has mode 0755, open to other users`);
        expect(lstatSync(fallback()).isDirectory()).toBe(true);
      } finally {
        clear();
        rmSync(elsewhere, { recursive: true, force: true });
      }
    });
  });

  describe("errors: one line, exit 125", () => {
    test("no subordinate ids names the file and the line to add", () => {
      const r = myuts(["run", "--map-users=auto", "--map-groups=auto", "--", "true"], { uid: 65534, gid: 65534 });
      expect(r.code).toBe(125);
      expect(oneErrorLine(r)).toContain('add a line like "nobody:100000:65536" to /etc/subuid');
    });

    test("a mapping beyond the user's ranges", () => {
      const r = myuts(["run", "--uidmap", `0:${user.subStart}:${user.subCount + 1}`, "--map-groups=auto", "--", "true"]);
      expect(r.code).toBe(125);
      expect(oneErrorLine(r)).toContain(`are not ${user.name}'s (/etc/subuid gives ${user.subStart}-${user.subStart + user.subCount - 1})`);
    });

    test("overlapping mappings", () => {
      const r = myuts(["run", "--uidmap", `0:${user.subStart}:10`, "--uidmap", `5:${user.subStart + 100}:1`, "--map-groups=auto", "--", "true"]);
      expect(r.code).toBe(125);
      expect(oneErrorLine(r)).toContain("uid mappings overlap");
    });

    test.skipIf(!existsSync("/usr/local/bin"))("newuidmap missing", () => {
      // Hidden from this one command, whether or not it is installed.
      const r = myuts(["run", "--map-users=auto", "--map-groups=auto", "--", "true"], undefined, withoutIdHelpers());
      expect(r.code).toBe(125);
      expect(oneErrorLine(r)).toContain("newuidmap not found");
    });

    test.skipIf(!existsSync("/usr/local/bin"))("newuidmap not setuid", () => {
      // A plain executable stand-in, whether or not the real one is installed.
      const standIn = join(work, "newuidmap-plain");
      writeFileSync(standIn, "#!/bin/sh\nexit 1\n", { mode: 0o755 });
      const r = myuts(["run", "--map-users=auto", "--map-groups=auto", "--", "true"], undefined, withoutIdHelpers(standIn));
      expect(r.code).toBe(125);
      expect(oneErrorLine(r)).toContain("newuidmap /usr/local/bin/newuidmap is neither setuid root nor has file capabilities");
    });

    test("user namespaces disabled names the sysctl", () => {
      // user.max_user_namespaces is per user namespace: set it to 0 in a fresh one.
      const r = Bun.spawnSync(
        ["unshare", "--user", "--map-root-user", "--", "sh", "-c", `echo 0 > /proc/sys/user/max_user_namespaces && exec ${bin} run -r -- true`],
        {
          stdout: "pipe",
          stderr: "pipe",
        },
      );
      const res = { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
      expect(res.code).toBe(125);
      expect(oneErrorLine(res)).toContain("user.max_user_namespaces=0");
    });

    test("without --user, namespaces need root", () => {
      const r = myuts(["run", "--uts", "--", "true"]);
      expect(r.code).toBe(125);
      expect(oneErrorLine(r)).toContain("add --user");
    });
  });
});

describe.skipIf(!isRoot)("user namespaces as root", () => {
  let rootfs: TestRootfs;
  beforeAll(() => {
    requireBinary();
    rootfs = createTestRootfs();
    // Root inside maps to 500000 outside, which must be able to reach the rootfs.
    chmodSync(rootfs.base, 0o755);
    chownTree(rootfs.rootfs, 500000, 500000);
  });
  afterAll(() => rootfs?.cleanup());

  test("an arbitrary --uidmap/--gidmap range", () => {
    const r = Bun.spawnSync(
      [
        MYUTS,
        "run",
        "--uidmap",
        "0:500000:65536",
        "--gidmap",
        "0:500000:65536",
        "--pid",
        "--rootfs",
        rootfs.rootfs,
        "--",
        "sh",
        "-c",
        "cat /proc/self/uid_map; touch /by-root",
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString().trim().split(/\s+/)).toEqual(["0", "500000", "65536"]);
    expect(statSync(join(rootfs.rootfs, "by-root")).uid).toBe(500000);
  });
});
