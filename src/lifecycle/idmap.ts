// User-namespace id mappings: parsing, /etc/subuid ranges, the checks that give one
// clear line before the kernel or newuidmap would refuse, and the mappings of
// idmapped mounts.
import type { IDMapping, Mount, Spec } from "../spec/types.ts";
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

export interface IdmapRequest {
  /** The mount's index in spec.mounts. */
  index: number;
  mount: Mount & { source: string };
  uid: IDMapping[];
  gid: IDMapping[];
  recursiveBind: boolean;
  recursiveMap: boolean;
}

function mappings(v: unknown, where: string): IDMapping[] | undefined {
  if (v === undefined || v === null) return undefined;
  const ok = (n: unknown) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff;
  if (!Array.isArray(v) || !v.length || !v.every((m) => m && ok(m.containerID) && ok(m.hostID) && ok(m.size) && m.size > 0))
    throw new UserError(`${where}: expected a list of {containerID, hostID, size} with sizes above 0`);
  return v as IDMapping[];
}

/**
 * The mounts to idmap, checked: bind mounts only; the mapping is the mount's own
 * uidMappings and gidMappings, or with `idmap`/`ridmap` alone the container's user
 * namespace's (runtime-spec 1.2).
 */
export function idmapRequests(spec: Spec): IdmapRequest[] {
  const out: IdmapRequest[] = [];
  (spec.mounts ?? []).forEach((m, index) => {
    const options = m.options ?? [];
    const where = `spec: mount ${m.destination}`;
    const uid = mappings(m.uidMappings, `${where}: uidMappings`);
    const gid = mappings(m.gidMappings, `${where}: gidMappings`);
    const option = options.includes("ridmap") ? "ridmap" : options.includes("idmap") ? "idmap" : undefined;
    if (!uid && !gid && !option) return;
    const recursiveBind = options.includes("rbind");
    if (m.type !== "bind" && !recursiveBind && !options.includes("bind")) throw new UserError(`${where}: only bind mounts can be idmapped`);
    if (!uid !== !gid) throw new UserError(`${where}: uidMappings and gidMappings go together`);
    const own = (spec.linux?.namespaces ?? []).some((n) => n.type === "user" && !n.path);
    const u = uid ?? (own ? spec.linux?.uidMappings : undefined);
    const g = gid ?? (own ? spec.linux?.gidMappings : undefined);
    if (!u?.length || !g?.length) throw new UserError(`${where}: ${option} needs the mount's uidMappings and gidMappings, or a new user namespace's`);
    checkNoOverlap("uid", u);
    checkNoOverlap("gid", g);
    out.push({ index, mount: { ...m, source: m.source ?? "" }, uid: u, gid: g, recursiveBind, recursiveMap: option === "ridmap" });
  });
  return out;
}
