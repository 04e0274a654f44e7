// Telling a live process from a dead one whose pid came back: a pid together with
// its start time (field 22 of /proc/PID/stat) names one process for good.
import { readText } from "../../ffi/files.ts";

/** The start time of `pid` in clock ticks since boot, or undefined when there is no such process. */
export function processStart(pid: number): string | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readText(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Whether `pid` is still the process that started at `start` and has not ended (a zombie has). */
export function stillRunning(pid: number, start: string): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    const stat = readText(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return f[19] === start && f[0] !== "Z" && f[0] !== "X";
  } catch {
    return false;
  }
}

/** "PID-START" of this process: a prefix for files it owns, which a later sweep can check. */
export function ownerTag(): string {
  return `${process.pid}-${processStart(process.pid) ?? "0"}`;
}

/** Whether an owner tag names a process that is gone (a malformed tag counts as gone). */
export function ownerIsDead(tag: string): boolean {
  const m = /^(\d{1,10})-(\d{1,20})$/.exec(tag);
  if (!m) return true;
  // A zombie has ended: what it owned is free (its parent may be slow to reap it).
  return !stillRunning(Number(m[1]), m[2]!);
}
