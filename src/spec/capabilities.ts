// Capability names, docker's default set, and --cap-add/--cap-drop.
import { CAPABILITIES, capNumber } from "../setup/capabilities.ts";
import { UserError } from "../util/errors.ts";

export { CAPABILITIES };

/**
 * docker's default set without CAP_MKNOD: with it, root inside could create a node
 * for a host disk and mount it, and myuts doesn't rely on a devices cgroup to stop that.
 */
export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

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
    if (a.toUpperCase() === "ALL") for (const c of CAPABILITIES) set.add(c);
    else set.add(canonical("cap-add", a));
  }
  return CAPABILITIES.filter((c) => set.has(c));
}
