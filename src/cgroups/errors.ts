import { errnoFromCode, errnoText } from "../../ffi/errno.ts";
import { EXIT_RUNTIME, UserError } from "../util/errors.ts";

/** One line naming the controller, the file and the errno; exit 125. */
export class CgroupError extends UserError {
  constructor(controller: string, what: string, cause?: unknown) {
    super(`cgroup ${controller}: ${what}${cause === undefined ? "" : `: ${describe(cause)}`}`, EXIT_RUNTIME);
  }
}

export function errCode(e: unknown): string | undefined {
  return (e as { code?: string } | null)?.code;
}

function describe(e: unknown): string {
  const code = errCode(e);
  const n = errnoFromCode(code);
  if (n !== undefined) return errnoText(n);
  return code ?? (e instanceof Error ? e.message : String(e));
}
