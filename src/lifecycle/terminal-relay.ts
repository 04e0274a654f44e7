// `run -t`: the container gets a terminal of its own (a new pty whose slave is its
// stdio and controlling terminal), never the caller's, so nothing in it can push
// input into the caller's shell (TIOCSTI) or change the caller's terminal. The
// runtime relays between the two: the caller's stdin (raw, when it is a terminal)
// to the master, the master to the caller's stdout, and the caller's window size,
// now and on every SIGWINCH. The caller's terminal mode is restored on every way out.
import { close, isatty, writeAll } from "../../ffi/libc.ts";
import type { Pty } from "../../ffi/terminal.ts";
import { setWindowSize, windowSize } from "../../ffi/terminal.ts";
import { fs } from "../util/node.ts";

export class TerminalRelay {
  private raw = false;
  private pumping: Promise<void> | undefined;
  private readonly onInput = (d: Buffer) => {
    try {
      writeAll(this.pty.master, d);
    } catch {
      // the container's side is gone; its exit ends the run
    }
  };
  private readonly onResize = () => this.resize();

  constructor(readonly pty: Pty) {}

  /** Starts relaying; call once the container runs. */
  start(): void {
    this.resize();
    process.on("SIGWINCH", this.onResize);
    if (isatty(0) && process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      this.raw = true;
    }
    process.stdin.on("data", this.onInput);
    process.stdin.resume();
    this.pumping = this.pump();
  }

  private resize(): void {
    const size = windowSize(1) ?? windowSize(0);
    if (!size) return;
    try {
      setWindowSize(this.pty.master, size);
    } catch {
      // a closed master: the run is ending
    }
  }

  /** Copies the container's output until its side of the terminal is closed (EIO). */
  private async pump(): Promise<void> {
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const n = await new Promise<number>((resolve) => fs().read(this.pty.master, buf, 0, buf.length, null, (err, got) => resolve(err ? 0 : got)));
      if (n <= 0) return;
      let off = 0;
      while (off < n) off += fs().writeSync(1, buf, off, n - off);
    }
  }

  /** After the container's exit: the rest of its output (for at most two seconds), then the caller's terminal as it was. */
  async finish(): Promise<void> {
    if (this.pumping) await Promise.race([this.pumping, Bun.sleep(2000)]);
    this.restore();
  }

  /** Puts the caller's terminal back; safe to call more than once. */
  restore(): void {
    process.off("SIGWINCH", this.onResize);
    process.stdin.off("data", this.onInput);
    process.stdin.pause();
    if (this.raw) {
      this.raw = false;
      process.stdin.setRawMode(false);
    }
    if (this.pty.master >= 0) close(this.pty.master);
    this.pty.master = -1;
  }
}
