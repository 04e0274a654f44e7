import { errnoFromCode, errnoText } from "../../ffi/errno.ts";

/** "ENOENT (No such file or directory)" for a node:fs error, or its message. */
export function describeFsError(e: unknown): string {
  const code = (e as { code?: string } | null)?.code;
  const n = errnoFromCode(code);
  if (n !== undefined) return errnoText(n);
  return code ?? (e instanceof Error ? e.message : String(e));
}
