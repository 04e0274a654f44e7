// The native pieces (ffi/native): the clone helper, loaded with dlopen, and the
// init, a static executable each container runs from a sealed memfd. In the
// compiled binary both are embedded under /$bunfs, which dlopen and execveat
// cannot read, so they are copied into memfds first (no compiler at run time).
import { dlopen, FFIType } from "bun:ffi";
import initArm64 from "./native/build/init-arm64.elf" with { type: "file" };
import initX64 from "./native/build/init-x64.elf" with { type: "file" };
import soArm64 from "./native/build/spawn-arm64.so" with { type: "file" };
import soX64 from "./native/build/spawn-x64.so" with { type: "file" };
import { SyscallError } from "./errno.ts";
import { close, cstr, cstrArray, memfdCreate, sealMemfd, writeAll } from "./libc.ts";

const { i64, u64, ptr: P } = FFIType;
const symbols = {
  myuts_spawn: { args: [u64, u64, P, i64, i64, i64, i64, i64, i64, P, P], returns: i64 },
} as const;

type Native = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let native: Native | undefined;
let initImage: Uint8Array | undefined;

const arm64 = process.arch === "arm64";

async function load(): Promise<Native> {
  const path = arm64 ? soArm64 : soX64;
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
  /** Where the child reports a failure before its exec (a FAIL record). */
  errFd: number;
  /** Signal the child gets when the parent dies (0: none). */
  pdeathsig: number;
  /** The executable to run (execveat with AT_EMPTY_PATH): the init's memfd. */
  execFd: number;
  /** A close-on-exec descriptor the child keeps open across that exec (-1: none). */
  keepFd: number;
  argv: readonly string[];
  env: readonly string[];
}

/** Loads the clone helper and the init's image; nativeSpawn and initMemfd need it done. */
export async function loadNative(): Promise<void> {
  native ??= await load();
  initImage ??= await Bun.file(arm64 ? initArm64 : initX64).bytes();
  if (!initImage.length) throw new Error(`this myuts binary was built without the native init for ${process.arch}`);
}

/**
 * The init as a sealed, close-on-exec memfd. Sealed, so nothing that gets hold of
 * the descriptor can rewrite it; a memfd, so /proc/<init>/exe never leads a
 * container to the runtime's binary on the host (the CVE-2019-5736 pattern).
 */
export function initMemfd(): number {
  if (!initImage) throw new Error("initMemfd before loadNative");
  const fd = memfdCreate("myuts-init", true);
  try {
    writeAll(fd, initImage);
    sealMemfd(fd);
  } catch (e) {
    close(fd);
    throw e;
  }
  return fd;
}

/**
 * With a sync fd the child execs after myuts_spawn has returned, still reading
 * these strings from the shared memory: they live until the next spawn.
 */
const inFlight: { strings: unknown[] } = { strings: [] };

export function nativeSpawn(req: SpawnRequest): number {
  if (!native) throw new Error("nativeSpawn before loadNative");
  const keep: Buffer[] = [];
  const offsets = cstr(req.timensOffsets);
  const argv = cstrArray(req.argv, keep);
  const env = cstrArray(req.env, keep);
  inFlight.strings = [keep, offsets, argv, env];
  const pid = Number(
    native.myuts_spawn(
      BigInt(req.cloneFlags),
      BigInt(req.unshareFlags),
      offsets,
      req.timensOffsets.length,
      req.syncFd,
      req.errFd,
      req.pdeathsig,
      req.execFd,
      req.keepFd,
      argv,
      env,
    ),
  );
  if (pid < 0) throw new SyscallError("clone", -pid);
  return pid;
}
