// User-namespace id mappings: parsing, /etc/subuid ranges, and the checks that
// give one clear line before the kernel or newuidmap would refuse.
import type { IDMapping } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";

export interface SubIdRange {
  start: number;
  count: number;
}

/** /etc/subuid or /etc/subgid lines ("name-or-id:start:count") that belong to the user. */
export function subIdRanges(text: string, user: { name?: string; id: number }): SubIdRange[] {
  const out: SubIdRange[] = [];
  for (const line of text.split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if (!owner || start === undefined || count === undefined) continue;
    if (owner !== user.name && owner !== String(user.id)) continue;
    if (!/^\d+$/.test(start) || !/^\d+$/.test(count)) continue;
    out.push({ start: Number(start), count: Number(count) });
  }
  return out;
}

/** "INNER:OUTER:COUNT" (util-linux --map-users, OCI --uidmap order: container:host:size). */
export function parseMapping(flag: string, v: string): IDMapping {
  const m = /^(\d+):(\d+):(\d+)$/.exec(v);
  if (!m) throw new UserError(`run: --${flag} ${v}: expected INNER:OUTER:COUNT (e.g. 0:100000:65536)`);
  const [containerID, hostID, size] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (size < 1) throw new UserError(`run: --${flag} ${v}: COUNT must be at least 1`);
  if (containerID + size > 2 ** 32 - 1 || hostID + size > 2 ** 32 - 1) throw new UserError(`run: --${flag} ${v}: range exceeds 32-bit ids`);
  return { containerID, hostID, size };
}

export function checkNoOverlap(kind: "uid" | "gid", maps: readonly IDMapping[]): void {
  for (let i = 0; i < maps.length; i++) {
    for (let j = i + 1; j < maps.length; j++) {
      const a = maps[i]!;
      const b = maps[j]!;
      const inner = a.containerID < b.containerID + b.size && b.containerID < a.containerID + a.size;
      const outer = a.hostID < b.hostID + b.size && b.hostID < a.hostID + a.size;
      if (inner || outer) {
        throw new UserError(`${kind} mappings overlap: ${fmt(a)} and ${fmt(b)} (${inner ? "inside" : "on the host"})`);
      }
    }
  }
  if (maps.length > 340) throw new UserError(`${kind} mappings: at most 340 lines, got ${maps.length}`);
}

export const fmt = (m: IDMapping): string => `${m.containerID}:${m.hostID}:${m.size}`;

/** A mapping of exactly one id onto the caller itself needs no helper. */
export function isSelfOnly(maps: readonly IDMapping[], self: number): boolean {
  return maps.length === 1 && maps[0]!.size === 1 && maps[0]!.hostID === self;
}

/**
 * For an unprivileged caller: every host id must be the caller's own or inside one
 * of its subordinate ranges. Returns the line to add when one isn't.
 */
export function checkOwned(kind: "uid" | "gid", maps: readonly IDMapping[], self: number, owned: readonly SubIdRange[], user: string): void {
  const file = kind === "uid" ? "/etc/subuid" : "/etc/subgid";
  for (const m of maps) {
    // The caller's own id alone needs no range; in a longer mapping it must be owned like the rest.
    if (m.size === 1 && m.hostID === self) continue;
    if (owned.some((r) => m.hostID >= r.start && m.hostID + m.size <= r.start + r.count)) continue;
    if (!owned.length) {
      throw new UserError(`${kind} mapping ${fmt(m)}: ${user} has no subordinate ${kind}s in ${file}; add a line like "${user}:100000:65536" to ${file}`);
    }
    const have = owned.map((r) => `${r.start}-${r.start + r.count - 1}`).join(", ");
    throw new UserError(`${kind} mapping ${fmt(m)}: host ${kind}s ${m.hostID}-${m.hostID + m.size - 1} are not ${user}'s (${file} gives ${have})`);
  }
}

export function maps(mappings: readonly IDMapping[] | undefined, id: number): boolean {
  return (mappings ?? []).some((m) => id >= m.containerID && id < m.containerID + m.size);
}
