// A container's network namespace, made by the runtime before the container exists,
// so the CNI plugins have it to configure before anything runs in it and, at the end,
// to clean up, whatever became of the container's processes. The runtime holds it by
// a descriptor: plugins and the container reach it as /proc/RUNTIME/fd/N. Nothing is
// mounted or left on disk: when the runtime ends, however it ends, the namespace goes
// with its last process, and the kernel removes the container's veth with it.
import { close, openNewNetns } from "../../ffi/libc.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs } from "../util/node.ts";

export interface Netns {
  /** The path plugins and the container open. */
  readonly path: string;
  close(): void;
}

export function createNetns(): Netns {
  let back: number;
  try {
    back = fs().openSync("/proc/thread-self/ns/net", "r");
  } catch (e) {
    throw fsError("network namespace: /proc/thread-self/ns/net", e, "open");
  }
  let fd: number;
  try {
    fd = openNewNetns(back);
  } catch (e) {
    throw fsError("network namespace", e);
  } finally {
    fs().closeSync(back);
  }
  let open = true;
  return {
    path: `/proc/${process.pid}/fd/${fd}`,
    close() {
      if (open) close(fd);
      open = false;
    },
  };
}
