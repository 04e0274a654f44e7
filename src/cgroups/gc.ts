// Leftovers of a `myuts run` that was SIGKILLed: its payload died with it
// (parent-death signal), but its cgroup directories stay. The next start removes
// empty myuts-<name> cgroups in the same parents whose name no live container holds.
import { fs, path } from "../util/node.ts";
import { isLive, listStates, STATE_DIR, type ContainerState } from "../lifecycle/state.ts";
import { LEAF_PREFIX, removeDir } from "./cgroup.ts";

function populated(dir: string): boolean {
  try {
    if (fs().readFileSync(path().join(dir, "cgroup.procs"), "utf8").trim() !== "") return true;
    return fs().readdirSync(dir, { withFileTypes: true }).some((d) => d.isDirectory() && populated(path().join(dir, d.name)));
  } catch {
    return true;
  }
}

/** The empty cgroups a dead runtime's registry entry names. */
export function removeStaleCgroups(stale: readonly ContainerState[]): void {
  for (const s of stale) {
    for (const dir of [...(s.cgroup?.created ?? [])].reverse()) {
      if (fs().existsSync(dir) && !populated(dir)) removeDir(dir, 0);
    }
  }
}

/** Removes stale empty cgroups next to each of `leaves`; returns what it removed. */
export function collectGarbage(leaves: readonly string[], stateDir = STATE_DIR): string[] {
  const live = new Set(listStates(stateDir).filter(isLive).map((s) => s.name));
  const removed: string[] = [];
  for (const parent of new Set(leaves.map((l) => path().dirname(l)))) {
    let entries: string[];
    try {
      entries = fs().readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name.startsWith(LEAF_PREFIX)).map((d) => d.name);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const dir = path().join(parent, entry);
      if (live.has(entry.slice(LEAF_PREFIX.length)) || populated(dir)) continue;
      if (fs().existsSync(dir) && removeDir(dir, 0) === undefined) removed.push(dir);
    }
  }
  return removed;
}
