// docker's and podman's --device HOST[:CONTAINER][:PERMISSIONS]: the host node is
// looked at here, so the spec carries its type and numbers, as theirs do.
import { fs } from "../util/node.ts";
import type { LinuxDevice } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";

export interface DeviceRequest {
  /** The node to create in the container (path is the container's). */
  device: LinuxDevice;
  /** The host node, which a user namespace binds instead (mknod is refused there). */
  hostPath: string;
  /** The cgroup access it is allowed: some of r, w and m. */
  access: string;
}

/** Linux's dev_t split (the glibc gnu_dev_major/minor layout). */
function majorOf(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
function minorOf(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff);
}

export function parseDevice(v: string): DeviceRequest {
  const parts = v.split(":");
  const last = parts.at(-1) ?? "";
  const access = parts.length > 1 && /^[rwm]+$/.test(last) ? (parts.pop() as string) : "rwm";
  if (parts.length > 2 || !parts[0]?.startsWith("/")) throw new UserError(`run: --device ${v}: expected HOST[:CONTAINER][:PERMISSIONS], HOST an absolute path`);
  const hostPath = parts[0];
  const path = parts[1] ?? hostPath;
  let st: import("node:fs").Stats;
  try {
    st = fs().statSync(hostPath);
  } catch (e) {
    throw fsError(`run: --device ${hostPath}`, e);
  }
  const type = st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : st.isFIFO() ? "p" : "";
  if (!type) throw new UserError(`run: --device ${hostPath}: not a device node`);
  if (!path.startsWith("/dev/")) throw new UserError(`run: --device ${v}: the container path must be under /dev/`);
  const rdev = Number(st.rdev);
  return {
    device: { path, type, major: majorOf(rdev), minor: minorOf(rdev), fileMode: Number(st.mode) & 0o777, uid: 0, gid: 0 },
    hostPath,
    access,
  };
}
