// A container's cgroup: placed, created, limited, joined, read and removed, on
// cgroup v2, v1 or hybrid hosts alike.
import { fs, path } from "../util/node.ts";
import { kill } from "../../ffi/libc.ts";
import type { LinuxResources, Spec } from "../spec/types.ts";
import { CgroupError, errCode } from "./errors.ts";
import { detectLayout, type Hierarchy, type Layout, type Mode } from "./layout.ts";
import { DEFAULT_DEVICE_RULES, v1DeviceWrites, v1OnlySettings, v1Writes, v2Controllers, v2Writes, type Write } from "./writes.ts";

/** Every cgroup directory myuts creates by default is named so, which lets a later start find leftovers. */
export const LEAF_PREFIX = "myuts-";
export const UNIFIED = "unified";
/** v1 controllers every container joins: what `stats` reads, the OOM check needs and `update` may change. */
const V1_ALWAYS = ["memory", "pids", "cpu", "cpuacct", "cpuset", "blkio"];

export interface CgroupPaths {
  mode: Mode;
  /** Hierarchy key ("unified", or a v1 controller list such as "cpu" or "cpu,cpuacct") → directory. */
  dirs: Record<string, string>;
  /** Directories this container created, parents first; only these are removed. */
  created: string[];
}

export interface Stats {
  memory?: { usage: number; limit?: number; maxUsage?: number; failcnt?: number; oomKills: number };
  cpu?: { usageNs: number; userNs?: number; systemNs?: number; periods?: number; throttledPeriods?: number; throttledNs?: number };
  pids?: { current: number; limit?: number };
}

const read = (file: string): string | undefined => {
  try {
    return fs().readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
};

const num = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (t === "max" || t === "") return undefined;
  const n = Number(t);
  // v1 reports "no limit" as a page-rounded LONG_MAX
  return Number.isFinite(n) && n < 2 ** 62 ? n : undefined;
};

function keyed(text: string | undefined): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of (text ?? "").split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) m.set(k, Number(v));
  }
  return m;
}

function writeFile(controller: string, dir: string, file: string, value: string): void {
  try {
    fs().writeFileSync(path().join(dir, file), value);
  } catch (e) {
    // cgroupfs refuses to create a file it lacks (EACCES or ENOENT): name that plainly
    if (fs().existsSync(dir) && !fs().existsSync(path().join(dir, file))) throw new CgroupError(controller, `write ${file}=${value}: ${file} is not available on this host`);
    throw new CgroupError(controller, `write ${file}=${value}`, e);
  }
}

/** Where the container's cgroup goes, relative to each hierarchy's root. */
export function relativePath(own: string, cgroupsPath: string | undefined, name: string): string {
  if (cgroupsPath === undefined || cgroupsPath === "") return path().posix.join(own, `${LEAF_PREFIX}${name}`);
  if (/^[^/:]+:[^:]*:[^:]+$/.test(cgroupsPath)) {
    throw new CgroupError("path", `${cgroupsPath}: systemd-style cgroupsPath (slice:prefix:name) needs the systemd cgroup driver, which myuts does not have`);
  }
  const p = path().posix.normalize(cgroupsPath.startsWith("/") ? cgroupsPath : path().posix.join(own, cgroupsPath));
  if (p.split("/").includes("..") || p === "/") throw new CgroupError("path", `${cgroupsPath}: not a cgroup below the hierarchy's root`);
  return p;
}

export class Cgroup {
  private constructor(readonly paths: CgroupPaths) {}

  static fromPaths(paths: CgroupPaths): Cgroup {
    return new Cgroup(paths);
  }

  /** Creates the cgroup (every hierarchy) and applies the spec's limits; removes what it made on failure. */
  static create(spec: Spec, name: string, warn: (msg: string) => void, layout: Layout = detectLayout()): Cgroup {
    const res = spec.linux?.resources ?? {};
    const cgroupsPath = spec.linux?.cgroupsPath;
    const paths: CgroupPaths = { mode: layout.mode, dirs: {}, created: [] };
    const cg = new Cgroup(paths);
    try {
      if (layout.mode === "v2") {
        if (!layout.unified) throw new CgroupError("hierarchy", "no cgroup filesystem is mounted (looked in /proc/self/mountinfo)");
        cg.createV2(layout.unified, res, cgroupsPath, name);
        for (const s of v1OnlySettings(res)) warn(`cgroup v2 has no ${s}; ignored`);
      } else {
        cg.createV1(layout, spec, res, cgroupsPath, name);
        if (layout.unified && res.unified && Object.keys(res.unified).length) {
          // Hybrid: the cgroup2 tree holds only what v1 lacks (like hugetlb here); joined only when asked.
          const dir = cg.mkdirs(layout.unified, relativePath(layout.unified.own, cgroupsPath, name));
          paths.dirs[UNIFIED] = dir;
          for (const x of v2Writes({ unified: res.unified })) writeFile(x.controller, dir, x.file, x.value);
        } else if (!layout.unified && res.unified && Object.keys(res.unified).length) {
          throw new CgroupError("unified", "linux.resources.unified needs a cgroup v2 hierarchy; this host has only v1");
        }
      }
    } catch (e) {
      cg.destroy();
      throw e;
    }
    return cg;
  }

