// A container's cgroup: placed, created, limited, joined, read and removed, on
// cgroup v2, v1 or hybrid hosts alike.
import { absolute, joinPath, parentPath } from "../util/paths.ts";
import { close, kill, readAll, writeAll } from "../../ffi/libc.ts";
import { exists, listDir, makeDir, openFile, removeDir as rmdir } from "../../ffi/files.ts";
import { hasControl } from "../util/text.ts";
import type { LinuxResources, Spec } from "../spec/types.ts";
import { cgroupError, errCode } from "./errors.ts";
import { detectLayout, type Hierarchy, type Layout, type Mode } from "./layout.ts";
import { DEFAULT_DEVICE_RULES, v1DeviceWrites, v1OnlySettings, v1Writes, v2Controllers, v2Writes, type Write } from "./writes.ts";
import { LEAF_PREFIX, leafName } from "./names.ts";

export const UNIFIED = "unified";
/**
 * v1 controllers every container joins: what `stats` reads, the OOM check needs and
 * `update` may change, and the freezer, which holds the container still while its
 * leftovers are killed (nothing forks or exits between reading cgroup.procs and the kill).
 */
const V1_ALWAYS = ["memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "freezer"];

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

// Control files are opened with O_NOFOLLOW: cgroupfs has no symlinks, so one in a
// path means the directory is not a cgroup (a crafted registry entry), and writing
// through it could reach any file.
const read = (file: string): string | undefined => {
  try {
    const fd = openFile(file, { noFollow: true });
    try {
      return readAll(fd, 1 << 24).toString("utf8");
    } finally {
      close(fd);
    }
  } catch {
    return undefined;
  }
};

function writeControl(file: string, value: string): void {
  const fd = openFile(file, { write: true, noFollow: true });
  try {
    writeAll(fd, Buffer.from(value));
  } finally {
    close(fd);
  }
}

/** writeControl, returning the errno name instead of throwing. */
function tryWrite(file: string, value: string): string | undefined {
  try {
    writeControl(file, value);
    return undefined;
  } catch (e) {
    return errCode(e) ?? String(e);
  }
}

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
    writeControl(joinPath(dir, file), value);
  } catch (e) {
    // cgroupfs refuses to create a file it lacks (EACCES or ENOENT): name that plainly
    if (exists(dir) && !exists(joinPath(dir, file))) throw cgroupError(controller, `write ${file}=${value}: ${file} is not available on this host`);
    throw cgroupError(controller, `write ${file}=${value}`, e);
  }
}

/** Where the container's cgroup goes, relative to each hierarchy's root. */
export function relativePath(own: string, cgroupsPath: string | undefined, name: string): string {
  if (cgroupsPath === undefined || cgroupsPath === "") return joinPath(own, leafName(name));
  if (/^[^/:]+:[^:]*:[^:]+$/.test(cgroupsPath)) {
    throw cgroupError("path", `${cgroupsPath}: systemd-style cgroupsPath (slice:prefix:name) needs the systemd cgroup driver, which myuts does not have`);
  }
  const p = absolute(cgroupsPath.startsWith("/") ? cgroupsPath : joinPath(own, cgroupsPath));
  if (p.split("/").includes("..") || p === "/") throw cgroupError("path", `${cgroupsPath}: not a cgroup below the hierarchy's root`);
  return p;
}

/** One hierarchy's part of a container's cgroup: where it goes and what is written there. */
interface Target {
  /** "unified", or the v1 hierarchy's controller list ("cpu,cpuacct"). */
  key: string;
  h: Hierarchy;
  /** Relative to the hierarchy's root. */
  rel: string;
  writes: Write[];
  /** cgroup v2: controllers to enable in cgroup.subtree_control from the root down. */
  enable?: Set<string>;
}

/** Where a container's cgroup will be, worked out before anything is created. */
export interface CgroupPlan {
  /** What the registry records first: the leaf directories, and in `created` those about to be made. */
  readonly paths: CgroupPaths;
  readonly targets: readonly Target[];
  readonly warnings: readonly string[];
}

