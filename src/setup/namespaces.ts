// The eight namespace types as the kernel knows them: clone/setns flags and /proc/PID/ns file names.
import { CLONE } from "../../ffi/libc.ts";
import type { NamespaceType } from "../spec/types.ts";

export const NS_FLAG: Record<NamespaceType, number> = {
  user: CLONE.NEWUSER,
  pid: CLONE.NEWPID,
  network: CLONE.NEWNET,
  ipc: CLONE.NEWIPC,
  uts: CLONE.NEWUTS,
  mount: CLONE.NEWNS,
  cgroup: CLONE.NEWCGROUP,
  time: CLONE.NEWTIME,
};

export const NS_FILE: Record<NamespaceType, string> = {
  user: "user",
  pid: "pid",
  network: "net",
  ipc: "ipc",
  uts: "uts",
  mount: "mnt",
  cgroup: "cgroup",
  time: "time",
};

/** "CLONE_NEWPID|CLONE_NEWNS", for traces and --dry-run. */
export function cloneFlagNames(flags: number): string {
  return (Object.entries(NS_FLAG) as [NamespaceType, number][])
    .filter(([, f]) => flags & f)
    .map(([t]) => `CLONE_NEW${NS_FILE[t] === "mnt" ? "NS" : NS_FILE[t].toUpperCase()}`)
    .join("|");
}
