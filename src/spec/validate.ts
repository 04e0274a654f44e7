// Checks a spec before anything is created, so bad input costs no namespace and
// gets one line naming the field or path.
import { NETWORK_ANNOTATION, parseNetworkRequest } from "../network/request.ts";
import { checkDirectory, exists } from "../../ffi/files.ts";
import { ENOENT, ENOTDIR, SyscallError } from "../../ffi/errno.ts";
import { checkNoOverlap, fmt, idmapRequests, maps } from "../lifecycle/idmap.ts";
import { hooksProblem } from "../lifecycle/hooks.ts";
import { checkProfileName } from "../lifecycle/apparmor.ts";
import { checkLabel } from "../lifecycle/selinux.ts";
import { OsError, UserError } from "../util/errors.ts";
import { hasControl } from "../util/text.ts";
import { overlayData } from "../setup/mount-options.ts";
import { RLIMITS } from "../setup/rlimits.ts";
import { compileSeccomp } from "../setup/seccomp/bpf.ts";
import { hostArch } from "../setup/syscalls.ts";
import { notADirectoryHint } from "./rootfs-hint.ts";
import type { LinuxSeccomp, RootOverlay, Spec, ValidSpec } from "./types.ts";

const KNOWN_NS = new Set(["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"]);

/** Fields of the OCI spec that myuts does not apply yet: refused, never silently ignored. */
const NOT_APPLIED: ReadonlyArray<[string, (s: Record<string, unknown>) => unknown]> = [
  ["process.ioPriority", (s) => (s.process as Record<string, unknown> | undefined)?.ioPriority],
  ["process.scheduler", (s) => (s.process as Record<string, unknown> | undefined)?.scheduler],
  ["process.execCPUAffinity", (s) => (s.process as Record<string, unknown> | undefined)?.execCPUAffinity],
  ["linux.intelRdt", (s) => (s.linux as Record<string, unknown> | undefined)?.intelRdt],
];

