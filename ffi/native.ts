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
import { close, cstrArray, memfdCreate, sealMemfd, writeAll } from "./libc.ts";

const { i64, ptr: P } = FFIType;
const symbols = {
  myuts_spawn: { args: [i64, i64, i64, i64, P, P, i64, i64, i64, i64, i64, i64], returns: i64 },
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
  /** The child's stdin, stdout and stderr, when not the parent's own. */
  stdio?: readonly [number, number, number];
  /** Descriptors 3 to 3+preserveFds-1 stay open for the child (runc's --preserve-fds); the rest become close-on-exec. */
  preserveFds?: number;
  /** The child's descriptors 3 and 4: a detached container's output pipes, for its monitor. */
  extra?: readonly [number, number];
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

/** Keeps the strings the child reads alive until the next spawn (the child shares this memory). */
const inFlight: { strings: unknown[] } = { strings: [] };

export function nativeSpawn(req: SpawnRequest): number {
  if (!native) throw new Error("nativeSpawn before loadNative");
  const keep: Buffer[] = [];
  const argv = cstrArray(req.argv, keep);
  const env = cstrArray(req.env, keep);
  inFlight.strings = [keep, argv, env];
  const [i, o, e] = req.stdio ?? [-1, -1, -1];
  const [x3, x4] = req.extra ?? [-1, -1];
  // The channel's number is in argv: the extra descriptors must not land on it.
  if (req.extra && req.keepFd < 5) throw new Error(`nativeSpawn: the channel (fd ${req.keepFd}) would be overwritten by fd 3 or 4`);
  const keepFrom = req.extra ? 5 : 3 + (req.preserveFds ?? 0);
  const pid = Number(native.myuts_spawn(req.errFd, req.pdeathsig, req.execFd, req.keepFd, argv, env, i, o, e, keepFrom, x3, x4));
  if (pid < 0) throw new SyscallError("clone", -pid);
  return pid;
}
