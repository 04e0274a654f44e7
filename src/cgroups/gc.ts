// Leftovers of a `myuts run` that was SIGKILLed: its registry entry names the
// cgroup directories it made. Whatever still runs in them (children of a payload
// without a PID namespace of its own) is killed, then the directories go.
import { Cgroup, type CgroupPaths } from "./cgroup.ts";

/**
 * Kills and removes a dead container's cgroup; what went wrong (nothing: it is
 * gone). The sweep holds the registry's lock meanwhile, so it waits only briefly
 * for stuck processes: the entry stays and a later start tries again.
 */
export function releaseCgroup(paths: CgroupPaths, waitMs = 250): string[] {
  return Cgroup.fromPaths(paths).destroy(waitMs);
}
