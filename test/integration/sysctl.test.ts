// linux.sysctl and --sysctl: written inside the container's own namespaces, seen
// there, never on the host; a setting the host would feel is refused before anything starts.
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { isRoot, requireBinary, runMyuts } from "../helpers/myuts.ts";

setDefaultTimeout(30_000);

const read = (p: string) => readFileSync(p, "utf8").trim();

describe.skipIf(!isRoot)("sysctl (needs root)", () => {
  beforeAll(requireBinary);

  test("net and IPC settings apply inside, the host's stay as they were", async () => {
    const hostForward = read("/proc/sys/net/ipv4/ip_forward");
    const hostShmmni = read("/proc/sys/kernel/shmmni");
    const want = hostForward === "1" ? "0" : "1";
    const r = await runMyuts([
      "run",
      "--net",
      "--ipc",
      "--mount",
      "--sysctl",
      `net.ipv4.ip_forward=${want}`,
      "--sysctl",
      "kernel.shmmni=1234",
      "--sysctl",
      "net/ipv4/ping_group_range=0 100",
      "--",
      "sh",
      "-c",
      "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ping_group_range",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").slice(0, 3)).toEqual([want, "1234", "0\t100"]);
    expect(read("/proc/sys/net/ipv4/ip_forward")).toBe(hostForward);
    expect(read("/proc/sys/kernel/shmmni")).toBe(hostShmmni);
  });

  test("in a user namespace too: the container's root owns its network namespace's settings", async () => {
    const r = await runMyuts(["run", "--map-root-user", "--net", "--sysctl", "net.ipv4.tcp_syncookies=0", "--", "cat", "/proc/sys/net/ipv4/tcp_syncookies"]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("0");
  });

  test("host-wide, unshared or malformed settings are refused in one line", async () => {
    const cases: Array<[string[], string]> = [
      [["--sysctl", "vm.swappiness=1"], 'linux.sysctl: "vm.swappiness": not namespaced'],
      [["--sysctl", "kernel.shmmax=1"], 'linux.sysctl: "kernel.shmmax": needs its own ipc namespace (--ipc)'],
      [["--sysctl", "net.ipv4.ip_forward=1"], "needs its own network namespace (--net)"],
      [["--net", "--sysctl", "net/../../vm/swappiness=1"], "not a sysctl name"],
      [["--sysctl", "noequals"], "run: --sysctl noequals: expected KEY=VALUE"],
      [["--net", "--sysctl", "net.ipv4.no_such_setting=1"], "sysctl net.ipv4.no_such_setting: openat: ENOENT"],
    ];
    for (const [flags, message] of cases) {
      const r = await runMyuts(["run", ...flags, "--", "true"]);
      expect(r.code).toBe(125);
      expect(r.stderr).toContain(message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});
