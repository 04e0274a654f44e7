// The one channel between the runtime and the native init: a stream socketpair.
// The runtime sends the program; the init answers with fixed-size records.
//
//   runtime (Bun)                                   init (memfd)            container's first process
//   ─────────────                                   ────────────            ────────────────────────
//   socketpair, sealed memfd
//   spawn (CLONE_VM|CLONE_VFORK) ────────────────▶  execveat(memfd)
//   prelude ─────────────────────────────────────▶  clone(CLONE_NEW*|CLONE_PARENT) ─▶ waits (load)
//   compile the setup program        ◀────────────  PID {pid}, then exits
//   [user namespace: write uid_map/gid_map]
//   program ──────────────────────────────────────────────────────────────────────▶  run the steps
//                                    ◀───────────────────────────────────────────── TRACE {step, start, end}  (--trace)
//                                    ◀───────────────────────────────────────────── READY {step}   (a sync step)
//   join the cgroup, oom_score_adj
//   GO ────────────────────────────────────────────────────────────────────────────▶ go on
//                                    ◀───────────────────────────────────────────── FAIL {step, errno}, then exits
//   EOF (the payload's execve closed the last close-on-exec end) ⇒ the payload runs
//
// Without a namespace to clone into there is no prelude: the init runs the program
// itself. exec's program forks after its setns steps, with the same PID record.
// The spawn helper (ffi/native/spawn.c) reports its own failures before the exec
// on the same channel, as FAIL with step SPAWN_STEP | stage.

export const RECORD_SIZE = 32;
export const REC = { READY: 1, FAIL: 2, TRACE: 3, PID: 4, GO: 5 } as const;
export const SPAWN_STEP = 0xffffff00;

export interface InitRecord {
  kind: number;
  step: number;
  errno: number;
  /** TRACE: start (ns, CLOCK_REALTIME); PID: the pid. */
  a: bigint;
  /** TRACE: end. */
  b: bigint;
}

export function decodeRecord(buf: Uint8Array): InitRecord {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return { kind: v.getUint32(0, true), step: v.getUint32(4, true), errno: v.getInt32(8, true), a: v.getBigInt64(16, true), b: v.getBigInt64(24, true) };
}

export function goRecord(): Uint8Array {
  const out = new Uint8Array(RECORD_SIZE);
  new DataView(out.buffer).setUint32(0, REC.GO, true);
  return out;
}

/** The spawn helper's stages (spawn.c), for FAIL records it sends before the init runs. */
export const SPAWN_STAGES: Record<number, string> = {
  1: "prctl(PR_SET_PDEATHSIG)",
  5: "execveat of the init",
  7: "close_range or fcntl on the descriptors",
  8: "dup3 of the container's stdio",
};

/** The sync step's text where the runtime runs the createRuntime and createContainer hooks. */
export const HOOKS_SYNC = "hooks: the runtime runs createRuntime and createContainer";
/** The sync step where the runtime takes the seccomp listener (its number reported) for the agent. */
export const SECCOMP_SYNC = "seccomp: the runtime hands the listener to the agent at listenerPath";
