// runc's --preserve-fds N, for create, run and exec: the caller's descriptors 3 to
// 3+N-1 reach the payload; every other one stays out of the container.
import type { FlagDef } from "./argv.ts";
import { UserError } from "../util/errors.ts";

/** Far above what a caller passes; the kernel's fd limit decides the rest. */
const MAX = 1 << 16;

export const PRESERVE_FDS: FlagDef = {
  long: "preserve-fds",
  value: true,
  hint: "N",
  description: "pass the caller's descriptors 3 to 3+N-1 on to the payload (as runc's); no other reaches it",
};

export function preserveFds(cmd: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) > MAX) throw new UserError(`${cmd}: --preserve-fds ${v}: expected a number of descriptors from 0 to ${MAX}`);
  return Number(v);
}
