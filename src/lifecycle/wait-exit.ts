// The wait for a container's process, shared by run and exec (apart from either, so
// that exec doesn't load run's engine).
import { waitNoHang } from "../../ffi/libc.ts";

/** Waits without blocking the event loop, so forwarded signals keep flowing. */
export function waitExit(pid: number): Promise<number> {
  return new Promise((resolve) => {
    // SIGCHLD handlers don't keep Bun's event loop alive; this timer does, and
    // doubles as a fallback poll.
    const keepAlive = setInterval(() => check(), 250);
    const check = () => {
      const r = waitNoHang(pid);
      if (!r) return;
      clearInterval(keepAlive);
      process.off("SIGCHLD", check);
      resolve(r.status);
    };
    process.on("SIGCHLD", check);
    check(); // it may have exited before the handler existed
  });
}
