// What the parent hands the init stage through the spec pipe, and what the init
// stage reports back through the status pipe when it fails before the exec.
import type { Spec } from "../spec/types.ts";

export interface InitEnvelope {
  spec: Spec;
  trace: boolean;
  debug: boolean;
  /** Epoch ms of the invocation, so both stages' trace lines share one clock. */
  origin: number;
}

export interface InitFailure {
  message: string;
  code: number;
  stack?: string;
}
