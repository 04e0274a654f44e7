// wait(2) statuses, decoded once for everyone.
import { SIGKILL } from "../../ffi/libc.ts";

export const signalOf = (status: number): number => status & 0x7f;
export const exitStatusOf = (status: number): number => (status >> 8) & 0xff;

export function describeStatus(status: number): string {
  const sig = signalOf(status);
  return sig ? `killed by signal ${sig}` : `exit code ${exitStatusOf(status)}`;
}

/** The exit code docker gives: the payload's own, or 128+N after signal N. */
export function exitCode(status: number): number {
  const sig = signalOf(status);
  return sig ? 128 + sig : exitStatusOf(status);
}

/** Killed by SIGKILL, directly or as a shell reports it (exit 137). */
export function killedBySigkill(status: number): boolean {
  return signalOf(status) === SIGKILL || (signalOf(status) === 0 && exitStatusOf(status) === 128 + SIGKILL);
}
