// Whether a container gets a cgroup. Kept apart (and tiny) because the start path asks
// twice: for the clone flags, and whether the setup program unshares the cgroup
// namespace itself after joining.
import type { Spec } from "../spec/types.ts";

/**
 * A container gets its own cgroup when the spec sets limits or a cgroupsPath.
 * Without either, `run` stays in the caller's cgroups (like `unshare`), which keeps
 * the default start path free of cgroup work.
 */
export function wantsCgroup(spec: Spec): boolean {
  return spec.linux?.resources !== undefined || spec.linux?.cgroupsPath !== undefined;
}

/** Whether the container must stop before the payload's exec: to join the cgroup or set oom_score_adj. */
export function needsBarrier(spec: Spec): boolean {
  return wantsCgroup(spec) || spec.process?.oomScoreAdj !== undefined;
}