  private mkdirs(h: Hierarchy, rel: string): string {
    const parts = rel.split("/").filter(Boolean);
    let dir = h.mount;
    for (const part of parts) {
      dir = path().join(dir, part);
      try {
        fs().mkdirSync(dir);
        this.paths.created.push(dir);
      } catch (e) {
        if (errCode(e) !== "EEXIST") throw new CgroupError(h.controllers.join(",") || "v2", `mkdir ${dir}`, e);
      }
    }
    return dir;
  }

  private createV1(layout: Layout, spec: Spec, res: LinuxResources, cgroupsPath: string | undefined, name: string): void {
    const blkio = layout.v1.find((x) => x.controllers.includes("blkio"));
    const writes = v1Writes(res, (f) => (blkio ? fs().existsSync(path().join(blkio.mount, blkio.own, f)) : false));
    // The device allow-list: the spec's rules, or runc's default set for a container with its own root.
    const devices = res.devices?.length ? res.devices : spec.root?.path && spec.root.path !== "/" ? DEFAULT_DEVICE_RULES : [];
    if (devices.length && layout.v1.some((x) => x.controllers.includes("devices"))) writes.push(...v1DeviceWrites(devices));
    // Hierarchies nothing uses (freezer, perf_event, net_cls…) are left out: each one
    // joined is one more process migration at the barrier.
    const used = new Set([...writes.map((x) => x.controller), ...V1_ALWAYS]);
    for (const c of used) {
      if (!layout.v1.some((x) => x.controllers.includes(c)) && !V1_ALWAYS.includes(c)) {
        throw new CgroupError(c, "controller not available (no cgroup v1 hierarchy has it mounted)");
      }
    }
    for (const h of layout.v1) {
      if (!h.controllers.some((c) => used.has(c))) continue;
      const key = h.controllers.join(",");
      const before = this.paths.created.length;
      const dir = this.mkdirs(h, relativePath(h.own, cgroupsPath, name));
      this.paths.dirs[key] = dir;
      // A new v1 cpuset starts with no cpus and no mems, and then nothing can join it.
      if (h.controllers.includes("cpuset")) {
        for (const d of this.paths.created.slice(before)) {
          for (const f of ["cpuset.cpus", "cpuset.mems"]) {
            if ((read(path().join(d, f)) ?? "").trim() === "") writeFile("cpuset", d, f, (read(path().join(path().dirname(d), f)) ?? "").trim());
          }
        }
      }
    }
    const dirOf = (controller: string): string => {
      const h = layout.v1.find((x) => x.controllers.includes(controller))!;
      return this.paths.dirs[h.controllers.join(",")]!;
    };
    for (const x of writes) writeFile(x.controller, dirOf(x.controller), x.file, x.value);
  }

  private createV2(h: Hierarchy, res: LinuxResources, cgroupsPath: string | undefined, name: string): void {
    const writes = (() => {
      try {
        return v2Writes(res, (f) => fs().existsSync(path().join(h.mount, h.own, f)));
      } catch (e) {
        throw new CgroupError("resources", e instanceof Error ? e.message : String(e));
      }
    })();
    const needed = v2Controllers(writes);
    let own = h.own;
    if (cgroupsPath === undefined || !cgroupsPath.startsWith("/")) {
      // cgroup v2 lets only leaves hold processes: controllers can't be enabled below a
      // cgroup (other than the root) that has processes of its own. When the caller sits
      // in such a leaf, the container goes next to it instead of under it.
      const ownDir = path().join(h.mount, own);
      const enabled = new Set((read(path().join(ownDir, "cgroup.subtree_control")) ?? "").split(/\s+/).filter(Boolean));
      const hasProcs = (read(path().join(ownDir, "cgroup.procs")) ?? "").trim() !== "";
      if (own !== "/" && hasProcs && [...needed].some((c) => !enabled.has(c))) own = path().posix.dirname(own);
    }
    const rel = relativePath(own, cgroupsPath, name);
    const parts = rel.split("/").filter(Boolean);
    // Enable the controllers from the top down; the leaf itself enables none.
    let dir = h.mount;
    for (let i = 0; i < parts.length; i++) {
      this.enableV2(dir, needed);
      dir = path().join(dir, parts[i]!);
      try {
        fs().mkdirSync(dir);
        this.paths.created.push(dir);
      } catch (e) {
        if (errCode(e) !== "EEXIST") throw new CgroupError("v2", `mkdir ${dir}`, e);
      }
    }
    this.paths.dirs[UNIFIED] = dir;
    for (const x of writes) writeFile(x.controller, dir, x.file, x.value);
  }

