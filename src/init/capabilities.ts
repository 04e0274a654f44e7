// The payload's capabilities (OCI process.capabilities). The bounding set is cut
// before the uid changes (that needs CAP_SETPCAP); the other sets after it, with
// PR_SET_KEEPCAPS so that a change away from uid 0 doesn't empty them first.
import { readText } from "../../ffi/files.ts";
import { capsetThread, prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_CAP_AMBIENT_RAISE, PR_CAPBSET_DROP, PR_SET_KEEPCAPS } from "../../ffi/libc.ts";
import { capNumber } from "../spec/capabilities.ts";
import type { Capabilities } from "../spec/types.ts";
import { inContext } from "./context.ts";

function lastCap(): number {
  try {
    return Number(readText("/proc/sys/kernel/cap_last_cap").trim());
  } catch {
    return 40;
  }
}

function mask(names: readonly string[] | undefined): bigint {
  let m = 0n;
  for (const n of names ?? []) {
    const c = capNumber(n);
    if (c !== undefined) m |= 1n << BigInt(c);
  }
  return m;
}

export function limitBoundingSet(caps: Capabilities): void {
  const keep = mask(caps.bounding);
  const last = lastCap();
  inContext("capabilities: bounding set", () => {
    for (let c = 0; c <= last; c++) if (!(keep & (1n << BigInt(c)))) prctl(PR_CAPBSET_DROP, c);
    prctl(PR_SET_KEEPCAPS, 1);
  });
}

export function applyCapabilities(caps: Capabilities): void {
  const permitted = mask(caps.permitted);
  inContext("capabilities", () => {
    capsetThread(mask(caps.effective) & permitted, permitted, mask(caps.inheritable));
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
    for (const n of caps.ambient ?? []) {
      const c = capNumber(n);
      if (c !== undefined) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c);
    }
  });
}
