// Odd and hostile command lines: every one is refused with one line naming the
// flag, before anything is created.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { debugRequested, parseArgv } from "../../src/cli/argv.ts";
import { usage } from "../../src/cli/main.ts";
import { versionCli } from "../../src/cli/version.ts";
import { parseResourceFlags, RESOURCE_FLAGS } from "../../src/cli/resource-flags.ts";
import { parseRunArgs, RUN_FLAGS } from "../../src/cli/run-flags.ts";
import { STATS_FLAGS } from "../../src/cli/stats.ts";
import { notADirectoryHint } from "../../src/spec/rootfs-hint.ts";
import { specFromRun } from "../../src/spec/from-run.ts";
import { escapeControl } from "../../src/util/text.ts";
import { failure } from "../helpers/user-error.ts";

const parse = (argv: string[], env: Record<string, string | undefined> = {}) => parseRunArgs(argv, env);
const HOST = { env: {}, cwd: "/", uid: 0, gid: 0, stdinIsTTY: false };
const spec = (argv: string[]) => specFromRun(parse(argv), HOST);
const resources = (...a: string[]) => parseResourceFlags(parseArgv(a, RESOURCE_FLAGS, "run"));

let dir = "";
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "myuts-unit-hostile-"))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("empty paths", () => {
  test("--rootfs '' and --rootfs= would be the current directory: refused", () => {
    expect(failure(() => parse(["--rootfs", ""])).message).toBe("run: --rootfs: empty path");
    expect(failure(() => parse(["--rootfs="])).message).toBe("run: --rootfs: empty path");
  });

  test("-w, --env-file, --tmpfs, --cgroup-parent and -v", () => {
    expect(failure(() => parse(["-w", ""])).message).toBe("run: --workdir: empty path");
    expect(failure(() => parse(["--env-file="])).message).toBe("run: --env-file: empty path");
    expect(failure(() => parse(["--tmpfs", ""])).message).toBe("run: --tmpfs: empty value");
    expect(failure(() => parse(["--cgroup-parent="])).message).toBe("run: --cgroup-parent: empty path");
    expect(failure(() => parse(["-v", ""])).message).toBe("run: --volume: empty value");
    expect(failure(() => spec(["-v", ":/x"])).message).toContain("--volume :/x: empty host path");
    expect(failure(() => spec(["-v", "/x:"])).message).toContain("--volume /x:: empty container path");
    expect(failure(() => spec(["-v", "/x:/y:"])).message).toContain("--volume /x:/y:: empty mode");
  });
});

describe("numbers the kernel would refuse or misread", () => {
  test("--cpus below the 1000 µs minimum quota (which would round to 0, 'unlimited')", () => {
    expect(failure(() => resources("--cpus", "0.000001")).message).toBe(
      "run: --cpus 0.000001: below the kernel's minimum CFS quota of 1000 µs per 100000 µs period (the least is --cpus 0.01)",
    );
    expect(failure(() => resources("--cpus", "0.009")).message).toContain("minimum CFS quota");
    expect(resources("--cpus", "0.01").resources?.cpu).toEqual({ quota: 1000, period: 100000 });
    expect(failure(() => resources("--cpus", "2000")).message).toBe("run: --cpus 2000: must be a number of CPUs from 0.01 to 1024");
  });

  test("--pids-limit within pids.max's range", () => {
    expect(failure(() => resources("--pids-limit", "2147483648")).message).toBe("run: --pids-limit 2147483648: must be a whole number from -1 to 4194304");
    expect(failure(() => resources("--pids-limit", "4194305")).message).toContain("from -1 to 4194304");
    expect(resources("--pids-limit", "4194304").resources?.pids).toEqual({ limit: 4194304 });
  });

  test("--cpu-quota, --cpu-period, --blkio-weight, --oom-score-adj and --memory-swappiness: the real ranges", () => {
    expect(failure(() => resources("--cpu-quota", "999")).message).toContain("minimum quota of 1000 µs");
    expect(failure(() => resources("--cpu-quota", String(2 ** 44))).message).toContain(`from -1 to ${2 ** 44 - 1}`);
    expect(failure(() => resources("--cpu-period", "1000001")).message).toContain("from 1000 to 1000000");
    expect(failure(() => resources("--blkio-weight", "5")).message).toContain("from 10 to 1000");
    expect(failure(() => resources("--oom-score-adj", "1001")).message).toContain("from -1000 to 1000");
    expect(failure(() => resources("--memory-swappiness", "101")).message).toContain("from 0 to 100");
    expect(failure(() => resources("--memory", "99999999999p")).message).toContain("not a size");
  });

  test("--monotonic and --boottime within the kernel's clock range", () => {
    expect(failure(() => parse(["--monotonic", "99999999999"])).message).toContain("must be from -9223372036 to 9223372036 seconds");
  });
});

describe("control characters", () => {
  test("are escaped in messages, so a value can't split the line", () => {
    expect(escapeControl("a\nb\tc\r\x1b[31m\x7f\u0085\u2028")).toBe("a\\nb\\tc\\r\\x1b[31m\\x7f\\x85\\u2028");
    expect(escapeControl("plain é ü")).toBe("plain é ü");
  });

  test("are refused in --hostname and --domainname", () => {
    expect(failure(() => parse(["--hostname", "a\nb"])).message).toContain("--hostname");
    expect(failure(() => parse(["--hostname", "a\nb"])).message).toContain("contains a control character");
    expect(failure(() => parse(["--domainname", "x\x1b"])).message).toContain("contains a control character");
  });
});

