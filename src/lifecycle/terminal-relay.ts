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

export interface RelayOptions {
  /** Where the container's output comes from, when not the master (`attach`: the monitor's socket). */
  output?: number;
  /** A key sequence that ends the relay, leaving the container running (`attach`: ctrl-p ctrl-q). */
  detachKeys?: readonly number[];
}

export class TerminalRelay {
  private raw = false;
  private pumping: Promise<void> | undefined;
  /** How many of the detach keys the last input ended with (held back until the next byte decides). */
  private matched = 0;
  private detach: (() => void) | undefined;
  /** Resolves when the user typed the detach keys. */
  readonly detached: Promise<void>;
  private readonly onInput = (d: Buffer) => this.input(d);
  private readonly onResize = () => this.resize();

  constructor(
    readonly pty: Pty,
    private readonly opts: RelayOptions = {},
  ) {
    this.detached = new Promise((resolve) => {
      this.detach = resolve;
    });
  }

  /** Keeps the caller's input flowing to the container, watching for the detach keys. */
  private input(d: Buffer): void {
    const keys = this.opts.detachKeys;
    let out: Buffer = d;
    if (keys?.length) {
      const bytes: number[] = [];
      for (const b of d) {
        if (b === keys[this.matched]) {
          if (++this.matched === keys.length) {
            this.matched = 0;
            this.write(Buffer.from(bytes));
            this.detach?.();
            return;
          }
          continue;
        }
        // Not the sequence after all: what was held goes through.
        bytes.push(...keys.slice(0, this.matched));
        this.matched = 0;
        if (b === keys[0]) this.matched = 1;
        else bytes.push(b);
      }
      out = Buffer.from(bytes);
    }
    this.write(out);
  }

  private write(d: Buffer): void {
    if (!d.length || this.pty.master < 0) return;
    try {
      writeAll(this.pty.master, d);
    } catch {
      // the container's side is gone; its exit ends the run
    }
  }

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
      const from = this.opts.output ?? this.pty.master;
      const n = await new Promise<number>((resolve) => fs().read(from, buf, 0, buf.length, null, (err, got) => resolve(err ? 0 : got)));
      if (n <= 0) return;
      let off = 0;
      while (off < n) off += fs().writeSync(1, buf, off, n - off);
    }
  }

  /** Resolves when the output ends: the container's side of the terminal (or the monitor's socket) closed. */
  get ended(): Promise<void> {
    return this.pumping ?? Promise.resolve();
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