function present(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

/** Checks a spec and returns it as the type the engine takes. */
export function validateSpec(spec: Spec): ValidSpec {
  const unsupported = NOT_APPLIED.filter(([, get]) => present(get(spec as unknown as Record<string, unknown>))).map(([name]) => name);
  if (unsupported.length) throw new UserError(`spec: ${unsupported.join(", ")}: not supported yet (myuts refuses what it would not apply)`);
  const p = spec.process;
  if (!p) throw new UserError("spec: process is missing");
  if (!Array.isArray(p.args) || p.args.length === 0 || typeof p.args[0] !== "string" || !p.args[0]) {
    throw new UserError("spec: process.args is empty: nothing to run");
  }
  if (typeof p.cwd !== "string" || !p.cwd.startsWith("/")) throw new UserError(`spec: process.cwd ${JSON.stringify(p.cwd)} must be an absolute path`);
  for (const s of [...p.args, ...(p.env ?? [])]) {
    if (typeof s !== "string" || s.includes("\0")) throw new UserError("spec: process.args and process.env must be strings without NUL bytes");
  }
  for (const id of [p.user?.uid, p.user?.gid, ...(p.user?.additionalGids ?? [])]) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > 0xfffffffe)
      throw new UserError(`spec: process.user has an invalid id ${JSON.stringify(id)}`);
  }
  checkRlimits(p.rlimits);
  if (p.apparmorProfile !== undefined && p.apparmorProfile !== "")
    checkProfileName(p.apparmorProfile, `spec: process.apparmorProfile ${JSON.stringify(p.apparmorProfile)}`);
  if (p.selinuxLabel !== undefined && p.selinuxLabel !== "") checkLabel(p.selinuxLabel, `spec: process.selinuxLabel ${JSON.stringify(p.selinuxLabel)}`);
  const mountLabel = spec.linux?.mountLabel;
  if (mountLabel !== undefined && mountLabel !== "") {
    checkLabel(mountLabel, `spec: linux.mountLabel ${JSON.stringify(mountLabel)}`);
    // It becomes a mount option, quoted: a quote or comma of its own would end it.
    if (/[",]/.test(mountLabel)) throw new UserError(`spec: linux.mountLabel ${JSON.stringify(mountLabel)}: not an SELinux context`);
  }
  checkPersonality(spec.linux?.personality);
  // An empty section, as some tools write, filters nothing.
  if (spec.linux?.seccomp !== undefined && !present(spec.linux.seccomp)) delete spec.linux.seccomp;
  if (spec.linux?.seccomp !== undefined) checkSeccomp(spec.linux.seccomp);
  if (p.consoleSize !== undefined) {
    const { height, width } = p.consoleSize ?? {};
    for (const v of [height, width]) {
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffff)
        throw new UserError(`spec: process.consoleSize ${JSON.stringify(p.consoleSize)}: height and width must be numbers from 0 to 65535`);
    }
  }

  const ns = new Set<string>();
  const created = new Set<string>();
  for (const n of spec.linux?.namespaces ?? []) {
    if (!KNOWN_NS.has(n.type)) throw new UserError(`spec: linux.namespaces: unknown type ${JSON.stringify(n.type)}`);
    if (ns.has(n.type)) throw new UserError(`spec: linux.namespaces: ${n.type} is listed twice`);
    if (n.path === undefined) created.add(n.type);
    else if (typeof n.path !== "string" || !n.path.startsWith("/") || n.path.includes("\0")) {
      throw new UserError(`spec: linux.namespaces: ${n.type} path ${JSON.stringify(n.path)} must be an absolute path`);
    }
    ns.add(n.type);
  }
  const network = spec.annotations?.[NETWORK_ANNOTATION];
  if (network !== undefined) {
    parseNetworkRequest(network);
    if (!created.has("network")) throw new UserError(`spec: annotation ${NETWORK_ANNOTATION} needs a new network namespace (linux.namespaces without a path)`);
  }
  if (created.has("user")) {
    const { uidMappings = [], gidMappings = [] } = spec.linux ?? {};
    if (!uidMappings.length || !gidMappings.length) throw new UserError("spec: a new user namespace needs linux.uidMappings and linux.gidMappings");
    checkNoOverlap("uid", uidMappings);
    checkNoOverlap("gid", gidMappings);
    if (!maps(uidMappings, p.user.uid))
      throw new UserError(`spec: process.user.uid ${p.user.uid} is not mapped in the user namespace (mapped: ${uidMappings.map(fmt).join(", ")})`);
    if (!maps(gidMappings, p.user.gid))
      throw new UserError(`spec: process.user.gid ${p.user.gid} is not mapped in the user namespace (mapped: ${gidMappings.map(fmt).join(", ")})`);
  } else if (spec.linux?.uidMappings?.length || spec.linux?.gidMappings?.length) {
    throw new UserError("spec: linux.uidMappings need a new user namespace");
  }
  for (const [field, v] of [
    ["hostname", spec.hostname],
    ["domainname", spec.domainname],
  ] as const) {
    if (v !== undefined && (typeof v !== "string" || hasControl(v))) throw new UserError(`spec: ${field} ${JSON.stringify(v)} contains a control character`);
  }
  if ((spec.hostname !== undefined || spec.domainname !== undefined) && !ns.has("uts")) {
    throw new UserError("spec: hostname and domainname need a new uts namespace (--uts)");
  }
  if (spec.linux?.timeOffsets && !ns.has("time")) throw new UserError("spec: linux.timeOffsets needs a new time namespace (--time)");

  const root = spec.root?.path;
  if (!root) throw new UserError("spec: root.path is missing");
  if (root !== "/") {
    if (!ns.has("mount")) throw new UserError(`spec: root ${root} needs a new mount namespace`);
    if (spec.root?.overlay) checkOverlay(root, spec.root.overlay);
    else
      try {
        checkDirectory(root);
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
        const hint = e.errno === ENOTDIR ? notADirectoryHint(root) : undefined;
        throw new OsError(`rootfs ${root}`, e.errno, { syscall: "open", hint });
      }
  }
  if ((spec.mounts?.length || spec.root?.readonly) && !ns.has("mount")) {
    throw new UserError("spec: mounts need a new mount namespace (--mount)");
  }
  for (const m of spec.mounts ?? []) {
    if (typeof m.destination !== "string" || !m.destination.startsWith("/")) {
      throw new UserError(`spec: mount destination ${JSON.stringify(m.destination)} must be an absolute path`);
    }
    const bind = m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
    if (bind) {
      if (!exists(m.source ?? "")) throw new OsError(`mount ${m.destination}: source ${m.source}`, ENOENT, { syscall: "stat" });
    }
  }
  idmapRequests(spec);
  const badHooks = hooksProblem(spec.hooks);
  if (badHooks) throw new UserError(`spec: ${badHooks}`);
  checkDevices(spec);
  checkSysctl(spec.linux?.sysctl, ns);
  checkStrings(spec);
  return { ...spec, process: p, root: { ...spec.root!, path: root }, linux: { ...spec.linux, namespaces: spec.linux?.namespaces ?? [] } };
}

const IPC_SYSCTLS = new Set([
  "kernel.msgmax",
  "kernel.msgmnb",
  "kernel.msgmni",
  "kernel.sem",
  "kernel.shmall",
  "kernel.shmmax",
  "kernel.shmmni",
  "kernel.shm_rmid_forced",
]);
const UTS_SYSCTLS = new Set(["kernel.hostname", "kernel.domainname"]);

