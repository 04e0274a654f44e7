// Each namespace flag, checked where the kernel shows it: /proc/self/ns, the
// hostname, PID 1, the interfaces, the time offsets and lsns on the host.
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { hostname } from "node:os";
import { existsSync, readFileSync, rmdirSync, statSync } from "node:fs";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";
import { isRoot, nsInode, processesWith, requireBinary, runMyuts, startMyuts, uniqueToken, waitFor, type MyutsProcess } from "../helpers/myuts.ts";
import { mountSnapshot, mountChanges } from "../helpers/mounts.ts";

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

const NS_FILES = ["uts", "ipc", "net", "pid", "mnt", "cgroup", "time"] as const;

/** `readlink /proc/self/ns/X` for every X, printed by the payload as "X inode" lines. */
const PRINT_NS = NS_FILES.map((n) => `echo ${n} $(readlink /proc/self/ns/${n} | tr -dc 0-9)`).join("; ");

function parseNs(stdout: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of stdout.trim().split("\n")) {
    const [k, v] = line.split(" ");
    if (k && v) out[k] = Number(v);
  }
  return out;
}

describe.skipIf(!isRoot)("namespaces (needs root)", () => {
  test("--hostname is set inside; the host keeps its own", async () => {
    const before = hostname();
    const r = await runMyuts([
      "--debug",
      "run",
      "--uts",
      "--hostname",
      "myuts-box",
      "--domainname",
      "myuts-dom",
      "--",
      "sh",
      "-c",
      "hostname; cat /proc/sys/kernel/domainname",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("myuts-box\nmyuts-dom\n");
    expect(hostname()).toBe(before);
    expect(readFileSync("/proc/sys/kernel/hostname", "utf8").trim()).toBe(before);
  });

  test("changing the hostname inside --uts does not touch the host's", async () => {
    const before = hostname();
    // On the host tree, where the payload keeps CAP_SYS_ADMIN and may call sethostname itself.
    const r = await runMyuts(["run", "--uts", "--", "/bin/busybox", "sh", "-c", "hostname changed-inside && hostname"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("changed-inside\n");
    expect(hostname()).toBe(before);
  });

  test("--all: every namespace differs from the host's", async () => {
    const r = await runMyuts(["run", "--all", "--rootfs", fx.rootfs, "--", "sh", "-c", PRINT_NS]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const inside = parseNs(r.stdout);
    for (const n of NS_FILES) {
      expect({ ns: n, inode: inside[n] }).not.toEqual({ ns: n, inode: nsInode("self", n) });
      expect(inside[n]).toBeGreaterThan(0);
    }
  });

  test("each flag alone creates its namespace and no other", async () => {
    const flags: Record<string, (typeof NS_FILES)[number]> = { "-u": "uts", "-i": "ipc", "-n": "net", "-C": "cgroup", "-T": "time", "-p": "pid", "-m": "mnt" };
    const results = await Promise.all(Object.keys(flags).map((f) => runMyuts(["run", f, "--", "/bin/busybox", "sh", "-c", PRINT_NS])));
    Object.entries(flags).forEach(([flag, ns], i) => {
      const r = results[i]!;
      expect({ flag, code: r.code, stderr: r.stderr }).toEqual({ flag, code: 0, stderr: "" });
      const inside = parseNs(r.stdout);
      for (const n of NS_FILES) {
        const isNew = inside[n] !== nsInode("self", n);
        expect({ flag, ns: n, isNew }).toEqual({ flag, ns: n, isNew: n === ns });
      }
    });
  });

  test("--pid: the payload is PID 1 and /proc shows only the container's processes", async () => {
    const r = await runMyuts(["run", "--pid", "--rootfs", fx.rootfs, "--", "sh", "-c", "echo $$; ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [pid, procs] = r.stdout.split("\n");
    expect(pid).toBe("1");
    // sh (1), the pipeline's ls, grep, sort and tr: nothing of the host's.
    const pids = (procs ?? "").trim().split(" ").map(Number);
    expect(pids[0]).toBe(1);
    expect(pids.length).toBeLessThanOrEqual(6);
    expect(Math.max(...pids)).toBeLessThan(20);
  });

  test("--pid --mount on the host tree remounts /proc (like unshare --mount-proc) without touching the host's", async () => {
    const before = mountSnapshot();
    const r = await runMyuts(["run", "--pid", "--mount", "--", "/bin/busybox", "sh", "-c", "echo $$; ls /proc | grep -cE '^[0-9]+$'"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [pid, count] = r.stdout.trim().split("\n");
    expect(pid).toBe("1");
    expect(Number(count)).toBeLessThanOrEqual(4);
    expect(mountChanges(before)).toEqual({ added: [], removed: [] });
  });

  test("--net holds only lo, and lo is UP", async () => {
    const r = await runMyuts(["run", "--net", "--rootfs", fx.rootfs, "--", "sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags; ip -o link"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [ifaces, flags, ...links] = r.stdout.trim().split("\n");
    expect(ifaces).toBe("lo");
    expect(Number(flags) & 1).toBe(1); // IFF_UP
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(/^1: lo: <[^>]*\bUP\b/);
  });

  test("--network ns:PATH joins an existing network namespace; host keeps the host's; the rest are refused", async () => {
    const name = `nstest${uniqueToken()}`;
    const ip = (...args: string[]) => Bun.spawnSync(["ip", ...args], { stdout: "pipe", stderr: "pipe" });
    // iproute2 makes /run/netns a mount point on first use: the test leaves the host as it found it.
    const hadDir = existsSync("/run/netns");
    const hadMount = readFileSync("/proc/self/mountinfo", "utf8").includes(" /run/netns ");
    expect(ip("netns", "add", name).exitCode).toBe(0);
    try {
      const r = await runMyuts(["run", "--uts", "--network", `ns:/run/netns/${name}`, "--", "sh", "-c", "readlink /proc/self/ns/net; ip -o link"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const [link, ...links] = r.stdout.trim().split("\n");
      expect(link).toBe(`net:[${statSync(`/run/netns/${name}`).ino}]`);
      // It is that namespace as it was: myuts brings lo up only in namespaces it creates.
      expect(links).toHaveLength(1);
      expect(links[0]).toMatch(/^1: lo: <LOOPBACK>/);
    } finally {
      ip("netns", "del", name);
      if (!hadMount) Bun.spawnSync(["umount", "/run/netns"], { stderr: "ignore" });
      if (!hadDir) rmdirSync("/run/netns");
    }
    const host = await runMyuts(["run", "--all", "--network", "host", "--", "readlink", "/proc/self/ns/net"]);
    expect(host.stdout.trim()).toBe(`net:[${nsInode("self", "net")}]`);
    // (bridge and a network's name are test/integration/network.test.ts's)
    const bad = await runMyuts(["run", "--network", "no/such", "--", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("--network no/such: expected none, host, bridge, slirp4netns, a network's name or ns:PATH");
  });

  test("--net: lo answers on 127.0.0.1", async () => {
    const r = await runMyuts(["run", "--net", "--rootfs", fx.rootfs, "--", "ping", "-c", "1", "-W", "2", "127.0.0.1"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("1 packets received");
  });

  test("--monotonic shows in /proc/self/timens_offsets and moves CLOCK_MONOTONIC", async () => {
    const r = await runMyuts(["run", "--time", "--monotonic", "86400", "--rootfs", fx.rootfs, "--", "cat", "/proc/self/timens_offsets"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^monotonic\s+86400\s+0$/m);
    expect(r.stdout).toMatch(/^boottime\s+0\s+0$/m);
  });

  test("--boottime moves /proc/uptime relative to the host's", async () => {
    const hostUptime = () => Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    const low = hostUptime();
    const r = await runMyuts(["run", "--boottime", "100000", "--rootfs", fx.rootfs, "--", "cat", "/proc/uptime", "/proc/self/timens_offsets"]);
    const high = hostUptime();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const inside = Number(r.stdout.split(" ")[0]);
    expect(inside).toBeGreaterThanOrEqual(low + 100000 - 1);
    expect(inside).toBeLessThanOrEqual(high + 100000 + 1);
    expect(r.stdout).toMatch(/^boottime\s+100000\s+0$/m);
  });

  test("lsns on the host lists the container's namespaces with the payload's command while it runs", async () => {
    const token = uniqueToken();
    const p = startMyuts(["run", "--all", "--rootfs", fx.rootfs, "--", "sh", "-c", `echo ready; exec sleep ${token}`]);
    running.push(p);
    await p.waitForStdout("ready");
    let payload = 0;
    await waitFor(
      () => {
        const found = processesWith(token).filter((x) => x.cmdline === `sleep ${token}`);
        payload = found[0]?.pid ?? 0;
        return found.length === 1;
      },
      5_000,
      "the payload on the host",
    );

    const lsns = Bun.spawnSync(["lsns", "--raw", "--noheadings", "-o", "NS,TYPE,PID,COMMAND"], { stdout: "pipe", stderr: "pipe" });
    expect(lsns.exitCode).toBe(0);
    const rows = lsns.stdout
      .toString()
      .trim()
      .split("\n")
      .map((l) => l.split(" "))
      .filter((f) => Number(f[2]) === payload);
    const types = rows.map((f) => f[1]).sort();
    expect(types).toEqual(["cgroup", "ipc", "mnt", "net", "pid", "time", "uts"]);
    for (const f of rows) {
      expect(Number(f[0])).toBe(nsInode(payload, f[1]!));
      expect(Number(f[0])).not.toBe(nsInode("self", f[1]!));
      expect(f.slice(3).join(" ")).toContain(`sleep\\x20${token}`);
    }
  });
});
