// User-namespace flags, as util-linux unshare spells them, plus OCI-style --uidmap/--gidmap.
import type { UserHost } from "../lifecycle/identity.ts";
import type { UserNsOptions } from "../spec/from-run.ts";
import { fmt, parseMapping, subIdRanges } from "../lifecycle/idmap.ts";
import type { IDMapping } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import type { FlagDef, Parsed } from "./argv.ts";
import { idArg as idValue } from "./ids.ts";

export const USER_FLAGS: readonly FlagDef[] = [
  { long: "user", short: "U", description: "new user namespace (without a mapping: like --map-root-user)" },
  { long: "map-root-user", short: "r", description: "map your uid and gid to root inside (implies --user, --setgroups=deny)" },
  { long: "map-current-user", description: "map your uid and gid to themselves inside (implies --user, --setgroups=deny)" },
  { long: "map-user", value: true, hint: "UID", description: "map your uid to UID inside (implies --user)" },
  { long: "map-group", value: true, hint: "GID", description: "map your gid to GID inside (implies --user, --setgroups=deny)" },
  {
    long: "map-users",
    value: true,
    repeat: true,
    hint: "auto|INNER:OUTER:COUNT",
    description: "map a uid range; auto takes your first /etc/subuid range at 0 (implies --user)",
  },
  {
    long: "map-groups",
    value: true,
    repeat: true,
    hint: "auto|INNER:OUTER:COUNT",
    description: "map a gid range; auto takes your first /etc/subgid range at 0 (implies --user)",
  },
  { long: "uidmap", value: true, repeat: true, hint: "CONTAINER:HOST:SIZE", description: "OCI-style uid mapping (implies --user)" },
  { long: "gidmap", value: true, repeat: true, hint: "CONTAINER:HOST:SIZE", description: "OCI-style gid mapping (implies --user)" },
  { long: "setgroups", value: true, hint: "allow|deny", description: "whether setgroups(2) is allowed inside the user namespace" },
];

function autoRange(kind: "uid" | "gid", host: UserHost): IDMapping {
  const file = kind === "uid" ? "/etc/subuid" : "/etc/subgid";
  let text = "";
  try {
    text = kind === "uid" ? host.subuid() : host.subgid();
  } catch {
    // a missing file reads as no ranges
  }
  const first = subIdRanges(text, { name: host.name, id: kind === "uid" ? host.uid : host.gid })[0];
  if (!first) {
    throw new UserError(
      `run: --map-${kind === "uid" ? "users" : "groups"}=auto: ${host.name} has no subordinate ${kind}s in ${file}; add a line like "${host.name}:100000:65536" to ${file}`,
    );
  }
  return { containerID: 0, hostID: first.start, size: first.count };
}

export function parseUserFlags(p: Parsed, host: UserHost): UserNsOptions | undefined {
  const has = (k: string) => p.bools.has(k) || p.flags.has(k);
  const mapping = ["map-root-user", "map-current-user", "map-user", "map-group", "map-users", "map-groups", "uidmap", "gidmap"].some(has);
  if (!has("user") && !mapping) {
    if (has("setgroups")) throw new UserError("run: --setgroups needs a user namespace (--user)");
    return undefined;
  }
  const uidMappings: IDMapping[] = [];
  const gidMappings: IDMapping[] = [];
  let uid = 0;
  let gid = 0;
  let deny = false;

  const rootUser = p.bools.has("map-root-user") || !mapping;
  if (rootUser) {
    uidMappings.push({ containerID: 0, hostID: host.uid, size: 1 });
    gidMappings.push({ containerID: 0, hostID: host.gid, size: 1 });
    deny = true;
  }
  if (p.bools.has("map-current-user")) {
    uidMappings.push({ containerID: host.uid, hostID: host.uid, size: 1 });
    gidMappings.push({ containerID: host.gid, hostID: host.gid, size: 1 });
    [uid, gid, deny] = [host.uid, host.gid, true];
  }
  const mapUser = p.flags.get("map-user")?.at(-1);
  if (mapUser !== undefined) {
    uid = idValue("map-user", mapUser);
    uidMappings.push({ containerID: uid, hostID: host.uid, size: 1 });
  }
  const mapGroup = p.flags.get("map-group")?.at(-1);
  if (mapGroup !== undefined) {
    gid = idValue("map-group", mapGroup);
    gidMappings.push({ containerID: gid, hostID: host.gid, size: 1 });
    deny = true;
  }
  for (const v of p.flags.get("map-users") ?? []) uidMappings.push(v === "auto" ? autoRange("uid", host) : parseMapping("map-users", v));
  for (const v of p.flags.get("map-groups") ?? []) gidMappings.push(v === "auto" ? autoRange("gid", host) : parseMapping("map-groups", v));
  for (const v of p.flags.get("uidmap") ?? []) uidMappings.push(parseMapping("uidmap", v));
  for (const v of p.flags.get("gidmap") ?? []) gidMappings.push(parseMapping("gidmap", v));
  // A range of ids doesn't need setgroups denied; only a lone self-mapping written without newgidmap does.
  if (p.flags.has("map-groups") || p.flags.has("gidmap")) deny = false;

  const sg = p.flags.get("setgroups")?.at(-1);
  if (sg !== undefined && sg !== "allow" && sg !== "deny") throw new UserError(`run: --setgroups ${sg}: expected allow or deny`);
  if (!uidMappings.length) throw new UserError("run: --user: no uid mapping (add --map-root-user, --map-users or --uidmap)");
  if (!gidMappings.length)
    throw new UserError(`run: --user: uid mapping ${uidMappings.map(fmt).join(",")} has no gid mapping (add --map-group, --map-groups or --gidmap)`);
  return { uidMappings, gidMappings, setgroups: sg === "allow" || sg === "deny" ? sg : deny ? "deny" : "allow", uid, gid };
}
