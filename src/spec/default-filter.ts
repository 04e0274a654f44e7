// The default seccomp profile's filter for docker's capabilities, compiled when the
// binary is built: a start with that profile, or an exec into such a container, skips
// the compiler (about 2 ms of first-run code on this path).
import { defaultFilters } from "./seccomp-default-filter.ts" with { type: "macro" };
import type { Arch } from "../setup/syscalls.ts";
import type { LinuxSeccomp } from "./types.ts";
import { DEFAULT_CAPABILITIES } from "./capabilities.ts";
import { defaultSeccomp } from "./seccomp-default.ts";

const DEFAULT_FILTERS = defaultFilters();

export function defaultFilter(arch: Arch): Uint8Array {
  return Buffer.from(DEFAULT_FILTERS[arch], "base64");
}

/** The built-in filter when a section (an exec target's, read back from its state) is exactly the default profile. */
export function knownFilter(s: LinuxSeccomp, arch: Arch): Uint8Array | undefined {
  return JSON.stringify(s) === JSON.stringify(defaultSeccomp(DEFAULT_CAPABILITIES, arch)) ? defaultFilter(arch) : undefined;
}
