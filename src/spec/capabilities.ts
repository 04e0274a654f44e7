// Capability names, docker's default set, and --cap-add/--cap-drop.
import { UserError } from "../util/errors.ts";

export const CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
  "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
  "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
] as const;

/**
 * docker's default set without CAP_MKNOD: with it, root inside could create a node
 * for a host disk and mount it, and myuts doesn't rely on a devices cgroup to stop that.
 */
export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP",
  "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

export function capNumber(name: string): number | undefined {
  const i = (CAPABILITIES as readonly string[]).indexOf(name);
  return i === -1 ? undefined : i;
}

function canonical(flag: string, v: string): string {
  const name = v.toUpperCase().startsWith("CAP_") ? v.toUpperCase() : `CAP_${v.toUpperCase()}`;
  if (capNumber(name) === undefined) throw new UserError(`run: --${flag} ${v}: unknown capability (see capabilities(7))`);
  return name;
}

/** The set after docker's rules: drops first, then adds; ALL stands for every capability. */
export function applyCapFlags(base: readonly string[], add: readonly string[], drop: readonly string[]): string[] {
  const set = new Set(base);
  for (const d of drop) {
    if (d.toUpperCase() === "ALL") set.clear();
    else set.delete(canonical("cap-drop", d));
  }
  for (const a of add) {
    if (a.toUpperCase() === "ALL") CAPABILITIES.forEach((c) => set.add(c));
    else set.add(canonical("cap-add", a));
  }
  return CAPABILITIES.filter((c) => set.has(c));
}