/** The namespace a sysctl belongs to, as runc sorts them; anything else is the host's. */
function sysctlNamespace(key: string): string | undefined {
  const dotted = key.replace(/\//g, ".");
  if (IPC_SYSCTLS.has(dotted) || dotted.startsWith("fs.mqueue.")) return "ipc";
  if (UTS_SYSCTLS.has(dotted)) return "uts";
  if (dotted.startsWith("net.")) return "network";
  return undefined;
}

/**
 * linux.sysctl: only settings of a namespace the container has, so nothing written
 * reaches the host; keys are plain (no ".." to climb out of /proc/sys).
 */
function checkSysctl(sysctl: unknown, ns: ReadonlySet<string>): void {
  if (sysctl === undefined || sysctl === null) return;
  if (typeof sysctl !== "object" || Array.isArray(sysctl)) throw new UserError("spec: linux.sysctl must be an object of KEY: VALUE");
  for (const [key, value] of Object.entries(sysctl)) {
    const at = `spec: linux.sysctl: ${JSON.stringify(key)}`;
    if (!/^[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)*$/.test(key)) throw new UserError(`${at}: not a sysctl name`);
    if (typeof value !== "string" || value.includes("\0")) throw new UserError(`${at}: the value must be a string without NUL bytes`);
    const owner = sysctlNamespace(key);
    if (!owner) throw new UserError(`${at}: not namespaced: it would change the host (myuts allows net.*, IPC and UTS settings)`);
    if (!ns.has(owner)) throw new UserError(`${at}: needs its own ${owner} namespace (--${owner === "network" ? "net" : owner})`);
  }
}

const DEVICE_TYPES = new Set(["c", "b", "u", "p"]);
const u32 = (v: unknown): boolean => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/**
 * linux.devices are created in the container's own /dev tmpfs, and nowhere else:
 * without one they would land in the root filesystem or on the host.
 */
function checkDevices(spec: Spec): void {
  const devices: unknown = spec.linux?.devices;
  if (devices === undefined || devices === null) return;
  if (!Array.isArray(devices)) throw new UserError("spec: linux.devices must be a list");
  if (!devices.length) return;
  const devTmpfs = (spec.mounts ?? []).some((m) => m.destination === "/dev" && m.type === "tmpfs");
  if (spec.root?.path === "/" || !devTmpfs) throw new UserError("spec: linux.devices need a root filesystem with a tmpfs mounted on /dev");
  const seen = new Set<string>();
  for (const d of devices as Array<Record<string, unknown> | null>) {
    const path = d?.path;
    const at = `spec: linux.devices: ${JSON.stringify(path)}`;
    if (typeof path !== "string" || !path.startsWith("/dev/") || path.includes("\0")) throw new UserError(`${at}: path must be under /dev/`);
    const parts = path.split("/").slice(2);
    if (parts.some((x) => x === "" || x === "." || x === ".."))
      throw new UserError(`${at}: path must be a plain path under /dev/ (no empty, "." or ".." parts)`);
    if (seen.has(path)) throw new UserError(`${at}: listed twice`);
    seen.add(path);
    if (typeof d!.type !== "string" || !DEVICE_TYPES.has(d!.type)) throw new UserError(`${at}: type ${JSON.stringify(d!.type)} must be one of c, b, u, p`);
    if (d!.type !== "p") {
      if (!u32(d!.major) || (d!.major as number) > 0xfff) throw new UserError(`${at}: major ${JSON.stringify(d!.major)} must be a number from 0 to 4095`);
      if (!u32(d!.minor) || (d!.minor as number) > 0xfffff) throw new UserError(`${at}: minor ${JSON.stringify(d!.minor)} must be a number from 0 to 1048575`);
    }
    if (d!.fileMode !== undefined && (!u32(d!.fileMode) || (d!.fileMode as number) > 0o7777))
      throw new UserError(`${at}: fileMode ${JSON.stringify(d!.fileMode)} must be permission bits (0 to 0o7777)`);
    for (const k of ["uid", "gid"] as const) {
      if (d![k] !== undefined && (!u32(d![k]) || (d![k] as number) > 0xfffffffe)) throw new UserError(`${at}: ${k} ${JSON.stringify(d![k])} is not a valid id`);
    }
  }
}

function checkRlimits(rlimits: unknown): void {
  if (rlimits === undefined) return;
  if (!Array.isArray(rlimits)) throw new UserError("spec: process.rlimits must be a list");
  const seen = new Set<string>();
  for (const r of rlimits as Array<Record<string, unknown> | null>) {
    const type = r?.type;
    if (typeof type !== "string" || !(type in RLIMITS)) {
      throw new UserError(`spec: process.rlimits: unknown type ${JSON.stringify(type)} (known: ${Object.keys(RLIMITS).join(", ")})`);
    }
    if (seen.has(type)) throw new UserError(`spec: process.rlimits: ${type} is listed twice`);
    seen.add(type);
    for (const k of ["soft", "hard"] as const) {
      const v = r?.[k];
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
        throw new UserError(`spec: process.rlimits: ${type} ${k} ${JSON.stringify(v)} must be a whole number`);
    }
    if ((r!.soft as number) > (r!.hard as number)) throw new UserError(`spec: process.rlimits: ${type} soft ${r!.soft} is above hard ${r!.hard}`);
  }
}

/**
 * Every string the native init reads is a C string: a NUL inside one would cut a
 * path short, so a spec that holds one is refused, naming the field.
 */
function checkStrings(spec: Spec): void {
  const fields: Array<[string, unknown]> = [
    ["root.path", spec.root?.path],
    ["process.cwd", spec.process?.cwd],
    ["hostname", spec.hostname],
    ["domainname", spec.domainname],
    ...(spec.mounts ?? []).flatMap(
      (m, i): Array<[string, unknown]> => [
        [`mounts[${i}].destination`, m.destination],
        [`mounts[${i}].source`, m.source],
        [`mounts[${i}].type`, m.type],
        ...(m.options ?? []).map((o): [string, unknown] => [`mounts[${i}].options`, o]),
      ],
    ),
    ...(spec.linux?.maskedPaths ?? []).map((x): [string, unknown] => ["linux.maskedPaths", x]),
    ...(spec.linux?.readonlyPaths ?? []).map((x): [string, unknown] => ["linux.readonlyPaths", x]),
  ];
  for (const [field, v] of fields) {
    if (v === undefined) continue;
    if (typeof v !== "string") throw new UserError(`spec: ${field} must be a string`);
    if (v.includes("\0")) throw new UserError(`spec: ${field} ${JSON.stringify(v)} contains a NUL byte`);
  }
}

/** Compiling it is the check: every name, action and comparison, for this machine's architecture. */
function checkSeccomp(s: LinuxSeccomp): void {
  const { notify } = compileSeccomp(s, hostArch());
  if (notify && (typeof s.listenerPath !== "string" || !s.listenerPath.startsWith("/")))
    throw new UserError(`spec: linux.seccomp.listenerPath ${JSON.stringify(s.listenerPath)}: SCMP_ACT_NOTIFY needs the agent's socket, as an absolute path`);
}

/**
 * An image root's overlay: every path absolute and free of the characters that
 * separate overlayfs options (",", ":", "\\") and of control characters, the layers
 * existing directories, and the mount data within the kernel's one page.
 */
function checkOverlay(root: string, o: RootOverlay): void {
  const ok = (p: unknown): p is string => typeof p === "string" && p.startsWith("/") && !/[,:\\\x00-\x1f]/.test(p);
  if (!Array.isArray(o.lowerdir) || !o.lowerdir.length || o.lowerdir.length > 128)
    throw new UserError("spec: root.overlay.lowerdir: expected 1 to 128 layer directories");
  for (const p of [...o.lowerdir, o.upperdir, o.workdir, root]) {
    if (!ok(p)) throw new UserError(`spec: root.overlay: ${JSON.stringify(p)} must be an absolute path without , : \\ or control characters`);
  }
  for (const p of o.lowerdir) {
    try {
      checkDirectory(p);
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      throw new OsError(`image layer ${p}`, e.errno, { syscall: "open" });
    }
  }
  if (o.copy !== undefined && typeof o.copy !== "boolean") throw new UserError("spec: root.overlay.copy: expected true or false");
  if (overlayData(o).length > 4000)
    throw new UserError(`spec: root.overlay: ${o.lowerdir.length} layers make the mount options longer than a page; use shorter paths`);
}

/** linux.personality: the domains runc takes; flags, which runc doesn't apply either, are refused. */
function checkPersonality(p: unknown): void {
  if (p === undefined) return;
  const v = p as { domain?: unknown; flags?: unknown } | null;
  if (typeof v !== "object" || v === null || (v.domain !== "LINUX" && v.domain !== "LINUX32"))
    throw new UserError(`spec: linux.personality.domain ${JSON.stringify(v?.domain)}: expected LINUX or LINUX32`);
  if (v.flags !== undefined && (!Array.isArray(v.flags) || v.flags.length > 0)) throw new UserError("spec: linux.personality.flags: not supported yet");
}
