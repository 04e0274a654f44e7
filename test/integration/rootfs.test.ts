// --rootfs and the mounts around it: what the payload sees, what the host keeps.
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isRoot, requireBinary, runMyuts } from "../helpers/myuts.ts";
import { mountChanges, mountSnapshot, mountsUnder } from "../helpers/mounts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(30_000);

let fx: TestRootfs;
let before: string[] = [];

beforeAll(() => {
  requireBinary();
  if (isRoot) fx = createTestRootfs();
});
afterAll(() => fx?.cleanup());

/** Prints "TYPE OPTIONS" of the mount at `path` as the container sees it. */
const mountOf = (path: string) => `awk '$2 == "${path}" { print $3, $4 }' /proc/mounts`;

describe.skipIf(!isRoot)("root filesystem (needs root)", () => {
  // Every test here also proves that nothing it mounted reached the host.
  beforeAll(() => {
    before = mountSnapshot();
  });
  afterEach(() => {
    expect(mountChanges(before)).toEqual({ added: [], removed: [] });
    expect(mountsUnder(fx.base)).toEqual([]);
  });

  test("the payload sees the rootfs, not the host's files", async () => {
    const marker = join(fx.base, "host-only-marker");
    writeFileSync(marker, "host\n");
    const r = await runMyuts([
      "run",
      "--rootfs",
      fx.rootfs,
      "--",
      "sh",
      "-c",
      `cat /etc/myuts-test-rootfs; ls -a /; test -e ${marker} && echo LEAK; test -e /etc/os-release && echo LEAK; echo end`,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("inside");
    expect(lines.at(-1)).toBe("end");
    expect(r.stdout).not.toContain("LEAK");
    const listed = new Set(lines.slice(1, -1));
    const expected = new Set([".", "..", ...readdirSync(fx.rootfs)]);
    expect(listed).toEqual(expected);
  });

  test("the old root is detached: the host's mounts are not visible inside", async () => {
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--", "cat", "/proc/self/mountinfo"]);
    expect(r.code).toBe(0);
    const points = r.stdout
      .trim()
      .split("\n")
      .map((l) => l.split(" ")[4]);
    expect(points[0]).toBe("/");
    expect(points.filter((p) => p === "/")).toHaveLength(1);
    for (const p of points) expect(p).toMatch(/^\/(proc|dev|sys)?(\/|$)/);
  });

  test("--all with volumes and a tmpfs leaves no mount on the host", async () => {
    const vol = fx.scratch("vol");
    const r = await runMyuts(["run", "--all", "--rootfs", fx.rootfs, "-v", `${vol}:/data`, "--tmpfs", "/scratch", "--", "sh", "-c", "mount | wc -l"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThan(5);
  });

  test("--read-only: writes to the root fail", async () => {
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--read-only", "--", "sh", "-c", `${mountOf("/")}; touch /new-file && echo WROTE; echo end`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ ro[,\s]/);
    expect(r.stdout).not.toContain("WROTE");
    expect(r.stderr).toContain("Read-only file system");
    expect(existsSync(join(fx.rootfs, "new-file"))).toBe(false);
  });

  test("--read-only with --tmpfs: the tmpfs stays writable", async () => {
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--read-only", "--tmpfs", "/tmp", "--", "sh", "-c", "echo ok > /tmp/f && cat /tmp/f"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("ok\n");
  });

  test("-v HOST:CONTAINER: writes reach the host", async () => {
    const vol = fx.scratch("rw");
    writeFileSync(join(vol, "from-host"), "hello\n");
    const r = await runMyuts([
      "run",
      "--rootfs",
      fx.rootfs,
      "-v",
      `${vol}:/data`,
      "--",
      "sh",
      "-c",
      "cat /data/from-host; echo written > /data/from-container",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("hello\n");
    expect(readFileSync(join(vol, "from-container"), "utf8")).toBe("written\n");
  });

  test("-v HOST:CONTAINER:ro: reads work, writes fail, the host is untouched", async () => {
    const vol = fx.scratch("ro");
    writeFileSync(join(vol, "from-host"), "hello\n");
    const r = await runMyuts([
      "run",
      "--rootfs",
      fx.rootfs,
      "-v",
      `${vol}:/data:ro`,
      "--",
      "sh",
      "-c",
      `cat /data/from-host; ${mountOf("/data")}; echo x > /data/new && echo WROTE; rm /data/from-host && echo REMOVED; echo end`,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("hello\n");
    expect(r.stdout).toMatch(/ ro[,\s]/);
    expect(r.stdout).not.toContain("WROTE");
    expect(r.stdout).not.toContain("REMOVED");
    expect(r.stderr).toContain("Read-only file system");
    expect(readdirSync(vol)).toEqual(["from-host"]);
  });

  test("-v of a single file, into a directory that does not exist yet", async () => {
    const vol = fx.scratch("file");
    const file = join(vol, "config");
    writeFileSync(file, "setting=1\n");
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "-v", `${file}:/opt/app/config:ro`, "--", "cat", "/opt/app/config"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("setting=1\n");
  });

  test("-v HOST:CONTAINER:ro,idmap in a user namespace: the host's owners inside, read-only, nothing mounted on the host", async () => {
    const vol = fx.scratch("idmap");
    writeFileSync(join(vol, "f"), "x");
    chownSync(join(vol, "f"), 7, 8);
    // uid 100000 must reach the root filesystem through the fixture's private folder
    const mode = statSync(fx.base).mode & 0o7777;
    chmodSync(fx.base, 0o755);
    try {
      const maps = ["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"];
      const script = 'stat -c "%u:%g" /data/f; touch /data/new 2>&1 | grep -c "Read-only"';
      const r = await runMyuts(["run", ...maps, "--rootfs", fx.rootfs, "-v", `${vol}:/data:ro,idmap`, "--", "sh", "-c", script]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("7:8\n1\n");
      const plain = await runMyuts(["run", ...maps, "--rootfs", fx.rootfs, "-v", `${vol}:/data:ro`, "--", "stat", "-c", "%u:%g", "/data/f"]);
      expect(plain.stdout).toBe("65534:65534\n");
    } finally {
      chmodSync(fx.base, mode);
    }
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(vol);
    const refused = await runMyuts(["run", "--rootfs", fx.rootfs, "-v", `${vol}:/data:idmap`, "--", "true"]);
    expect(refused.code).toBe(125);
    expect(refused.stderr).toBe("myuts: spec: mount /data: idmap needs the mount's uidMappings and gidMappings, or a new user namespace's\n");
  });

  test("a volume that points outside the rootfs through a symlink stays inside", async () => {
    const vol = fx.scratch("escape");
    writeFileSync(join(vol, "v"), "volume\n");
    // /escape -> /../../../.. inside the rootfs must resolve to the rootfs's /, not the host's.
    const r = await runMyuts([
      "run",
      "--rootfs",
      fx.rootfs,
      "-v",
      `${vol}:/etc/../../../../${fx.base.slice(1)}/outside`,
      "--",
      "cat",
      `/${fx.base.slice(1)}/outside/v`,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("volume\n");
    expect(existsSync(join(fx.base, "outside"))).toBe(false);
  });

  test("--tmpfs PATH[:OPTIONS]: a fresh tmpfs with the options, not the rootfs's directory", async () => {
    const r = await runMyuts([
      "run",
      "--rootfs",
      fx.rootfs,
      "--tmpfs",
      "/scratch:size=1m,mode=700",
      "--",
      "sh",
      "-c",
      `${mountOf("/scratch")}; stat -c %a /scratch; echo data > /scratch/f; df -k /scratch | tail -1`,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [mount, mode, df] = r.stdout.trim().split("\n");
    expect(mount).toStartWith("tmpfs ");
    expect(mount).toContain("nosuid");
    expect(mount).toContain("nodev");
    expect(mount).toContain("noexec");
    expect(mode).toBe("700");
    expect(df?.split(/\s+/)[1]).toBe("1024");
    expect(existsSync(join(fx.rootfs, "scratch", "f"))).toBe(false);
  });

  test("/dev holds the minimal set of devices and links", async () => {
    const script = [
      "cd /dev",
      "for n in null zero full random urandom tty; do echo $n $(stat -c '%F %t:%T %a' $n); done",
      "echo ptmx $(readlink ptmx)",
      "echo fd $(readlink fd)",
      `echo pts $(${mountOf("/dev/pts")})`,
      `echo shm $(${mountOf("/dev/shm")})`,
      "echo ptsdir $(ls /dev/pts)",
      "echo nullw $(echo x > /dev/null && echo ok)",
      "echo zero $(head -c 4 /dev/zero | od -An -tx1 | tr -d ' ')",
      "echo urandom $(head -c 16 /dev/urandom | wc -c)",
      "echo full $(echo x 2>&1 > /dev/full || echo failed)",
      "echo mqueue $(test -e /dev/mqueue && echo present || echo absent)",
    ].join("\n");
    const r = await runMyuts(["run", "--share", "ipc", "--rootfs", fx.rootfs, "--", "sh", "-c", script]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = Object.fromEntries(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]),
    );
    expect(out.null).toBe("character special file 1:3 666");
    expect(out.zero).toBe("00000000");
    expect(out.full).toContain("failed");
    expect(out.random).toBe("character special file 1:8 666");
    expect(out.urandom).toBe("16");
    expect(out.tty).toBe("character special file 5:0 666");
    expect(out.ptmx).toBe("pts/ptmx");
    expect(out.fd).toBe("/proc/self/fd");
    expect(out.pts).toStartWith("devpts ");
    expect(out.pts).toContain("ptmxmode=666");
    expect(out.shm).toStartWith("tmpfs ");
    // A new devpts instance holds only its own ptmx, none of the host's terminals.
    expect(out.ptsdir).toBe("ptmx");
    expect(out.nullw).toBe("ok");
    expect(out.mqueue).toBe("absent");
  });

  test("/dev/full, by name: a write fails with ENOSPC", async () => {
    const r = await runMyuts(["run", "--rootfs", fx.rootfs, "--", "sh", "-c", "echo x > /dev/full"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("No space left on device");
  });

  test("--ipc adds /dev/mqueue, an mqueue filesystem", async () => {
    const r = await runMyuts(["run", "--ipc", "--rootfs", fx.rootfs, "--", "sh", "-c", mountOf("/dev/mqueue")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("mqueue ");
  });

  test("/sys is read-only, /proc/sys too, and /proc/timer_list is masked", async () => {
    const script = [
      mountOf("/sys"),
      mountOf("/proc/sys"),
      "touch /sys/kernel/myuts 2>/dev/null && echo SYS-WRITABLE",
      // In its own uts namespace, so even a writable /proc/sys could not rename the host.
      "(echo renamed > /proc/sys/kernel/hostname) 2>/dev/null && echo PROCSYS-WRITABLE",
      "echo timer_list $(wc -c < /proc/timer_list)",
    ].join("\n");
    const r = await runMyuts(["run", "--uts", "--rootfs", fx.rootfs, "--", "sh", "-c", script]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^sysfs ro[,\s]/);
    expect(lines[1]).toMatch(/^proc ro[,\s]/);
    expect(r.stdout).not.toContain("WRITABLE");
    expect(lines).toContain("timer_list 0");
  });

  test("/proc is mounted and belongs to the container's PID namespace", async () => {
    const r = await runMyuts(["run", "--pid", "--rootfs", fx.rootfs, "--", "sh", "-c", `${mountOf("/proc")}; readlink /proc/self`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    // Exactly one proc on /proc, as the spec asks for one.
    expect(lines).toHaveLength(2);
    expect(lines[0]).toStartWith("proc ");
    expect(Number(lines[1])).toBeLessThan(10);
  });
});
