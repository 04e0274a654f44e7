// bun run bench [-- --runs N --warmup N --trace-runs N --write --myuts PATH --baseline PATH]
//
// Start time of a container that runs /bin/true, for myuts and other runtimes, in
// one run: every round runs each command once, in a fresh random order, so load
// from other work on the machine falls on all runtimes alike. Needs root.
import { chmodSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseBenchOptions } from "./options.ts";
import { cleanupFixture, createFixture, deleteLeftovers, dropCachedPages, type Fixture, SLEEP_PAYLOAD } from "./fixture.ts";
import { publish, renderReport, type CaseResult, type MemoryDetail, type Report } from "./report.ts";
import { median, shuffle, summarize } from "./stats.ts";
import { parseTrace, phases, PHASES, stepSummary, type TraceLine } from "./trace.ts";
import { cpuModel, version } from "./machine.ts";

export const REPO = resolve(import.meta.dir, "..");

interface Options {
  runs: number;
  warmup: number;
  traceRuns: number;
  rssRuns: number;
  write: boolean;
  myuts: string;
  /** Another myuts binary (an earlier build) timed in the same rounds. */
  baseline?: string;
}

const USAGE = `usage: bun run bench [-- --runs N] [--warmup N] [--trace-runs N] [--rss-runs N] [--write] [--myuts PATH]
  --runs N        timed starts per command (default 200)
  --warmup N      untimed rounds first (default 20)
  --trace-runs N  extra myuts starts with --trace for the breakdown (default 40)
  --rss-runs N    extra starts per command under GNU time for peak RSS (default 10)
  --write         rewrite the generated part of docs/benchmarks.md
  --myuts PATH    the binary to measure (default dist/myuts; build it with bun run build)
  --baseline PATH another myuts binary (say, the previous commit's build) timed in the same rounds`;

function parseOptions(argv: readonly string[]): Options {
  return parseBenchOptions<Options>(
    argv,
    { runs: 200, warmup: 20, traceRuns: 40, rssRuns: 10, write: false, myuts: join(REPO, "dist/myuts") },
    { "--runs": "runs", "--warmup": "warmup", "--trace-runs": "traceRuns", "--rss-runs": "rssRuns" },
    USAGE,
    { "--baseline": "baseline" },
  );
}

export interface Case {
  key: string;
  group: "container" | "fixed" | "rootless";
  /** The command as the doc shows it: R is the root filesystem, B the bundle, S a state dir. */
  shown: string;
  note?: string;
  argv(id: string): string[];
  /** Undoes what a failed start may leave behind. */
  after?(id: string, ok: boolean): void;
}

const CONTAINER_FLAGS = ["--uts", "--pid", "--mount", "--ipc", "--net"];
const BASELINE = "myuts, baseline";
const BUN_FLOOR = "Bun floor";
const READ_FROM_DISK = "myuts, binary read from disk";
const FLOOR_FROM_DISK = "Bun floor, binary read from disk";

