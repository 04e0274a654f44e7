// The default profile's filter for docker's default capabilities, compiled when the
// binary is built (imported as a Bun macro), so the common start skips the compiler.
import { compileSeccomp } from "../setup/seccomp/bpf.ts";
import type { Arch } from "../setup/syscalls.ts";
import { defaultSeccomp } from "./seccomp-default.ts";
import { DEFAULT_CAPABILITIES } from "./capabilities.ts";

/** Base64 of each architecture's filter. */
export function defaultFilters(): Record<Arch, string> {
  const filter = (arch: Arch) => Buffer.from(compileSeccomp(defaultSeccomp(DEFAULT_CAPABILITIES, arch), arch).filter).toString("base64");
  return { x64: filter("x64"), arm64: filter("arm64") };
}
