// Loads the prebuilt freestanding spawn helper (ffi/native/spawn.c). In the compiled
// binary it is embedded under /$bunfs, which dlopen cannot read, so it is copied
// into a memfd first (about 0.3 ms; no compiler needed at run time).
import { dlopen, FFIType } from "bun:ffi";
import soX64 from "./native/build/spawn-x64.so" with { type: "file" };
import soArm64 from "./native/build/spawn-arm64.so" with { type: "file" };
import { SyscallError } from "./errno.ts";
import { close, cstr, cstrArray, memfdCreate, writeAll } from "./libc.ts";

const { i64, u64, ptr: P } = FFIType;
const symbols = {
  myuts_spawn: { args: [u64, u64, P, i64, i64, i64, i64, P, P, P], returns: i64 },
} as const;

type Native = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let native: Native | undefined;

async function load(): Promise<Native> {
  const path = process.arch === "arm64" ? soArm64 : soX64;
  if (!path.startsWith("/$bunfs/")) return dlopen(path, symbols).symbols;
  const fd = memfdCreate("myuts-spawn");
  writeAll(fd, await Bun.file(path).bytes());
  const lib = dlopen(`/proc/self/fd/${fd}`, symbols).symbols;
  close(fd);
  return lib;
}

export interface SpawnRequest {
  /** CLONE_NEW* flags applied by clone itself. */
  cloneFlags: number;
  /** Flags the child unshares before execve (CLONE_NEWTIME takes effect at exec). */
  unshareFlags: number;
  /** Content for /proc/self/timens_offsets, written after unsharing the time namespace. */
  timensOffsets: string;
  /** The child waits for one byte here before going on; -1 for no wait. */
  syncFd: number;
  /** Where the child reports "!<stage>:<errno>" when it fails before exec. */
  errFd: number;
  /** Signal the child gets when the parent dies (0: none). */
  pdeathsig: number;
  path: string;
  argv: readonly string[];
  env: readonly string[];
}

export const SPAWN_STAGES: Record<string, string> = {
  "1": "prctl(PR_SET_PDEATHSIG)",
  "2": "read sync pipe",
  "3": "unshare",
  "4": "write /proc/self/timens_offsets",
  "5": "execve",
  "6": "keep capabilities across exec (capset, PR_CAP_AMBIENT)",
};

/** Loads the helper; nativeSpawn needs it done. */
export async function loadNative(): Promise<void> {
  native ??= await load();
}

/**
 * With a sync fd the child execs after myuts_spawn has returned, still reading
 * these strings from the shared memory: they live until the next spawn.
 */
let inFlight: unknown[] = [];

export function nativeSpawn(req: SpawnRequest): number {
  if (!native) throw new Error("nativeSpawn before loadNative");
  const keep: Buffer[] = [];
  const offsets = cstr(req.timensOffsets);
  const path = cstr(req.path);
  const argv = cstrArray(req.argv, keep);
  const env = cstrArray(req.env, keep);
  inFlight = [keep, offsets, path, argv, env];
  const pid = Number(
    native.myuts_spawn(
      BigInt(req.cloneFlags),
      BigInt(req.unshareFlags),
      offsets,
      req.timensOffsets.length,
      req.syncFd,
      req.errFd,
      req.pdeathsig,
      path,
      argv,
      env,
    ),
  );
  if (pid < 0) throw new SyscallError("clone", -pid);
  return pid;
}
