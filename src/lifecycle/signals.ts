// Forwards the signals a user sends `myuts run` to the container's process. The
// handlers exist before the clone, so a signal that arrives during the start is
// neither lost nor fatal to the runtime: it waits for the pid, then goes through.
import { kill } from "../../ffi/libc.ts";

const FORWARDED = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15, SIGWINCH: 28 } as const;
type Forwarded = keyof typeof FORWARDED;

export class SignalRelay {
  private pid = 0;
  private readonly pending: number[] = [];
  private readonly handlers = (Object.keys(FORWARDED) as Forwarded[]).map((name) => {
    const h = () => this.deliver(FORWARDED[name]);
    process.on(name, h);
    return [name, h] as const;
  });

  private deliver(sig: number): void {
    if (this.pid) kill(this.pid, sig);
    else this.pending.push(sig);
  }

  /** From now on signals go to `pid`; any that arrived earlier go first. */
  attach(pid: number): void {
    this.pid = pid;
    for (const sig of this.pending.splice(0)) kill(pid, sig);
  }

  close(): void {
    for (const [name, h] of this.handlers) process.off(name, h);
  }
}