describe("--env-file", () => {
  test("a FIFO is refused at once instead of blocking", () => {
    const fifo = join(dir, "fifo");
    Bun.spawnSync(["mkfifo", fifo]);
    const t = performance.now();
    expect(failure(() => parse(["--env-file", fifo])).message).toBe(
      `run: --env-file ${fifo}: a FIFO, not a regular file; give a regular file of at most 1 MiB`,
    );
    expect(performance.now() - t).toBeLessThan(1000);
  });

  test("/dev/zero and a file over 1 MiB are refused", () => {
    expect(failure(() => parse(["--env-file", "/dev/zero"])).message).toBe(
      "run: --env-file /dev/zero: a character device, not a regular file; give a regular file of at most 1 MiB",
    );
    const big = join(dir, "big");
    writeFileSync(big, `A=${"x".repeat(1024 * 1024)}\n`);
    expect(failure(() => parse(["--env-file", big])).message).toContain("larger than 1 MiB");
  });

  test("many variables parse in linear time", () => {
    const time = (n: number) => {
      const f = join(dir, `env-${n}`);
      writeFileSync(f, Array.from({ length: n }, (_, i) => `K${i}=v${i}`).join("\n"));
      const t = performance.now();
      const s = spec(["--env-file", f, "-e", "K0=last", "true"]);
      expect(s.process?.env?.length).toBeGreaterThanOrEqual(n);
      expect(s.process?.env).toContain("K0=last");
      return performance.now() - t;
    };
    time(1000); // warm up
    const small = time(8_000);
    const large = time(64_000);
    // Quadratic would be 64×; allow noise, never that.
    expect(large).toBeLessThan(Math.max(small * 24, 500));
    expect(large).toBeLessThan(2000);
  });
});

describe("--debug after the command", () => {
  test("is found among the options, not in the payload's argv or a flag's value", () => {
    expect(debugRequested(["--debug", "true"], RUN_FLAGS)).toBe(true);
    expect(debugRequested(["--uts", "--debug", "--rootfs=x"], RUN_FLAGS)).toBe(true);
    expect(debugRequested(["--uts", "true", "--debug"], RUN_FLAGS)).toBe(false);
    expect(debugRequested(["--", "--debug"], RUN_FLAGS)).toBe(false);
    expect(debugRequested(["--hostname", "--debug", "true"], RUN_FLAGS)).toBe(false);
    expect(debugRequested(["-uv", "--debug", "true"], RUN_FLAGS)).toBe(false);
    expect(debugRequested(["--no-such-flag", "--debug"], RUN_FLAGS)).toBe(true);
    expect(debugRequested(["box", "--debug"], STATS_FLAGS, true)).toBe(true);
    expect(debugRequested(["--json", "--debug", "box"], STATS_FLAGS, true)).toBe(true);
  });
});

describe("help", () => {
  test("USAGE lines show the operands", async () => {
    const first = async (cmd?: string) => (await usage(cmd)).split("\n").find((l) => l.startsWith("USAGE"));
    expect(await first("stats")).toBe("USAGE myuts stats [--json] NAME");
    expect(await first("run")).toBe("USAGE myuts run [options] [--] [command [args...]]");
    expect(await first("events")).toBe("USAGE myuts events [--stats] [--interval SECONDS] NAME");
    expect(await first("update")).toBe("USAGE myuts update NAME [options]");
    expect(await first("version")).toBe("USAGE myuts version");
    expect(await first()).toBe("USAGE myuts [--debug] [--root DIR] [--log FILE] [--log-format text|json] COMMAND [options] [operands]");
    expect(await first("kill")).toBe("USAGE myuts [--root DIR] kill [-s SIGNAL] ID|NAME [SIGNAL]");
    for (const cmd of [
      "create",
      "start",
      "state",
      "kill",
      "delete",
      "list",
      "ps",
      "exec",
      "pause",
      "resume",
      "spec",
      "features",
      "inspect",
      "logs",
      "stop",
      "rm",
    ])
      expect(await usage(cmd)).not.toContain("undefined");
  });

  test("version refuses operands (its help and output are checked on the binary, test/integration/errors.test.ts)", async () => {
    await expect(versionCli(["extra"])).rejects.toThrow("version: unexpected extra");
  });

  test("run --help says that without --pid only a cgroup makes sure the whole tree dies", async () => {
    expect((await usage("run")).replace(/\s+/g, " ")).toContain("Without a limit's cgroup, only --pid makes sure its whole tree dies");
  });
});

describe("a file given as the root filesystem", () => {
  test("an archive is named, with how to unpack it", () => {
    const tgz = join(dir, "image.tar.gz");
    writeFileSync(tgz, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]));
    expect(notADirectoryHint(tgz)).toBe(`a gzip-compressed (tar?) archive, not a directory: unpack it first (mkdir R && tar -xf ${tgz} -C R, then --rootfs R)`);
    const tar = join(dir, "image.tar");
    const block = Buffer.alloc(512);
    block.write("ustar", 257, "latin1");
    writeFileSync(tar, block);
    expect(notADirectoryHint(tar)).toContain("a tar archive, not a directory");
    const plain = join(dir, "plain");
    writeFileSync(plain, "hello\n");
    expect(notADirectoryHint(plain)).toContain("a file, not a directory (an image archive? unpack it first: mkdir R && tar -xf");
    expect(notADirectoryHint(dir)).toBeUndefined();
  });
});
