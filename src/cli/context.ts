import type { CommandDef } from "citty";

/** State shared by the CLI's commands for one invocation. */
export interface CliContext {
  origin: number;
  debug: boolean;
  exitCode: number;
  root: () => CommandDef;
}
