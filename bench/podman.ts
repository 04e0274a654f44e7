// podman as the benchmarks run it beside myuts: with runc, its state in the benchmark's
// own folder (nothing of the machine's), and the limits any caller may set.
import { join } from "node:path";

/** podman's command line with its root, run root and temporary folder under `dir`. */
export function podmanCommand(dir: string): string[] {
  return [
    "podman",
    ...["--root", join(dir, "root"), "--runroot", join(dir, "run"), "--tmpdir", join(dir, "tmp")],
    ...["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc"],
  ];
}

/** podman asks for limits above this machine's hard ones, which only CAP_SYS_RESOURCE may raise: what any caller may set. */
export const PODMAN_ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