function cases(f: Fixture, baseline?: { bin: string; version: string }): Case[] {
  const list: Case[] = [
    {
      key: "myuts",
      group: "container",
      shown: "dist/myuts run --uts --pid --mount --ipc --net --rootfs R -- /bin/true",
      argv: () => [f.myuts, "run", ...CONTAINER_FLAGS, "--rootfs", f.rootfs, "--", "/bin/true"],
    },
  ];
  if (baseline) {
    list.push({
      key: BASELINE,
      group: "container",
      shown: "BASE run --uts --pid --mount --ipc --net --rootfs R -- /bin/true",
      note: `--baseline: ${baseline.version}`,
      argv: () => [baseline.bin, "run", ...CONTAINER_FLAGS, "--rootfs", f.rootfs, "--", "/bin/true"],
    });
  }
  for (const rt of ["runc", "crun"] as const) {
    if (!Bun.which(rt)) continue;
    const state = rt === "runc" ? f.runcState : f.crunState;
    list.push({
      key: rt,
      group: "container",
      shown: `${rt} --root S run --bundle B <unique id>`,
      note: "bundle from `runc spec`: terminal off, args /bin/true; default namespaces pid, network, ipc, uts, mount",
      argv: (id) => [rt, "--root", state, "run", "--bundle", f.bundle, id],
      after: (id, ok) => {
        if (!ok) Bun.spawnSync([rt, "--root", state, "delete", "-f", id], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
      },
    });
  }
  list.push(
    {
      key: "bwrap",
      group: "container",
      shown: "bwrap --unshare-all --bind R / --proc /proc --dev /dev /bin/true",
      argv: () => ["bwrap", "--unshare-all", "--bind", f.rootfs, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"],
    },
    {
      key: "unshare+chroot",
      group: "container",
      shown: "unshare -f -p -m -u -i -n chroot R /bin/true",
      note: "lower bound, not a container: no pivot_root, /proc or /dev",
      argv: () => ["unshare", "-f", "-p", "-m", "-u", "-i", "-n", "chroot", f.rootfs, "/bin/true"],
    },
    {
      key: "myuts, no namespaces",
      group: "fixed",
      shown: "dist/myuts run -- /bin/true",
      argv: () => [f.myuts, "run", "--", "/bin/true"],
    },
    { key: "unshare", group: "fixed", shown: "unshare /bin/true", argv: () => ["unshare", "/bin/true"] },
    {
      key: "bwrap, minimal",
      group: "fixed",
      shown: "bwrap --dev-bind / / /bin/true",
      note: "bwrap always makes a mount namespace",
      argv: () => ["bwrap", "--dev-bind", "/", "/", "/bin/true"],
    },
    {
      key: "myuts --version",
      group: "fixed",
      shown: "dist/myuts --version",
      note: "one Bun process: start, print, exit",
      argv: () => [f.myuts, "--version"],
    },
    ...(f.bunFloor
      ? [
          {
            key: BUN_FLOOR,
            group: "fixed" as const,
            shown: "bun-floor",
            note: "`export {}` compiled as myuts is: Bun's own start and exit",
            argv: () => [f.bunFloor!],
          },
        ]
      : []),
    { key: "runc --version", group: "fixed", shown: "runc --version", note: "one Go process", argv: () => ["runc", "--version"] },
    { key: "/bin/true", group: "fixed", shown: "/bin/true", note: "the harness's own spawn-and-wait floor", argv: () => ["/bin/true"] },
  );
  if (Bun.which("setpriv")) {
    // Both pay setpriv's own exec; nobody needs no /etc/subuid entry for a single-id map.
    const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
    list.push(
      {
        key: "myuts, rootless",
        group: "rootless",
        shown:
          "setpriv --reuid=65534 --regid=65534 --clear-groups -- dist/myuts run --user --map-root-user --uts --pid --mount --ipc --net --rootfs R -- /bin/true",
        argv: () => [...asNobody, f.myuts, "run", "--user", "--map-root-user", ...CONTAINER_FLAGS, "--rootfs", f.rootfs, "--", "/bin/true"],
      },
      {
        key: "bwrap, rootless",
        group: "rootless",
        shown: "setpriv --reuid=65534 --regid=65534 --clear-groups -- bwrap --unshare-user --unshare-all --bind R / --proc /proc --dev /dev /bin/true",
        argv: () => [...asNobody, "bwrap", "--unshare-user", "--unshare-all", "--bind", f.rootfs, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"],
      },
    );
  }
  return list;
}

interface Sample {
  ms: number;
  ok: boolean;
  stderr: string;
}

let seq = 0;
const uniqueId = () => `myuts-bench-${process.pid}-${++seq}`;

function runOnce(c: Case): Sample {
  const id = uniqueId();
  const argv = c.argv(id);
  const t0 = performance.now();
  const r = Bun.spawnSync(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const ms = performance.now() - t0;
  const ok = r.exitCode === 0;
  c.after?.(id, ok);
  return { ms, ok, stderr: r.stderr.toString() };
}

export const GNU_TIME = "/usr/bin/time";

/**
 * Peak RSS in bytes as GNU time reports it: wait4's ru_maxrss, the largest single
 * process of the tree. Measured in runs of their own, since the extra process would
 * add to the start time. (Bun's spawnSync resourceUsage is not per child here.)
 */
function peakRss(c: Case, out: string): number | undefined {
  const id = uniqueId();
  const r = Bun.spawnSync([GNU_TIME, "-f", "%M", "-o", out, ...c.argv(id)], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  c.after?.(id, r.exitCode === 0);
  if (r.exitCode !== 0) return undefined;
  const kib = Number(readFileSync(out, "utf8").trim().split("\n").pop());
  return Number.isFinite(kib) ? kib * 1024 : undefined;
}

/** Reads VmHWM, RssAnon and RssFile (bytes) of a live process. */
async function procStatus(pid: number): Promise<Record<string, number>> {
  const text = await Bun.file(`/proc/${pid}/status`).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(VmHWM|VmRSS|RssAnon|RssFile|RssShmem):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]) * 1024;
  return out;
}

/**
 * The wait4 peak covers the largest single process of the tree; to tell the runtime
 * process from the stage it spawns, read the runtime's own peak from /proc while a
 * sleeping payload keeps it alive.
 */
async function memoryDetail(key: string, argv: string[], reps: number, out: string): Promise<MemoryDetail | undefined> {
  const hwm: number[] = [];
  const anon: number[] = [];
  const file: number[] = [];
  const tree: number[] = [];
  for (let i = 0; i < reps; i++) {
    const p = Bun.spawn([GNU_TIME, "-f", "%M", "-o", out, ...argv], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    await Bun.sleep(200);
    let s: Record<string, number> = {};
    try {
      const child = Number((await Bun.file(`/proc/${p.pid}/task/${p.pid}/children`).text()).trim().split(" ")[0]);
      s = await procStatus(child);
    } catch {
      // exited early; the exit code below says why
    }
    const code = await p.exited;
    if (code !== 0 || s.VmHWM === undefined) return undefined;
    hwm.push(s.VmHWM);
    anon.push(s.RssAnon ?? Number.NaN);
    file.push(s.RssFile ?? Number.NaN);
    tree.push(Number(readFileSync(out, "utf8").trim().split("\n").pop()) * 1024);
  }
  return { key, runtimeHwm: median(hwm), runtimeAnon: median(anon), runtimeFile: median(file), treeMax: median(tree) };
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error("run as root: every runtime here creates namespaces and mounts");
  if (!existsSync(o.myuts)) throw new Error(`${o.myuts} is missing: run bun run build first`);
  if (o.baseline && !existsSync(o.baseline)) throw new Error(`--baseline ${o.baseline}: no such file`);
  for (const tool of ["runc", "bwrap", "unshare", "chroot"]) if (!Bun.which(tool)) throw new Error(`${tool} is not installed`);

  const f = createFixture(o.myuts);
  const stop = () => {
    try {
      cleanupFixture(f);
    } finally {
      process.exit(130);
    }
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    let baseline: { bin: string; version: string } | undefined;
    if (o.baseline) {
      // Frozen like the measured binary.
      const bin = join(f.dir, "myuts-baseline");
      copyFileSync(o.baseline, bin);
      chmodSync(bin, 0o755);
      baseline = { bin, version: version([bin, "--version"]) };
    }
    const all = cases(f, baseline);
    const loadBefore = loadavg()[0]!;
    const unavailable = new Map<string, string>();
    for (const c of all) {
      const s = runOnce(c);
      if (!s.ok) unavailable.set(c.key, s.stderr.trim().split("\n")[0] || "failed with no message");
    }
    const live = all.filter((c) => !unavailable.has(c.key));
    const samples = new Map<string, Sample[]>(live.map((c) => [c.key, []]));
    const rounds: Map<string, number>[] = [];
    const total = o.warmup + o.runs;
    process.stderr.write(`bench: ${live.length} commands × ${o.runs} runs (+${o.warmup} warm-up), interleaved\n`);
    for (let round = 0; round < total; round++) {
      const times = new Map<string, number>();
      for (const c of shuffle([...live])) {
        const s = runOnce(c);
        if (round < o.warmup) continue;
        samples.get(c.key)!.push(s);
        if (s.ok) times.set(c.key, s.ms);
      }
      if (round >= o.warmup) rounds.push(times);
      // spawnSync never yields; signal handlers (cleanup on Ctrl-C) only run when the loop does.
      await Bun.sleep(0);
      if ((round + 1) % 20 === 0) process.stderr.write(`bench: round ${round + 1}/${total}\n`);
    }

    process.stderr.write(`bench: ${o.traceRuns} traced myuts starts\n`);
    const myutsCase = live.find((c) => c.key === "myuts");
    const traces: TraceLine[][] = [];
    const phaseRuns: number[][] = [];
    const traceWalls: number[] = [];
    if (myutsCase) {
      const argv = myutsCase.argv("");
      argv.splice(2, 0, "--trace");
      for (let i = 0; i < o.traceRuns; i++) {
        const t0 = performance.now();
        const r = Bun.spawnSync(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
        const wall = performance.now() - t0;
        const spawned = performance.timeOrigin + t0;
        await Bun.sleep(0);
        if (r.exitCode !== 0) continue;
        const lines = parseTrace(r.stderr.toString(), f.rootfs);
        const p = phases(lines, spawned, wall);
        if (!p) continue;
        traces.push(lines);
        phaseRuns.push(p);
        traceWalls.push(wall);
      }
    }

    // The init waiting at the barrier: a memory limit makes it wait for the cgroup join.
    const waiting: number[] = [];
    let waitingExe = "";
    for (let i = 0; i < Math.min(o.traceRuns, 20); i++) {
      const argv = [f.myuts, "run", "--trace", "--memory", "64m", ...CONTAINER_FLAGS, "--rootfs", f.rootfs, "--", "/bin/true"];
      const r = Bun.spawnSync(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
      const m = /init waits at the barrier: VmRSS (\d+) kB, exe (.*)$/m.exec(r.stderr.toString());
      if (r.exitCode !== 0 || !m) continue;
      waiting.push(Number(m[1]));
      waitingExe = m[2]!;
      await Bun.sleep(0);
    }

    const rss = new Map<string, number[]>(live.map((c) => [c.key, []]));
    const memory: MemoryDetail[] = [];
    if (existsSync(GNU_TIME)) {
      process.stderr.write(`bench: ${o.rssRuns} runs per command under ${GNU_TIME}\n`);
      const out = join(f.dir, "time.out");
      for (let i = 0; i < o.rssRuns; i++) {
        for (const c of shuffle([...live])) {
          const b = peakRss(c, out);
          if (b !== undefined) rss.get(c.key)!.push(b);
        }
        await Bun.sleep(0);
      }
      const runSleep = [f.myuts, "run", ...CONTAINER_FLAGS, "--rootfs", f.rootfs, "--", ...SLEEP_PAYLOAD];
      const mem = await memoryDetail("myuts", runSleep, 5, out);
      if (mem) memory.push(mem);
      // Again with the binary's pages read from disk, as on a machine that has not just written it.
      if (dropCachedPages(f.myuts)) {
        Bun.spawnSync([f.myuts, "--version"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
        const cold = await memoryDetail(READ_FROM_DISK, runSleep, 5, out);
        if (cold) memory.push(cold);
      }
      const floor = live.find((c) => c.key === BUN_FLOOR);
      if (floor && f.bunFloor && dropCachedPages(f.bunFloor)) {
        runOnce(floor);
        const peaks = Array.from({ length: 5 }, () => peakRss(floor, out)).filter((b) => b !== undefined);
        // One process, no payload: its wait4 peak is its own.
        if (peaks.length)
          memory.push({ key: FLOOR_FROM_DISK, runtimeHwm: median(peaks), runtimeAnon: Number.NaN, runtimeFile: Number.NaN, treeMax: median(peaks) });
      }
      if (!unavailable.has("runc")) {
        const runc = await memoryDetail("runc", ["runc", "--root", f.runcState, "run", "--bundle", f.bundleSleep, uniqueId()], 5, out);
        deleteLeftovers("runc", f.runcState);
        if (runc) memory.push(runc);
      }
    } else {
      process.stderr.write(`bench: ${GNU_TIME} is missing (apt-get install time): no memory figures\n`);
    }
    const loadAfter = loadavg()[0]!;

    const results: CaseResult[] = all.map((c) => {
      const ss = samples.get(c.key) ?? [];
      const ok = ss.filter((s) => s.ok);
      return {
        key: c.key,
        group: c.group,
        shown: c.shown,
        note: c.note,
        unavailable: unavailable.get(c.key),
        failures: ss.length - ok.length,
        firstFailure: ss
          .find((s) => !s.ok)
          ?.stderr.trim()
          .split("\n")[0],
        time: summarize(ok.map((s) => s.ms)),
        maxRss: median(rss.get(c.key) ?? []),
      };
    });
    const pairRatio = (a: string, b: string): number => median(rounds.filter((r) => r.has(a) && r.has(b)).map((r) => r.get(a)! / r.get(b)!));
    const report: Report = {
      date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      options: { runs: o.runs, warmup: o.warmup, traceRuns: o.traceRuns, rssRuns: o.rssRuns },
      machine: {
        cpu: await cpuModel(),
        cores: navigator.hardwareConcurrency,
        kernel: version(["uname", "-r"]),
        loadBefore,
        loadAfter,
      },
      versions: {
        myuts: version([f.myuts, "--version"]),
        bun: `bun ${Bun.version}`,
        runc: version(["runc", "--version"]),
        crun: version(["crun", "--version"]),
        bwrap: version(["bwrap", "--version"]),
        unshare: version(["unshare", "--version"]),
        busybox: version(["/bin/busybox"]).replace(/ multi-call binary\.?$/, ""),
      },
      results,
      paired: { runc: pairRatio("myuts", "runc"), bwrap: pairRatio("myuts", "bwrap"), ...(baseline ? { baseline: pairRatio("myuts", BASELINE) } : {}) },
      phases: PHASES.map((name, i) => ({ name, median: median(phaseRuns.map((p) => p[i]!)), mean: summarize(phaseRuns.map((p) => p[i]!)).mean })),
      traceWall: summarize(traceWalls),
      traceCount: traces.length,
      steps: stepSummary(traces),
      memory,
      waiting,
      waitingExe,
    };
    publish(renderReport(report), o.write);
    return 0;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    cleanupFixture(f);
  }
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
