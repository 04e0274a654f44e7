// The plumbing of a detached container's output: two pipes whose write ends become
// its stdout and stderr, and whose read ends go to its monitor (which writes the log).
// The runtime's copies close once the container runs.
import { close, pipe } from "../../ffi/libc.ts";
import type { MonitorPlan } from "../setup/compile.ts";
import { fs, path } from "../util/node.ts";
import { type DetachedMeta, detachedDir, exitCommand, exitFile, LOG_FILE, ROTATED_LOG } from "./detached.ts";

export class DetachedOutput {
  readonly stdio: readonly [number, number, number];
  readonly readEnds: readonly [number, number];
  readonly plan: MonitorPlan;
  private fds: number[];

  constructor(meta: DetachedMeta, env: Record<string, string | undefined>) {
    const [outR, outW] = pipe();
    const [errR, errW] = pipe();
    const devnull = fs().openSync("/dev/null", "r");
    this.fds = [outR, outW, errR, errW, devnull];
    this.stdio = [devnull, outW, errW];
    this.readEnds = [outR, errR];
    const dir = detachedDir(meta.name);
    this.plan = {
      log: path().join(dir, LOG_FILE),
      rotated: path().join(dir, ROTATED_LOG),
      maxBytes: meta.logMaxBytes,
      exitFile: exitFile(meta.name),
      exitCommand: exitCommand(meta.name, env),
    };
  }

  close(): void {
    for (const fd of this.fds) close(fd);
    this.fds = [];
  }
}
