// AppArmor for containers: whether the host has it, the default profile myuts loads
// the way docker loads docker-default, and the profile a running container's process
// is confined by (what `exec` gives a new process). The profile itself is applied by
// the setup program, which asks the kernel to switch at the payload's execve.
import { exists, readText } from "../../ffi/files.ts";
import { flock, LOCK_EX } from "../../ffi/libc.ts";
import { fs } from "../util/node.ts";
import { UserError } from "../util/errors.ts";
import { hasControl } from "../util/text.ts";

const SECURITYFS = "/sys/kernel/security/apparmor";

/**
 * The default profile's name. The revision is part of the name, as podman's
 * containers-default-VERSION, because a loaded profile is kept until the next boot:
 * a changed text gets a new name, and a unit test pins the text to this revision.
 */
export const DEFAULT_APPARMOR_PROFILE = "myuts-default-1";

/** runc's and youki's test: the module is enabled and its filesystem is there. */
export function apparmorEnabled(): boolean {
  if (!exists(SECURITYFS)) return false;
  try {
    return readText("/sys/module/apparmor/parameters/enabled").startsWith("Y");
  } catch {
    return false;
  }
}

/** The parser that loads profiles (apt's apparmor package), if this host has one. */
export function apparmorParser(): string | undefined {
  for (const dir of ["/usr/sbin", "/sbin"]) if (exists(`${dir}/apparmor_parser`)) return `${dir}/apparmor_parser`;
  return undefined;
}

/** The profile's name in the kernel's "name (mode)" form; undefined for anything else. */
const nameOf = (label: string): string | undefined => /^(.*) \([a-z]+\)$/.exec(label)?.[1];

/** Names of the profiles the kernel holds, from securityfs (one "name (mode)" a line). */
export function loadedProfiles(): Set<string> {
  const names = new Set<string>();
  for (const line of readText(`${SECURITYFS}/profiles`).split("\n")) {
    const name = nameOf(line);
    if (name) names.add(name);
  }
  return names;
}

/**
 * Whether `run` gives a container the default profile: as docker, when AppArmor is on
 * and the profile is loaded or the parser can load it; as podman, not for a rootless
 * caller, who could not load it and whose user namespace the profile was not written for.
 */
export function defaultProfileAvailable(uid: number): boolean {
  if (uid !== 0 || !apparmorEnabled()) return false;
  try {
    if (loadedProfiles().has(DEFAULT_APPARMOR_PROFILE)) return true;
  } catch {
    return false;
  }
  return apparmorParser() !== undefined;
}

/** One line, starting with `where`, for a name that can't be a profile's, or for a host without AppArmor. */
export function checkProfileName(name: unknown, where: string): void {
  if (typeof name !== "string" || !name || name.length > 4096 || hasControl(name)) throw new UserError(`${where}: not a profile name`);
  if (!apparmorEnabled()) throw new UserError(`${where}: this host has no AppArmor (${SECURITYFS} is absent), so there is no profile to apply`);
}

/**
 * Loads the default profile if the kernel doesn't hold it yet. Concurrent first starts
 * take turns (a lock on securityfs's directory, which leaves no file behind), so only
 * the first runs the parser; the others find the profile loaded.
 */
export function ensureDefaultProfile(profile: string | undefined): void {
  if (profile !== DEFAULT_APPARMOR_PROFILE || loadedProfiles().has(profile)) return;
  const parser = apparmorParser();
  if (!parser) throw new UserError(`AppArmor profile ${profile}: not loaded, and apparmor_parser is not installed to load it`);
  const c = fs().constants;
  const fd = fs().openSync(SECURITYFS, c.O_RDONLY | c.O_DIRECTORY);
  try {
    flock(fd, LOCK_EX);
    if (loadedProfiles().has(profile)) return;
    // -K: no cache under /etc or /var; -r: replace, should another tool have loaded it meanwhile.
    const r = Bun.spawnSync([parser, "-K", "-r"], { stdin: new TextEncoder().encode(defaultProfileText()), stdout: "ignore", stderr: "pipe", env: {} });
    if (r.exitCode !== 0) {
      const why = r.stderr.toString().trim().split("\n").pop() ?? "";
      throw new UserError(`AppArmor profile ${profile}: apparmor_parser failed (exit ${r.exitCode})${why ? `: ${why}` : ""}`);
    }
  } finally {
    fs().closeSync(fd);
  }
}

/** The profile a process runs under, from the kernel; undefined when it is unconfined. */
export function processProfile(pid: number): string | undefined {
  let text: string;
  try {
    text = readText(`/proc/${pid}/attr/apparmor/current`);
  } catch {
    text = readText(`/proc/${pid}/attr/current`);
  }
  const label = text.replace(/\0/g, "").trim();
  const name = nameOf(label) ?? label;
  return name && name !== "unconfined" ? name : undefined;
}

/**
 * The default profile. Inside, the container's files are its own (`file`), but what
 * reaches the host kernel is narrowed: no mounts even with CAP_SYS_ADMIN, no writes to
 * the kernel's settings under /proc and /sys (cgroupfs excepted, for a cgroup namespace),
 * no reading its memory, and signals and ptrace only among the container's processes,
 * plus signals from the runtime. Masked and read-only paths and seccomp stay in force:
 * this is a second line behind them.
 */
export function defaultProfileText(name = DEFAULT_APPARMOR_PROFILE): string {
  return `# Written by myuts: the default profile of its containers.
profile ${name} flags=(attach_disconnected,mediate_deleted) {
  file,
  network,
  capability,
  umount,

  signal (receive) peer=unconfined,
  signal (send,receive) peer=${name},
  ptrace (trace,read,tracedby,readby) peer=${name},

  deny mount,
  deny pivot_root,

  deny /proc/* wl,
  deny /proc/{kcore,kmem,mem,kallsyms,kpagecount,kpageflags,kpagecgroup,sysrq-trigger} rwklx,
  deny /proc/{acpi,asound,bus,driver,fs,irq,scsi,sys,sysvipc,tty}/** wl,
  deny /sys/{block,bus,class,dev,devices,hypervisor,kernel,module,power}/** wl,
  deny /sys/fs/[^c]*/** wl,
  deny /sys/fs/c[^g]*/** wl,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
  deny /sys/kernel/debug/** rwklx,
}
`;
}
