// What the setup compiler needs to know of this host, read once per start.
import { exists, isDirectory, readText } from "../../ffi/files.ts";
import { isatty, ttyname } from "../../ffi/libc.ts";
import type { SetupFacts } from "../setup/compile.ts";
import { hostArch } from "../setup/syscalls.ts";
import { secureJoin } from "./secure-join.ts";

function lastCap(): number {
  try {
    return Number(readText("/proc/sys/kernel/cap_last_cap").trim());
  } catch {
    return 40;
  }
}

export function hostFacts(): SetupFacts {
  return {
    arch: hostArch(),
    // The container inherits the runtime's stdin; a terminal there becomes /dev/console.
    tty: isatty(0) ? ttyname(0) : undefined,
    lastCap: lastCap(),
    isDirectory,
    isCgroup2: () => exists("/sys/fs/cgroup/cgroup.controllers"),
    canonical: (root, dest) => secureJoin(root, dest).slice(root === "/" ? 0 : root.length) || "/",
  };
}
