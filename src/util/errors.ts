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
