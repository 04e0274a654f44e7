// runtime-spec's seccomp user notification: a filter with SCMP_ACT_NOTIFY hands its
// listener to the agent at linux.seccomp.listenerPath, over a unix socket, with the
// container's process state as the message (containerProcessState, fds ["seccompFd"]).
import { SyscallError } from "../../ffi/errno.ts";
import { sendFd } from "../../ffi/terminal.ts";
import { OCI_VERSION, type LinuxSeccomp } from "../spec/types.ts";
import { fsError } from "../util/fs-errors.ts";

export interface AgentContainer {
  id: string;
  bundle: string;
  status: "creating" | "running";
  annotations?: Record<string, string>;
}

export function sendListener(seccomp: LinuxSeccomp, c: AgentContainer, pid: number, fd: number): void {
  const path = seccomp.listenerPath ?? "";
  const message = {
    ociVersion: OCI_VERSION,
    fds: ["seccompFd"],
    pid,
    metadata: seccomp.listenerMetadata ?? "",
    state: {
      ociVersion: OCI_VERSION,
      id: c.id,
      status: c.status,
      pid,
      bundle: c.bundle,
      ...(c.annotations && Object.keys(c.annotations).length ? { annotations: c.annotations } : {}),
    },
  };
  try {
    sendFd(path, fd, JSON.stringify(message));
  } catch (e) {
    throw fsError(`linux.seccomp.listenerPath ${path}`, e, e instanceof SyscallError ? e.syscall : undefined);
  }
}