  private enableV2(dir: string, needed: Set<string>): void {
    const available = new Set((read(path().join(dir, "cgroup.controllers")) ?? "").split(/\s+/).filter(Boolean));
    const enabled = new Set((read(path().join(dir, "cgroup.subtree_control")) ?? "").split(/\s+/).filter(Boolean));
    // memory, pids and cpu also serve `stats`: enabled when offered, but not required.
    const wanted = new Set([...needed, ...["memory", "pids", "cpu"].filter((c) => available.has(c))]);
    for (const c of wanted) {
      if (enabled.has(c)) continue;
      if (!available.has(c)) {
        if (!needed.has(c)) continue;
        throw new CgroupError(c, `controller not available in ${dir} (cgroup.controllers: ${[...available].join(" ") || "none"})`);
      }
      try {
        fs().writeFileSync(path().join(dir, "cgroup.subtree_control"), `+${c}`);
      } catch (e) {
        if (!needed.has(c)) continue;
        const hint = errCode(e) === "EBUSY" ? " (the cgroup holds processes; cgroup v2 allows controllers only above leaves: use --cgroup-parent)" : "";
        throw new CgroupError(c, `write ${path().join(dir, "cgroup.subtree_control")}=+${c}${hint}`, e);
      }
    }
  }

  /** Moves a process (all its threads) into the cgroup, in every hierarchy. */
  join(pid: number): void {
    for (const [key, dir] of Object.entries(this.paths.dirs)) writeFile(key === UNIFIED ? "v2" : key, dir, "cgroup.procs", String(pid));
  }

  /** Applies changed limits to a running container. */
  update(res: LinuxResources, warn: (msg: string) => void): void {
    if (this.paths.mode === "v2") {
      const dir = this.paths.dirs[UNIFIED]!;
      let writes: Write[];
      try {
        writes = v2Writes(res, (f) => fs().existsSync(path().join(dir, f)));
      } catch (e) {
        throw new CgroupError("resources", e instanceof Error ? e.message : String(e));
      }
      for (const s of v1OnlySettings(res)) warn(`cgroup v2 has no ${s}; ignored`);
      for (const x of writes) writeFile(x.controller, dir, x.file, x.value);
      return;
    }
    const dirOf = (controller: string): string => {
      const key = Object.keys(this.paths.dirs).find((k) => k !== UNIFIED && k.split(",").includes(controller));
      if (!key) throw new CgroupError(controller, "controller not available (no cgroup v1 hierarchy has it mounted)");
      return this.paths.dirs[key]!;
    };
    const writes = v1Writes(res, (f) => {
      try {
        return fs().existsSync(path().join(dirOf("blkio"), f));
      } catch {
        return false;
      }
    });
    const mem = writes.filter((x) => x.file === "memory.limit_in_bytes" || x.file === "memory.memsw.limit_in_bytes");
    const rest = writes.filter((x) => !mem.includes(x));
    try {
      for (const x of mem) writeFile(x.controller, dirOf(x.controller), x.file, x.value);
    } catch (e) {
      // Raising both: memsw must grow first, as it may never be below the limit.
      if (mem.length < 2) throw e;
      for (const x of [...mem].reverse()) writeFile(x.controller, dirOf(x.controller), x.file, x.value);
    }
    for (const x of rest) writeFile(x.controller, dirOf(x.controller), x.file, x.value);
  }

  private dirFor(controller: string): string | undefined {
    if (this.paths.mode === "v2") return this.paths.dirs[UNIFIED];
    const key = Object.keys(this.paths.dirs).find((k) => k !== UNIFIED && k.split(",").includes(controller));
    return key ? this.paths.dirs[key] : undefined;
  }

  /** How many processes the kernel's OOM killer killed in this cgroup. */
  oomKills(): number {
    const dir = this.dirFor("memory");
    if (!dir) return 0;
    if (this.paths.mode === "v2") return keyed(read(path().join(dir, "memory.events"))).get("oom_kill") ?? 0;
    const ctl = keyed(read(path().join(dir, "memory.oom_control")));
    // kernels before 4.13 lack oom_kill; under_oom then only says it hit the wall
    return ctl.get("oom_kill") ?? ctl.get("under_oom") ?? 0;
  }

