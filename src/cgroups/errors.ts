import { fsError } from "../util/fs-errors.ts";
import { UserError } from "../util/errors.ts";

/** One line naming the controller, the file and (kept as a number) the errno; exit 125. */
export function cgroupError(controller: string, what: string, cause?: unknown): UserError | ReturnType<typeof fsError> {
  const context = `cgroup ${controller}: ${what}`;
  return cause === undefined ? new UserError(context) : fsError(context, cause);
}

export function errCode(e: unknown): string | undefined {
  return (e as { code?: string } | null)?.code;
}