const label = (t: Target) => (t.key === UNIFIED ? "v2" : t.h.controllers.join(","));

export class Cgroup {
  private constructor(readonly paths: CgroupPaths) {}

  static fromPaths(paths: CgroupPaths): Cgroup {
    return new Cgroup(paths);
  }

  /**
   * Where the cgroup goes in each hierarchy and what it will write, without creating
   * anything. Throws a cgroup error for a path or controller this host can't give.
   */
  static plan(spec: Spec, name: string, layout: Layout = detectLayout()): CgroupPlan {
    const res = spec.linux?.resources ?? {};
    const cgroupsPath = spec.linux?.cgroupsPath;
    const targets: Target[] = [];
    const warnings: string[] = [];
    const unified = res.unified && Object.keys(res.unified).length ? res.unified : undefined;
    if (layout.mode === "v2") {
      if (!layout.unified) throw cgroupError("hierarchy", "no cgroup filesystem is mounted (looked in /proc/self/mountinfo)");
      targets.push(v2Target(layout.unified, res, cgroupsPath, name));
      for (const s of v1OnlySettings(res)) warnings.push(`cgroup v2 has no ${s}; ignored`);
    } else {
      targets.push(...v1Targets(layout, spec, res, cgroupsPath, name));
      // Hybrid: the cgroup2 tree holds only what v1 lacks (like hugetlb here); joined only when asked.
      if (unified && layout.unified)
        targets.push({ key: UNIFIED, h: layout.unified, rel: relativePath(layout.unified.own, cgroupsPath, name), writes: v2Writes({ unified }) });
      else if (unified) throw cgroupError("unified", "linux.resources.unified needs a cgroup v2 hierarchy; this host has only v1");
    }
    const dirs: Record<string, string> = {};
    const created: string[] = [];
    for (const t of targets) {
      let dir = t.h.mount;
      const parts = t.rel.split("/").filter(Boolean);
      for (const [i, part] of parts.entries()) {
        dir = joinPath(dir, part);
        // A leaf named for the container is its own even if a leftover is there now: create replaces it.
        const ownLeaf = i === parts.length - 1 && part.startsWith(LEAF_PREFIX);
        if (!created.includes(dir) && (ownLeaf || !exists(dir))) created.push(dir);
      }
      dirs[t.key] = dir;
    }
    return { paths: { mode: layout.mode, dirs, created }, targets, warnings };
  }

  /** Creates the cgroup (every hierarchy) and applies the spec's limits; removes what it made on failure. */
  static create(spec: Spec, name: string, warn: (msg: string) => void, layout: Layout = detectLayout()): Cgroup {
    return Cgroup.fromPlan(Cgroup.plan(spec, name, layout), warn);
  }

  /** Creates a planned cgroup and applies its limits; removes what it made on failure. */
  static fromPlan(plan: CgroupPlan, warn: (msg: string) => void): Cgroup {
    const cg = new Cgroup({ mode: plan.paths.mode, dirs: {}, created: [] });
    try {
      for (const t of plan.targets) {
        const before = cg.paths.created.length;
        cg.paths.dirs[t.key] = cg.mkdirs(t);
        // A new v1 cpuset starts with no cpus and no mems, and then nothing can join it.
        if (t.h.controllers.includes("cpuset")) {
          for (const d of cg.paths.created.slice(before)) {
            for (const f of ["cpuset.cpus", "cpuset.mems"]) {
              if ((read(joinPath(d, f)) ?? "").trim() === "") writeFile("cpuset", d, f, (read(joinPath(parentPath(d), f)) ?? "").trim());
            }
          }
        }
      }
      for (const t of plan.targets) for (const x of t.writes) writeFile(x.controller, cg.paths.dirs[t.key]!, x.file, x.value);
    } catch (e) {
      cg.destroy();
      throw e;
    }
    for (const w of plan.warnings) warn(w);
    return cg;
  }

