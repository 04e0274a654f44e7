// Which cgroup hierarchies this machine has and where the caller sits in each.
// Read from /proc/self/mountinfo and /proc/self/cgroup on every start: a host can
// be v2 only (unified), v1 only, or hybrid (v1 controllers plus a cgroup2 mount).
import { readText } from "../../ffi/files.ts";

export type Mode = "v2" | "v1" | "hybrid";

export interface Hierarchy {
  /** Where it is mounted. */
  mount: string;
  /** v1: the controllers bound to this hierarchy ("cpu", "cpuacct"); v2: empty. */
  controllers: string[];
  /** The caller's own cgroup, relative to the mount ("/" or "/a/b"). */
  own: string;
}

export interface Layout {
  mode: Mode;
  /** The cgroup2 hierarchy (v2 and hybrid). */
  unified?: Hierarchy;
  /** v1 hierarchies with at least one controller; named ones (name=systemd) are left alone. */
  v1: Hierarchy[];
}

/** The v1 controllers myuts knows; other superblock options (rw, clone_children…) are not controllers. */
export const V1_CONTROLLERS = new Set([
  "cpu",
  "cpuacct",
  "cpuset",
  "memory",
  "devices",
  "freezer",
  "blkio",
  "pids",
  "net_cls",
  "net_prio",
  "perf_event",
  "hugetlb",
  "rdma",
  "misc",
]);

interface MountLine {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function parseMountinfo(text: string): MountLine[] {
  const out: MountLine[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep < 6 || f.length < sep + 4) continue;
    out.push({ root: unescapeMount(f[3]!), mountPoint: unescapeMount(f[4]!), fsType: f[sep + 1]!, superOptions: f[sep + 3]!.split(",") });
  }
  return out;
}

/** /proc/self/cgroup: hierarchy key ("" for v2, else the sorted controller list) → path. */
function parseSelfCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    out.set(m[2]!.split(",").filter(Boolean).sort().join(","), m[3]!);
  }
  return out;
}

/** The caller's path inside a mount whose root may itself be a sub-cgroup (a bind mount, a cgroup namespace). */
function relativeTo(mountRoot: string, path: string): string {
  if (mountRoot === "/" || mountRoot === "") return path || "/";
  if (path === mountRoot) return "/";
  if (path.startsWith(`${mountRoot}/`)) return path.slice(mountRoot.length);
  return path || "/";
}

export function parseLayout(mountinfo: string, selfCgroup: string): Layout {
  const self = parseSelfCgroup(selfCgroup);
  const v1: Hierarchy[] = [];
  const seen = new Set<string>();
  let unified: Hierarchy | undefined;
  for (const m of parseMountinfo(mountinfo)) {
    if (m.fsType === "cgroup2") {
      unified ??= { mount: m.mountPoint, controllers: [], own: relativeTo(m.root, self.get("") ?? "/") };
    } else if (m.fsType === "cgroup") {
      const controllers = m.superOptions.filter((o) => V1_CONTROLLERS.has(o)).sort();
      const key = controllers.join(",");
      if (!controllers.length || seen.has(key)) continue;
      seen.add(key);
      v1.push({ mount: m.mountPoint, controllers, own: relativeTo(m.root, self.get(key) ?? "/") });
    }
  }
  const mode: Mode = v1.length ? (unified ? "hybrid" : "v1") : "v2";
  return { mode, unified, v1 };
}

let cached: Layout | undefined;

export function detectLayout(): Layout {
  cached ??= parseLayout(readText("/proc/self/mountinfo"), readText("/proc/self/cgroup"));
  return cached;
}
