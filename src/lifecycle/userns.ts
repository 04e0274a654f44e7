// The parent's side of a new user namespace: plan the id maps before the clone
// (so a missing helper or subordinate range fails before anything exists), write
// them while the child waits, and explain clone failures by naming the knob.
import { fs } from "../util/node.ts";
import { EPERM } from "../../ffi/errno.ts";
import { readText, writeText } from "../../ffi/files.ts";
import { hasFileCaps } from "../../ffi/libc.ts";
import { callerIdentity } from "./identity.ts";
import { checkOwned, isSelfOnly, subIdRanges } from "./idmap.ts";
import { SETGROUPS_ANNOTATION, type IDMapping, type Spec } from "../spec/types.ts";
import { OsError, UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";

// Fixed, not $PATH: a root-run runtime must not take its setuid helpers from the caller.
const HELPER_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"];

interface MapWriter {
  kind: "uid" | "gid";
  maps: IDMapping[];
  /** newuidmap/newgidmap path, or undefined to write /proc/PID/{u,g}id_map directly. */
  helper?: string;
}

export interface UserNsPlan {
  uid: MapWriter;
  gid: MapWriter;
  denySetgroups: boolean;
}

export function planUserNamespace(spec: Spec): UserNsPlan {
  const me = callerIdentity();
  const privileged = me.uid === 0;
  const uidMaps = spec.linux?.uidMappings ?? [];
  const gidMaps = spec.linux?.gidMappings ?? [];
  const denySetgroups = spec.annotations?.[SETGROUPS_ANNOTATION] === "deny";
  const uid: MapWriter = { kind: "uid", maps: uidMaps };
  const gid: MapWriter = { kind: "gid", maps: gidMaps };
  if (privileged) return { uid, gid, denySetgroups };

  const read = (f: () => string) => {
    try {
      return f();
    } catch {
      return "";
    }
  };
  if (!isSelfOnly(uidMaps, me.uid)) {
    checkOwned("uid", uidMaps, me.uid, subIdRanges(read(me.subuid), { name: me.name, id: me.uid }), me.name);
    uid.helper = findHelper("newuidmap");
  }
  if (!isSelfOnly(gidMaps, me.gid)) {
    checkOwned("gid", gidMaps, me.gid, subIdRanges(read(me.subgid), { name: me.name, id: me.gid }), me.name);
    gid.helper = findHelper("newgidmap");
  } else if (!denySetgroups) {
    throw new UserError(
      "--setgroups=allow: without root, a gid mapping of only your own gid needs setgroups denied; map a range from /etc/subgid (--map-groups) to allow it",
    );
  }
  return { uid, gid, denySetgroups };
}

function findHelper(name: string): string {
  const path = HELPER_DIRS.map((d) => `${d}/${name}`).find((p) => {
    try {
      fs().accessSync(p, fs().constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!path) throw new UserError(`${name} not found in ${HELPER_DIRS.join(":")}: mapping id ranges without root needs it (Debian/Ubuntu: apt install uidmap)`);
  const st = fs().statSync(path);
  const setuidRoot = (st.mode & 0o4000) !== 0 && st.uid === 0;
  if (!setuidRoot && !hasFileCaps(path)) {
    throw new UserError(`${name} ${path} is neither setuid root nor has file capabilities, so it cannot write the map (fix: chmod u+s ${path}, as root)`);
  }
  return path;
}

/** Writes the maps of the waiting child `pid`. */
export function writeUserNamespaceMaps(pid: number, plan: UserNsPlan): void {
  writeMap(pid, plan.uid);
  if (plan.denySetgroups) procWrite(pid, "setgroups", "deny");
  writeMap(pid, plan.gid);
}

function writeMap(pid: number, w: MapWriter): void {
  if (!w.helper) {
    procWrite(pid, `${w.kind}_map`, w.maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join(""));
    return;
  }
  const args = w.maps.flatMap((m) => [String(m.containerID), String(m.hostID), String(m.size)]);
  const r = Bun.spawnSync([w.helper, String(pid), ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: {} });
  if (r.exitCode !== 0) {
    const why = (r.stderr.toString() || r.stdout.toString()).trim().split("\n").at(-1) ?? "";
    throw new UserError(`${w.helper.split("/").at(-1)} ${args.join(" ")}: failed (exit ${r.exitCode})${why ? `: ${why}` : ""}`);
  }
}

function procWrite(pid: number, file: string, content: string): void {
  try {
    writeText(`/proc/${pid}/${file}`, content);
  } catch (e) {
    throw fsError(`write /proc/${pid}/${file} ${JSON.stringify(content.trim())}`, e);
  }
}

const KNOBS: ReadonlyArray<{ file: string; bad: (v: string) => boolean; text: string }> = [
  {
    file: "/proc/sys/user/max_user_namespaces",
    bad: (v) => v === "0",
    text: "user namespaces are disabled (sysctl user.max_user_namespaces=0; raise it, e.g. sysctl -w user.max_user_namespaces=15000)",
  },
  {
    file: "/proc/sys/kernel/unprivileged_userns_clone",
    bad: (v) => v === "0",
    text: "unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone=0; set it to 1)",
  },
  {
    file: "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    bad: (v) => v === "1",
    text: "AppArmor restricts unprivileged user namespaces (sysctl kernel.apparmor_restrict_unprivileged_userns=1; set it to 0 or give myuts an AppArmor profile that allows userns)",
  },
];

/** Names the setting that stops an unprivileged user namespace, if one does. `read` is injectable for tests. */
export function userNamespaceBlocker(privileged: boolean, read: (f: string) => string = readText): string | undefined {
  for (const k of KNOBS) {
    if (privileged && k.file !== KNOBS[0]!.file) continue;
    let v: string;
    try {
      v = read(k.file).trim();
    } catch {
      continue;
    }
    if (k.bad(v)) return k.text;
  }
  return undefined;
}

export function cloneFailure(flags: string, errno: number, userns: boolean): OsError {
  const privileged = (process.geteuid?.() ?? 0) === 0;
  const hint = userns
    ? userNamespaceBlocker(privileged)
    : !privileged && errno === EPERM
      ? "creating namespaces needs root; add --user (--map-root-user) to run without it"
      : undefined;
  return new OsError(`create namespaces ${flags}`, errno, { syscall: "clone", hint });
}

/**
 * AppArmor's restriction (Ubuntu 24.04) lets the clone succeed and then denies the
 * namespace's capabilities, so the first mount fails with EPERM: say why.
 */
export function userNamespaceHint(errno: number, privileged = (process.geteuid?.() ?? 0) === 0, read?: (f: string) => string): string | undefined {
  return errno === EPERM ? userNamespaceBlocker(privileged, read) : undefined;
}