  /** Makes the target's directories, top down (enabling v2 controllers on the way). */
  private mkdirs(t: Target): string {
    const parts = t.rel.split("/").filter(Boolean);
    let dir = t.h.mount;
    for (const [i, part] of parts.entries()) {
      if (t.enable) this.enableV2(dir, t.enable);
      dir = joinPath(dir, part);
      try {
        makeDir(dir, 0o777);
        this.paths.created.push(dir);
      } catch (e) {
        if (errCode(e) !== "EEXIST") throw cgroupError(label(t), `mkdir ${dir}`, e);
        if (i === parts.length - 1 && part.startsWith(LEAF_PREFIX)) {
          replaceLeftover(label(t), dir);
          this.paths.created.push(dir);
        }
      }
    }
    return dir;
  }

  private enableV2(dir: string, needed: Set<string>): void {
    const available = new Set((read(joinPath(dir, "cgroup.controllers")) ?? "").split(/\s+/).filter(Boolean));
    const enabled = new Set((read(joinPath(dir, "cgroup.subtree_control")) ?? "").split(/\s+/).filter(Boolean));
    // memory, pids and cpu also serve `stats`: enabled when offered, but not required.
    const wanted = new Set([...needed, ...["memory", "pids", "cpu"].filter((c) => available.has(c))]);
    for (const c of wanted) {
      if (enabled.has(c)) continue;
      if (!available.has(c)) {
        if (!needed.has(c)) continue;
        throw cgroupError(c, `controller not available in ${dir} (cgroup.controllers: ${[...available].join(" ") || "none"})`);
      }
      try {
        writeControl(joinPath(dir, "cgroup.subtree_control"), `+${c}`);
      } catch (e) {
        if (!needed.has(c)) continue;
        const hint = errCode(e) === "EBUSY" ? " (the cgroup holds processes; cgroup v2 allows controllers only above leaves: use --cgroup-parent)" : "";
        throw cgroupError(c, `write ${joinPath(dir, "cgroup.subtree_control")}=+${c}${hint}`, e);
      }
    }
  }

  /**
   * Moves a process (all its threads) into the cgroup, in every hierarchy; false when it
   * was there already (born in it), where a write would still cost an RCU grace period.
   */
  join(pid: number): boolean {
    if (this.bornIn(pid)) return false;
    for (const [key, dir] of Object.entries(this.paths.dirs)) writeFile(key === UNIFIED ? "v2" : key, dir, "cgroup.procs", String(pid));
    return true;
  }

  /**
   * The directory a container's first process can be cloned into (clone3's
   * CLONE_INTO_CGROUP): the cgroup v2 one, on a host without v1 hierarchies to attach to.
   */
  birthDir(): string | undefined {
    return this.paths.mode === "v2" ? this.paths.dirs[UNIFIED] : undefined;
  }

  /** Whether `pid` is in the cgroup already (cloned into it), by /proc/PID/cgroup. */
  bornIn(pid: number): boolean {
    const dir = this.birthDir();
    const mount = detectLayout().unified?.mount;
    if (!dir || !mount) return false;
    const line = (read(`/proc/${pid}/cgroup`) ?? "").split("\n").find((l) => l.startsWith("0::"));
    return line !== undefined && joinPath(mount, line.slice(3)) === dir;
  }

