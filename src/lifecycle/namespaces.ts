import { wantsCgroup } from "../cgroups/policy.ts";
import { NS_FLAG } from "../setup/namespaces.ts";
import type { NamespaceType, Spec } from "../spec/types.ts";

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
    if (ns === "time") unshare |= NS_FLAG.time;
    else if (ns === "cgroup" && deferredCgroupns(spec)) continue;
    else clone |= NS_FLAG[ns];
  }
  return { clone, unshare };
}

/**
 * A cgroup namespace's root is its creator's cgroup at that moment. The container
 * joins its cgroup only at the pre-exec barrier, so the setup program creates the
 * namespace after the go-ahead, for the payload to see its cgroup as "/".
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
