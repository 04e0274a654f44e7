// --trace: each setup step with its start (relative to the `myuts` invocation) and
// duration, on stderr. When off, `step` is a direct call and nothing is formatted.
import { writeAll } from "../../ffi/libc.ts";

export class Tracer {
  constructor(
    readonly enabled: boolean,
    /** Epoch milliseconds of the invocation, shared with the native init's trace records. */
    readonly origin: number = now(),
    readonly stage: string = "run",
  ) {}

  step<T>(what: string | (() => string), fn: () => T): T {
    if (!this.enabled) return fn();
    const t = now();
    const r = fn();
    this.print(t, typeof what === "string" ? what : what(), now() - t);
    return r;
  }

  async stepAsync<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (!this.enabled) return fn();
    const t = now();
    const r = await fn();
    this.print(t, what, now() - t);
    return r;
  }

  /** A step another process timed (the init), on the same clock. */
  span(what: string, start: number, took: number, stage: string): void {
    if (this.enabled) this.print(start, what, took, stage);
  }

  note(what: string, at = now()): void {
    if (this.enabled) this.print(at, what);
  }

  private print(start: number, what: string, took?: number, stage = this.stage): void {
    const at = (start - this.origin).toFixed(3).padStart(8);
    const dur = took === undefined ? "" : `  (${took < 1 ? `${(took * 1000).toFixed(0)} µs` : `${took.toFixed(2)} ms`})`;
    writeAll(2, Buffer.from(`myuts ${stage.padEnd(4)} ${at} ms  ${what}${dur}\n`));
  }
}

/** When this process's JavaScript began (this module loads first). */
export const jsStart = now();

export function now(): number {
  return performance.timeOrigin + performance.now();
}
