import { CLONE } from "../../ffi/libc.ts";
import { wantsCgroup } from "../cgroups/policy.ts";
import type { NamespaceType, Spec } from "../spec/types.ts";

const FLAG: Record<NamespaceType, number> = {
  user: CLONE.NEWUSER,
  pid: CLONE.NEWPID,
  network: CLONE.NEWNET,
  ipc: CLONE.NEWIPC,
  uts: CLONE.NEWUTS,
  mount: CLONE.NEWNS,
  cgroup: CLONE.NEWCGROUP,
  time: CLONE.NEWTIME,
};

/** The namespaces the spec asks to create (entries without a path). */
export function newNamespaces(spec: Spec): Set<NamespaceType> {
  return new Set((spec.linux?.namespaces ?? []).filter((n) => !n.path).map((n) => n.type));
}

/**
 * clone(2) flags, plus the flags the child must unshare itself: clone() cannot take
 * CLONE_NEWTIME (its bit is the exit-signal field), and a time namespace's offsets
 * must be written before any process enters it.
 */
export function cloneFlags(spec: Spec): { clone: number; unshare: number } {
  let clone = 0;
  let unshare = 0;
  for (const ns of newNamespaces(spec)) {
    if (ns === "time") unshare |= FLAG.time;
    else if (ns === "cgroup" && deferredCgroupns(spec)) continue;
    else clone |= FLAG[ns];
  }
  return { clone, unshare };
}

/**
 * A cgroup namespace's root is its creator's cgroup at that moment. The init stage
 * joins the container's cgroup only at the pre-exec barrier, so it creates the
 * namespace itself after the go-ahead, for the payload to see its cgroup as "/".
 */
export function deferredCgroupns(spec: Spec): boolean {
  return wantsCgroup(spec) && newNamespaces(spec).has("cgroup");
}

export function timensOffsets(spec: Spec): string {
  const o = spec.linux?.timeOffsets;
  if (!o) return "";
  const line = (name: string, v?: { secs?: number; nanosecs?: number }) => (v ? `${name} ${v.secs ?? 0} ${v.nanosecs ?? 0}\n` : "");
  return line("monotonic", o.monotonic) + line("boottime", o.boottime);
}

export function flagNames(flags: number): string {
  return Object.entries(FLAG)
    .filter(([, f]) => flags & f)
    .map(([n]) => `CLONE_NEW${n === "mount" ? "NS" : n === "network" ? "NET" : n.toUpperCase()}`)
    .join("|");
}
