// Resource limits (OCI process.rlimits, docker's --ulimit): the kernel's numbers and
// the prlimit64 steps that set them, before the payload's user loses the right to.

/** RLIMIT_* numbers (asm-generic, the same on x86_64 and arm64). */
export const RLIMITS: Readonly<Record<string, number>> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

/** RLIM_INFINITY is all ones; a JS number can't hold it, so any value from 2^53 on stands for it. */
export const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** struct rlimit64 { u64 cur, max }. */
export function rlimitBytes(soft: number, hard: number): Uint8Array {
  const words = (v: number): [number, number] => (v >= UNLIMITED ? [0xffffffff, 0xffffffff] : [v >>> 0, Math.floor(v / 0x100000000) >>> 0]);
  return new Uint8Array(new Uint32Array([...words(soft), ...words(hard)]).buffer);
}
