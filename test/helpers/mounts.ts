// Reads the host's mount table, to prove that containers leave no mounts behind.
import { readFileSync } from "node:fs";

export interface MountEntry {
  id: number;
  parent: number;
  mountPoint: string;
  options: string;
  fsType: string;
  source: string;
}

/** Undoes mountinfo's octal escapes (\040 for a space and so on). */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const [left, right] = line.split(" - ");
    if (left === undefined || right === undefined) continue;
    const f = left.split(" ");
    const r = right.split(" ");
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      mountPoint: unescapeOctal(f[4] ?? ""),
      options: f[5] ?? "",
      fsType: r[0] ?? "",
      source: unescapeOctal(r[1] ?? ""),
    });
  }
  return out;
}

export function readMountinfo(pid: number | "self" = "self"): MountEntry[] {
  return parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, "utf8"));
}

/** A snapshot of the host's mounts, keyed so that a remount or a new mount shows up as a difference. */
export function mountSnapshot(): string[] {
  return readMountinfo().map((m) => `${m.id} ${m.mountPoint} ${m.fsType} ${m.source} ${m.options}`);
}

/** Mounts present now that were not in `before`, and mounts gone since. */
export function mountChanges(before: readonly string[]): { added: string[]; removed: string[] } {
  const now = mountSnapshot();
  const was = new Set(before);
  const is = new Set(now);
  return { added: now.filter((m) => !was.has(m)), removed: before.filter((m) => !is.has(m)) };
}

/** Host mount points at or below `dir`. */
export function mountsUnder(dir: string): MountEntry[] {
  return readMountinfo().filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(`${dir}/`));
}
