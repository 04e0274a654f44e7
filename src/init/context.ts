import { errnoFromCode, errnoText, SyscallError } from "../../ffi/errno.ts";
import { EXIT_RUNTIME, UserError } from "../util/errors.ts";

/** Runs fn; a failure becomes one line that says what was being done, e.g. "mount /dev/pts: mount: EINVAL (…)". */
export function inContext<T>(what: string, fn: () => T, exitCode = EXIT_RUNTIME): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof UserError) throw e;
    if (e instanceof SyscallError) throw new UserError(`${what}: ${e.syscall}: ${errnoText(e.errno)}`, exitCode);
    const code = (e as { code?: string; syscall?: string }).code;
    const n = errnoFromCode(code);
    const sys = (e as { syscall?: string }).syscall;
    if (n !== undefined) throw new UserError(`${what}: ${sys ? `${sys}: ` : ""}${errnoText(n)}`, exitCode);
    throw new UserError(`${what}: ${e instanceof Error ? e.message : String(e)}`, exitCode);
  }
}
