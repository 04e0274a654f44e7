// A terminal for a container's process (process.terminal): the pty is the runtime's,
// its slave becomes the process's stdio, and its master goes to the caller's console
// socket, as runc hands it to conmon or containerd's shim.
import { SyscallError } from "../../ffi/errno.ts";
import { kill } from "../../ffi/libc.ts";
import { openPty, sendFd, type Pty } from "../../ffi/terminal.ts";
import type { Process } from "../spec/types.ts";
import { fsError } from "../util/fs-errors.ts";

export function openConsole(what: string, process: Pick<Process, "consoleSize">): Pty {
  const size = process.consoleSize;
  try {
    return openPty(size ? { rows: size.height, cols: size.width } : undefined);
  } catch (e) {
    throw fsError(`${what}: the terminal`, e, e instanceof SyscallError ? e.syscall : undefined);
  }
}

/** Sends the master end; a process whose terminal can't reach the caller is killed, not left waiting on it. */
export function sendConsole(what: string, socket: string, master: number, pid: number): void {
  try {
    sendFd(socket, master, "/dev/ptmx");
  } catch (e) {
    if (pid > 0) kill(pid, 9);
    throw fsError(`${what}: --console-socket ${socket}`, e, e instanceof SyscallError ? e.syscall : undefined);
  }
}
