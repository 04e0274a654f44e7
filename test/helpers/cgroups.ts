// Finds and removes cgroup directories the tests' containers may leave behind.
import { existsSync, readdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";

/** Every cgroup directory whose name contains `fragment` (deep enough for the tests' placements). */
export function cgroupDirs(fragment: string, dir = "/sys/fs/cgroup", depth = 0, out: string[] = []): string[] {
  if (depth > 6) return out;
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const p = join(dir, e.name);
    if (e.name.includes(fragment)) out.push(p);
    cgroupDirs(fragment, p, depth + 1, out);
  }
  return out;
}

/** Kills what is inside a cgroup (and below) and removes it. */
export function removeCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  for (const sub of readdirSync(dir, { withFileTypes: true })) if (sub.isDirectory()) removeCgroup(join(dir, sub.name));
  for (let i = 0; i < 100; i++) {
    for (const pid of (existsSync(dir) ? readFileSync(join(dir, "cgroup.procs"), "utf8") : "").split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {}
    }
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return;
      Bun.sleepSync(20);
    }
  }
}
