// Exit codes follow docker and podman.
export const EXIT_RUNTIME = 125;
export const EXIT_CANNOT_EXEC = 126;
export const EXIT_NOT_FOUND = 127;

/** An error meant for the user: one line, and the exit code to leave with. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_RUNTIME,
  ) {
    super(message);
    this.name = "UserError";
  }
}

export interface OsErrorDetail {
  /** The system call that failed. */
  syscall?: string;
  /** Words that replace the system call's name ("no such file", "command not found in PATH"). */
  say?: string;
  /** Why, when the runtime can tell (the setting that stops user namespaces). */
  hint?: string;
  exitCode?: number;
}

/**
 * A failed system call in its context ("mount /proc", "--hostname"), with the errno
 * kept as a number: cli/report.ts words it.
 */
export class OsError extends Error {
  readonly exitCode: number;
  constructor(
    readonly context: string,
    readonly errno: number,
    readonly detail: OsErrorDetail = {},
  ) {
    super(`${context}: ${detail.say ?? detail.syscall ?? "failed"}: errno ${errno}`);
    this.name = "OsError";
    this.exitCode = detail.exitCode ?? EXIT_RUNTIME;
  }
}
