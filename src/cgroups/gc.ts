// Leftovers of a `myuts run` that was SIGKILLed: its registry entry names the
// cgroup directories it made. Whatever still runs in them (children of a payload
// without a PID namespace of its own) is killed, then the directories go.
import { Cgroup, type CgroupPaths } from "./cgroup.ts";

/** Kills and removes a dead container's cgroup; what went wrong (nothing: it is gone). */
export function releaseCgroup(paths: CgroupPaths): string[] {
  return Cgroup.fromPaths(paths).destroy();
}
