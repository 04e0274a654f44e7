import { UserError } from "../util/errors.ts";

/** A numeric uid or gid flag value (0 to 2^32-2; -1 means "unchanged" to the kernel). */
export function idArg(flag: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 0xfffffffe) throw new UserError(`run: --${flag} ${v}: not a numeric id`);
  return Number(v);
}