  /** The memory limit in force, in bytes. */
  memoryLimit(): number | undefined {
    const dir = this.dirFor("memory");
    if (!dir) return undefined;
    return num(read(path().join(dir, this.paths.mode === "v2" ? "memory.max" : "memory.limit_in_bytes")));
  }

  stats(): Stats {
    const out: Stats = {};
    const v2 = this.paths.mode === "v2";
    const mem = this.dirFor("memory");
    if (mem) {
      out.memory = v2
        ? { usage: num(read(path().join(mem, "memory.current"))) ?? 0, limit: num(read(path().join(mem, "memory.max"))), maxUsage: num(read(path().join(mem, "memory.peak"))), oomKills: this.oomKills() }
        : {
            usage: num(read(path().join(mem, "memory.usage_in_bytes"))) ?? 0,
            limit: num(read(path().join(mem, "memory.limit_in_bytes"))),
            maxUsage: num(read(path().join(mem, "memory.max_usage_in_bytes"))),
            failcnt: num(read(path().join(mem, "memory.failcnt"))),
            oomKills: this.oomKills(),
          };
    }
    if (v2) {
      const cpu = this.paths.dirs[UNIFIED];
      const st = keyed(read(path().join(cpu!, "cpu.stat")));
      if (st.has("usage_usec")) {
        out.cpu = {
          usageNs: st.get("usage_usec")! * 1000,
          userNs: (st.get("user_usec") ?? 0) * 1000,
          systemNs: (st.get("system_usec") ?? 0) * 1000,
          periods: st.get("nr_periods"),
          throttledPeriods: st.get("nr_throttled"),
          throttledNs: st.has("throttled_usec") ? st.get("throttled_usec")! * 1000 : undefined,
        };
      }
    } else {
      const acct = this.dirFor("cpuacct");
      const cpu = this.dirFor("cpu");
      const usage = acct ? num(read(path().join(acct, "cpuacct.usage"))) : undefined;
      if (usage !== undefined) {
        const st = keyed(cpu ? read(path().join(cpu, "cpu.stat")) : undefined);
        out.cpu = {
          usageNs: usage,
          userNs: acct ? num(read(path().join(acct, "cpuacct.usage_user"))) : undefined,
          systemNs: acct ? num(read(path().join(acct, "cpuacct.usage_sys"))) : undefined,
          periods: st.get("nr_periods"),
          throttledPeriods: st.get("nr_throttled"),
          throttledNs: st.get("throttled_time"),
        };
      }
    }
    const pids = this.dirFor("pids");
    if (pids) {
      const current = num(read(path().join(pids, "pids.current")));
      if (current !== undefined) out.pids = { current, limit: num(read(path().join(pids, "pids.max"))) };
    }
    return out;
  }

  /** Kills what is left inside and removes the directories this container created. Never throws. */
  destroy(): string[] {
    const problems: string[] = [];
    const leaves = new Set(Object.values(this.paths.dirs));
    for (const dir of this.paths.created) {
      if (!leaves.has(dir) || !fs().existsSync(dir)) continue;
      killAll(dir);
      const err = removeDir(dir);
      if (err) problems.push(err);
    }
    // Parents made for a --cgroup-parent go too, unless another container now uses them.
    for (const dir of [...this.paths.created].reverse()) {
      if (leaves.has(dir)) continue;
      try {
        fs().rmdirSync(dir);
      } catch {
        // in use, or already gone
      }
    }
    return problems;
  }
}

/** SIGKILLs every process in a cgroup (and its children), cgroup.kill first where the kernel has it. */
export function killAll(dir: string): void {
  if (fs().existsSync(path().join(dir, "cgroup.kill"))) {
    try {
      fs().writeFileSync(path().join(dir, "cgroup.kill"), "1");
      return;
    } catch {
      // fall through to per-process kills
    }
  }
  for (const p of (read(path().join(dir, "cgroup.procs")) ?? "").split("\n")) if (p) kill(Number(p), 9);
  for (const entry of safeReaddir(dir)) killAll(path().join(dir, entry));
}

function safeReaddir(dir: string): string[] {
  try {
    return fs().readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

/** rmdir, retried for a moment while killed processes finish exiting (EBUSY). */
export function removeDir(dir: string, timeoutMs = 2000): string | undefined {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      for (const child of safeReaddir(dir)) removeDir(path().join(dir, child), timeoutMs);
      fs().rmdirSync(dir);
      return undefined;
    } catch (e) {
      const code = errCode(e);
      if (code === "ENOENT") return undefined;
      if (code !== "EBUSY" && code !== "ENOTEMPTY") return `rmdir ${dir}: ${code ?? String(e)}`;
      if (Date.now() > deadline) return `rmdir ${dir}: ${code} (processes still inside)`;
      killAll(dir);
      Bun.sleepSync(delay);
    }
  }
}
