// What the parent hands the init stage through the spec pipe, and what the init
// stage reports back through the status pipe when it fails before the exec.
import type { Spec } from "../spec/types.ts";

export interface InitEnvelope {
  spec: Spec;
  trace: boolean;
  debug: boolean;
  /** Epoch ms of the invocation, so both stages' trace lines share one clock. */
  origin: number;
  /**
   * The init stage stops before the payload's execve: it writes BARRIER_READY on the
   * status pipe and waits for BARRIER_GO on the spec pipe (cgroups are joined then).
   */
  barrier: boolean;
}

export const BARRIER_READY = "R";
export const BARRIER_GO = "G";

export interface InitFailure {
  message: string;
  code: number;
  stack?: string;
}
