// `myuts attach NAME`: the terminal of a detached container started with -t. The
// monitor hands over the pty's master (to type into and resize) and streams what the
// terminal shows; ctrl-p ctrl-q detaches, leaving the container running, as docker's.
import { ECONNREFUSED, ENOENT, SyscallError } from "../../ffi/errno.ts";
import { close, writeAll } from "../../ffi/libc.ts";
import { connectUnix, receiveFd } from "../../ffi/terminal.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { attachSocket } from "./detached.ts";
import { TerminalRelay } from "./terminal-relay.ts";

/** docker's default detach keys: ctrl-p, ctrl-q. */
export const DETACH_KEYS = [0x10, 0x11] as const;

export interface AttachConnection {
  sock: number;
  master: number;
}

/** Connects to a terminal container's monitor and takes its pty master. */
export function connectAttach(name: string): AttachConnection {
  let sock: number;
  try {
    sock = connectUnix(attachSocket(name));
  } catch (e) {
    if (e instanceof SyscallError && (e.errno === ENOENT || e.errno === ECONNREFUSED))
      throw new UserError(`container ${name}: has no terminal to attach to (start it with run -d -t), or has ended`);
    throw fsError(`container ${name}: attach`, e, "connect");
  }
  try {
    return { sock, master: receiveFd(sock, attachSocket(name)) };
  } catch (e) {
    close(sock);
    throw fsError(`container ${name}: attach`, e, "recvmsg");
  }
}

/** Relays until the user detaches ("detached") or the container's terminal closes ("ended"). */
export async function attachContainer(name: string, connected?: AttachConnection): Promise<"detached" | "ended"> {
  const { sock, master } = connected ?? connectAttach(name);
  const relay = new TerminalRelay({ master, slave: "" }, { output: sock, detachKeys: DETACH_KEYS });
  try {
    relay.start();
    const how = await Promise.race([relay.ended.then(() => "ended" as const), relay.detached.then(() => "detached" as const)]);
    if (how === "detached") {
      // Told, the monitor of a foreground run -t stops dying with its runtime; it closes the
      // socket once it has, and only then may this process end.
      writeAll(sock, new TextEncoder().encode("D"));
      await Promise.race([relay.ended, Bun.sleep(5000)]);
    }
    return how;
  } finally {
    relay.restore();
    close(sock);
  }
}
