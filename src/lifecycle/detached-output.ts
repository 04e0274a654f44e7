// The plumbing of a detached container's output. Without a terminal: two pipes whose
// write ends become its stdout and stderr, and whose read ends go to its monitor
// (which writes the log). With one: the pty's master and a listening attach socket
// go to the monitor, which logs what the terminal shows and hands the master to
// `myuts attach`. The runtime's copies close once the container runs.
import { close, pipe } from "../../ffi/libc.ts";
import { listenUnix, type Pty } from "../../ffi/terminal.ts";
import type { MonitorPlan } from "../setup/compile.ts";
import { fsError } from "../util/fs-errors.ts";
import { openFile } from "../../ffi/files.ts";
import { joinPath } from "../util/paths.ts";
import { attachSocket, type DetachedMeta, detachedDir, exitCommand, exitFile, LOG_FILE, ROTATED_LOG } from "./detached.ts";

export class DetachedOutput {
  readonly stdio: readonly [number, number, number];
  readonly readEnds: readonly [number, number];
  readonly plan: MonitorPlan;
  private fds: number[];

  constructor(meta: DetachedMeta, env: Record<string, string | undefined>, pty?: Pty) {
    const devnull = openFile("/dev/null");
    this.fds = [devnull];
    const dir = detachedDir(meta.name);
    if (pty) {
      let listening: number;
      try {
        listening = listenUnix(attachSocket(meta.name));
      } catch (e) {
        close(devnull);
        close(pty.master);
        throw fsError(`container ${meta.name}: attach socket`, e, "bind");
      }
      this.fds.push(pty.master, listening);
      this.stdio = [devnull, devnull, devnull];
      this.readEnds = [pty.master, listening];
    } else {
      const [outR, outW] = pipe();
      const [errR, errW] = pipe();
      this.fds.push(outR, outW, errR, errW);
      this.stdio = [devnull, outW, errW];
      this.readEnds = [outR, errR];
    }
    this.plan = {
      log: joinPath(dir, LOG_FILE),
      rotated: joinPath(dir, ROTATED_LOG),
      maxBytes: meta.logMaxBytes,
      exitFile: exitFile(meta.name),
      exitCommand: exitCommand(meta.name, env),
      ...(pty ? { terminal: pty.slave } : {}),
    };
  }

  close(): void {
    for (const fd of this.fds) close(fd);
    this.fds = [];
  }
}