  /** Applies changed limits to a running container. */
  update(res: LinuxResources, warn: (msg: string) => void): void {
    if (this.paths.mode === "v2") {
      const dir = this.paths.dirs[UNIFIED]!;
      let writes: Write[];
      try {
        writes = v2Writes(res, (f) => exists(joinPath(dir, f)));
      } catch (e) {
        throw cgroupError("resources", e instanceof Error ? e.message : String(e));
      }
      for (const s of v1OnlySettings(res)) warn(`cgroup v2 has no ${s}; ignored`);
      for (const x of writes) writeFile(x.controller, dir, x.file, x.value);
      return;
    }
    const dirOf = (controller: string): string => {
      const key = Object.keys(this.paths.dirs).find((k) => k !== UNIFIED && k.split(",").includes(controller));
      if (!key) throw cgroupError(controller, "controller not available (no cgroup v1 hierarchy has it mounted)");
      return this.paths.dirs[key]!;
    };
    const writes = v1Writes(res, (f) => {
      try {
        return exists(joinPath(dirOf("blkio"), f));
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
    if (this.paths.mode === "v2") return keyed(read(joinPath(dir, "memory.events"))).get("oom_kill") ?? 0;
    const ctl = keyed(read(joinPath(dir, "memory.oom_control")));
    // kernels before 4.13 lack oom_kill; under_oom then only says it hit the wall
    return ctl.get("oom_kill") ?? ctl.get("under_oom") ?? 0;
  }

  /** The memory limit in force, in bytes. */
  memoryLimit(): number | undefined {
    const dir = this.dirFor("memory");
    if (!dir) return undefined;
    return num(read(joinPath(dir, this.paths.mode === "v2" ? "memory.max" : "memory.limit_in_bytes")));
  }

  stats(): Stats {
    const out: Stats = {};
    const v2 = this.paths.mode === "v2";
    const mem = this.dirFor("memory");
    if (mem) {
      out.memory = v2
        ? {
            usage: num(read(joinPath(mem, "memory.current"))) ?? 0,
            limit: num(read(joinPath(mem, "memory.max"))),
            maxUsage: num(read(joinPath(mem, "memory.peak"))),
            oomKills: this.oomKills(),
          }
        : {
            usage: num(read(joinPath(mem, "memory.usage_in_bytes"))) ?? 0,
            limit: num(read(joinPath(mem, "memory.limit_in_bytes"))),
            maxUsage: num(read(joinPath(mem, "memory.max_usage_in_bytes"))),
            failcnt: num(read(joinPath(mem, "memory.failcnt"))),
            oomKills: this.oomKills(),
          };
    }
    if (v2) {
      const cpu = this.paths.dirs[UNIFIED];
      const st = keyed(read(joinPath(cpu!, "cpu.stat")));
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
      const usage = acct ? num(read(joinPath(acct, "cpuacct.usage"))) : undefined;
      if (usage !== undefined) {
        const st = keyed(cpu ? read(joinPath(cpu, "cpu.stat")) : undefined);
        out.cpu = {
          usageNs: usage,
          userNs: acct ? num(read(joinPath(acct, "cpuacct.usage_user"))) : undefined,
          systemNs: acct ? num(read(joinPath(acct, "cpuacct.usage_sys"))) : undefined,
          periods: st.get("nr_periods"),
          throttledPeriods: st.get("nr_throttled"),
          throttledNs: st.get("throttled_time"),
        };
      }
    }
    const pids = this.dirFor("pids");
    if (pids) {
      const current = num(read(joinPath(pids, "pids.current")));
      if (current !== undefined) out.pids = { current, limit: num(read(joinPath(pids, "pids.max"))) };
    }
    return out;
  }

  /** The freezer: cgroup.freeze on v2, freezer.state on v1; undefined where there is none. */
  private freezer(): { file: string; on: string; off: string; frozen: () => boolean } | undefined {
    const uni = this.paths.dirs[UNIFIED];
    if (uni && (this.paths.mode === "v2" || this.paths.created.includes(uni))) {
      return { file: joinPath(uni, "cgroup.freeze"), on: "1", off: "0", frozen: () => /^frozen 1$/m.test(read(joinPath(uni, "cgroup.events")) ?? "") };
    }
    const fz = this.paths.mode === "v2" ? undefined : this.dirFor("freezer");
    if (!fz) return undefined;
    const state = joinPath(fz, "freezer.state");
    return { file: state, on: "FROZEN", off: "THAWED", frozen: () => read(state)?.trim() === "FROZEN" };
  }

  isFrozen(): boolean {
    return this.freezer()?.frozen() ?? false;
  }

  /**
   * pause and resume: freezes or thaws every process of the cgroup. A freeze waits
   * (at most `waitMs`) until the kernel reports it done, then fails if it isn't.
   */
  setFrozen(frozen: boolean, waitMs = 2000): void {
    const f = this.freezer();
    if (!f) throw cgroupError("freezer", "no freezer for this container's cgroup");
    try {
      writeControl(f.file, frozen ? f.on : f.off);
    } catch (e) {
      throw cgroupError("freezer", `write ${f.file}`, e);
    }
    if (!frozen) return;
    const deadline = Date.now() + waitMs;
    for (let delay = 1; !f.frozen(); delay = Math.min(delay * 2, 20)) {
      if (Date.now() >= deadline) {
        tryWrite(f.file, f.off);
        throw cgroupError("freezer", `the freeze did not complete within ${waitMs} ms (a task in uninterruptible sleep?)`);
      }
      Bun.sleepSync(delay);
    }
  }

  /**
   * SIGKILLs every process in the container's cgroup. cgroup v2 kills the whole
   * tree in one write (cgroup.kill); elsewhere the cgroup is frozen first, so that
   * nothing forks, exits or has its pid reused between reading cgroup.procs and the
   * kill, then thawed so the signals land. `waitMs` bounds the wait for the
   * freeze (tasks in uninterruptible sleep delay it). Returns what went wrong.
   */
  kill(waitMs = 1000): string[] {
    const uni = this.paths.dirs[UNIFIED];
    if (uni && (this.paths.mode === "v2" || this.paths.created.includes(uni))) {
      const err = tryWrite(joinPath(uni, "cgroup.kill"), "1");
      if (err === undefined) return [];
      // before Linux 5.14 there is no cgroup.kill; anything else is not a cgroup at all
      if (err !== "ENOENT") return [`write ${joinPath(uni, "cgroup.kill")}: ${err}`];
      return freezeKillThaw(uni, "cgroup.freeze", "1", "0", () => /^frozen 1$/m.test(read(joinPath(uni, "cgroup.events")) ?? ""), waitMs);
    }
    const fz = this.paths.mode === "v2" ? undefined : this.dirFor("freezer");
    if (fz) return freezeKillThaw(fz, "freezer.state", "FROZEN", "THAWED", () => read(joinPath(fz, "freezer.state"))?.trim() === "FROZEN", waitMs);
    // No freezer (an entry from before it was joined): a fork between the listing and
    // the kill lands in the same cgroup, so listing again catches it.
    const dir = Object.values(this.paths.dirs)[0];
    for (let round = 0; dir && round < 20 && populatedTree(dir); round++) killListed(dir);
    return [];
  }

  /**
   * Kills what is left inside and removes the directories this container created,
   * waiting at most about `waitMs` for killed processes to go. Never throws.
   */
  destroy(waitMs = 2000): string[] {
    const problems: string[] = [];
    const leaves = new Set(Object.values(this.paths.dirs));
    const own = this.paths.created.filter((d) => leaves.has(d) && exists(d));
    if (own.some(populatedTree)) problems.push(...this.kill(Math.min(waitMs, 1000)));
    for (const dir of own) {
      const err = removeDir(dir, waitMs, () => this.kill(Math.min(waitMs, 1000)));
      if (err) problems.push(err);
    }
    // Parents made for a --cgroup-parent go too, unless another container now uses them.
    for (const dir of [...this.paths.created].reverse()) {
      if (leaves.has(dir)) continue;
      try {
        rmdir(dir);
      } catch {
        // in use, or already gone
      }
    }
    return problems;
  }
}

function v1Targets(layout: Layout, spec: Spec, res: LinuxResources, cgroupsPath: string | undefined, name: string): Target[] {
  const blkio = layout.v1.find((x) => x.controllers.includes("blkio"));
  const writes = v1Writes(res, (f) => (blkio ? exists(joinPath(blkio.mount, blkio.own, f)) : false));
  // The device allow-list, as runc builds it: the spec's rules, then (for a container with
  // its own root) the standard nodes, which a spec's "deny all" must not take away.
  const ownRoot = spec.root?.path !== undefined && spec.root.path !== "/";
  const given = res.devices ?? [];
  const devices = ownRoot ? [...(given.length ? given : DEFAULT_DEVICE_RULES.slice(0, 1)), ...DEFAULT_DEVICE_RULES.slice(1)] : given;
  if (devices.length && layout.v1.some((x) => x.controllers.includes("devices"))) writes.push(...v1DeviceWrites(devices));
  // Hierarchies nothing uses (perf_event, net_cls…) are left out: each one
  // joined is one more process migration at the barrier.
  const used = new Set([...writes.map((x) => x.controller), ...V1_ALWAYS]);
  for (const c of used) {
    if (!layout.v1.some((x) => x.controllers.includes(c)) && !V1_ALWAYS.includes(c)) {
      throw cgroupError(c, "controller not available (no cgroup v1 hierarchy has it mounted)");
    }
  }
  return layout.v1
    .filter((h) => h.controllers.some((c) => used.has(c)))
    .map((h) => ({
      key: h.controllers.join(","),
      h,
      rel: relativePath(h.own, cgroupsPath, name),
      writes: writes.filter((x) => h.controllers.includes(x.controller)),
    }));
}

function v2Target(h: Hierarchy, res: LinuxResources, cgroupsPath: string | undefined, name: string): Target {
  let writes: Write[];
  try {
    writes = v2Writes(res, (f) => exists(joinPath(h.mount, h.own, f)));
  } catch (e) {
    throw cgroupError("resources", e instanceof Error ? e.message : String(e));
  }
  const needed = v2Controllers(writes);
  let own = h.own;
  if (cgroupsPath === undefined || !cgroupsPath.startsWith("/")) {
    // cgroup v2 lets only leaves hold processes: controllers can't be enabled below a
    // cgroup (other than the root) that has processes of its own. When the caller sits
    // in such a leaf, the container goes next to it instead of under it.
    const ownDir = joinPath(h.mount, own);
    const enabled = new Set((read(joinPath(ownDir, "cgroup.subtree_control")) ?? "").split(/\s+/).filter(Boolean));
    const hasProcs = (read(joinPath(ownDir, "cgroup.procs")) ?? "").trim() !== "";
    if (own !== "/" && hasProcs && [...needed].some((c) => !enabled.has(c))) own = parentPath(own);
  }
  return { key: UNIFIED, h, rel: relativePath(own, cgroupsPath, name), writes, enable: needed };
}

/**
 * A directory named for this container already exists: left by an earlier one of
 * the same name. Its limits and its processes are not this container's, so it is
 * never joined: an empty one is replaced, one that holds processes refuses the start.
 */
function replaceLeftover(controller: string, dir: string): void {
  if (populatedTree(dir)) {
    throw cgroupError(
      controller,
      `${dir} already exists and holds processes (left by an earlier container?); refusing to share it (kill them and remove it, or pick another --name)`,
    );
  }
  const err = removeDir(dir, 0);
  if (err) throw cgroupError(controller, `${dir} already exists and can't be replaced: ${err}`);
  try {
    makeDir(dir, 0o777);
  } catch (e) {
    throw cgroupError(controller, `mkdir ${dir}`, e);
  }
}

/** Whether a cgroup or any cgroup below it holds a process (unreadable counts as yes). */
function populatedTree(dir: string): boolean {
  const procs = read(joinPath(dir, "cgroup.procs"));
  if (procs === undefined) return exists(dir);
  if (procs.trim() !== "") return true;
  return subdirs(dir).some((d) => populatedTree(joinPath(dir, d)));
}

/** SIGKILLs each process listed in the cgroup and the cgroups below it. */
function killListed(dir: string): void {
  for (const p of (read(joinPath(dir, "cgroup.procs")) ?? "").split("\n")) {
    if (/^\d+$/.test(p)) kill(Number(p), 9);
  }
  for (const d of subdirs(dir)) killListed(joinPath(dir, d));
}

function freezeKillThaw(dir: string, file: string, frozen: string, thawed: string, isFrozen: () => boolean, waitMs: number): string[] {
  const err = tryWrite(joinPath(dir, file), frozen);
  if (err) {
    killListed(dir);
    return [`write ${joinPath(dir, file)}: ${err}`];
  }
  // Freezing waits for tasks in uninterruptible sleep; kill anyway once the wait is up.
  const deadline = Date.now() + waitMs;
  for (let delay = 1; !isFrozen() && Date.now() < deadline; delay = Math.min(delay * 2, 20)) Bun.sleepSync(delay);
  killListed(dir);
  const thaw = tryWrite(joinPath(dir, file), thawed);
  return thaw ? [`write ${joinPath(dir, file)}=${thawed}: ${thaw}`] : [];
}

/** Child directories (real ones: readdir's types don't follow symlinks). */
function subdirs(dir: string): string[] {
  try {
    return listDir(dir)
      .filter((d) => d.type === "directory")
      .map((d) => d.name);
  } catch {
    return [];
  }
}

/** rmdir, retried for a moment while killed processes finish exiting (EBUSY); `onBusy` kills again. */
function removeDir(dir: string, timeoutMs = 2000, onBusy: () => unknown = () => killListed(dir)): string | undefined {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      for (const child of subdirs(dir)) removeDir(joinPath(dir, child), timeoutMs, onBusy);
      rmdir(dir);
      return undefined;
    } catch (e) {
      const code = errCode(e);
      if (code === "ENOENT") return undefined;
      if (code !== "EBUSY" && code !== "ENOTEMPTY") return `rmdir ${dir}: ${code ?? String(e)}`;
      if (Date.now() > deadline) return `rmdir ${dir}: ${code} (processes still inside)`;
      onBusy();
      Bun.sleepSync(delay);
    }
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A cgroup directory path as a registry entry may hold it: absolute, plain, below `mount`. */
function checkDir(p: unknown, mounts: readonly string[]): string {
  if (typeof p !== "string" || p.length > 4096 || hasControl(p)) throw new Error("a directory is not a plain path");
  if (
    !p.startsWith("/") ||
    p
      .split("/")
      .slice(1)
      .some((seg) => seg === "" || seg === "." || seg === "..")
  )
    throw new Error(`${JSON.stringify(p)} is not a normalized absolute path`);
  if (!mounts.some((m) => p.startsWith(m === "/" ? "/" : `${m}/`) && p !== m)) throw new Error(`${JSON.stringify(p)} is not below a cgroup mount of this host`);
  return p;
}

/**
 * A registry entry's cgroup field, checked against this host's cgroup mounts: every
 * directory must lie below the hierarchy it is recorded for, so that a crafted entry
 * can't point a kill or an rmdir anywhere else.
 */
export function parseCgroupPaths(v: unknown, layout: Layout = detectLayout()): CgroupPaths {
  if (!isObject(v)) throw new Error("not an object");
  if (v.mode !== layout.mode) throw new Error(`mode ${JSON.stringify(v.mode)} is not this host's layout (${layout.mode})`);
  if (!isObject(v.dirs) || !Array.isArray(v.created)) throw new Error("dirs or created is missing");
  const all = [...layout.v1, ...(layout.unified ? [layout.unified] : [])].map((h) => h.mount);
  const dirs: Record<string, string> = {};
  for (const [key, dir] of Object.entries(v.dirs)) {
    const h = key === UNIFIED ? layout.unified : layout.v1.find((x) => x.controllers.join(",") === key);
    if (!h) throw new Error(`${JSON.stringify(key)} is not a hierarchy of this host`);
    dirs[key] = checkDir(dir, [h.mount]);
  }
  const created = v.created.map((d) => checkDir(d, all));
  return { mode: layout.mode, dirs, created };
}
