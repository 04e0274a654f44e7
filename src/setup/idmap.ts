// Idmapped mounts (a mount's uidMappings/gidMappings, or `idmap`/`ridmap`). The kernel
// needs CAP_SYS_ADMIN over the source's filesystem to idmap a mount, which a container in
// a user namespace never has: so the init makes each one in the prelude, before it clones
// the container, as a detached mount on a descriptor the container inherits and then
// moves onto its target. The mapping is a user namespace's: a parked process the runtime
// made with it (see `compileParked`).
import { EBADF, EINVAL, ENOSYS, EPERM } from "../../ffi/errno.ts";
import { AT_EMPTY_PATH, AT_FDCWD, AT_RECURSIVE, openFlags, PR, SIGKILL } from "./abi.ts";
import { syncThenWait } from "./process.ts";
import { allow, type Arg, ProgramBuilder, type Program } from "./program.ts";
import type { Arch } from "./syscalls.ts";

const OPEN_TREE_CLONE = 1;
const MOUNT_ATTR_IDMAP = 0x100000;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH = 0x40;

/** One idmapped mount as the prelude makes it. */
export interface IdmappedMount {
  destination: string;
  source: string;
  /** rbind: the whole tree under the source. */
  recursiveBind: boolean;
  /** ridmap: the mapping covers the mounts under it too. */
  recursiveMap: boolean;
  /** The parked process whose user namespace holds the mapping (a placeholder in a dry run). */
  mappingPid: number | string;
  /** Where the container finds the detached mount (a descriptor number the prelude fixes). */
  fd: number;
}

/**
 * Descriptor numbers for the detached mounts, well above what the init inherits (stdio,
 * its channel, the preserved descriptors): the setup program names them as numbers.
 */
export function idmapFds(count: number, preserveFds = 0): number[] {
  const base = 512 + preserveFds;
  return Array.from({ length: count }, (_, i) => base + 2 * i);
}

/** Prelude steps, in the runtime's namespaces: each mount cloned, idmapped and kept on its descriptor. */
export function compileIdmappedMounts(b: ProgramBuilder, mounts: readonly IdmappedMount[], arch: Arch): void {
  const O = openFlags(arch);
  for (const m of mounts) {
    const what = `idmapped mount ${m.destination}`;
    const ns = b.slot("idmap_userns");
    const tree = b.slot("idmap_tree");
    b.call(what, "openat", [b.imm(AT_FDCWD, "AT_FDCWD"), b.str(`/proc/${m.mappingPid}/ns/user`), b.imm(O.RDONLY | O.CLOEXEC, "O_RDONLY|O_CLOEXEC"), b.imm(0)], {
      out: ns,
    });
    // mount_setattr takes the namespace as a number in its struct: put it where the struct says.
    const usernsFd = m.fd + 1;
    b.call(what, "dup3", [b.ref(ns), b.imm(usernsFd), b.imm(O.CLOEXEC, "O_CLOEXEC")], {
      meanings: { [EBADF]: { say: `dup3 (descriptor ${usernsFd} is above the open-files limit)` } },
    });
    b.call(
      what,
      "open_tree",
      [
        b.imm(AT_FDCWD, "AT_FDCWD"),
        b.str(m.source),
        b.imm(
          OPEN_TREE_CLONE | O.CLOEXEC | (m.recursiveBind ? AT_RECURSIVE : 0),
          m.recursiveBind ? "OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_RECURSIVE" : "OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC",
        ),
      ],
      { out: tree, meanings: { [ENOSYS]: { say: "open_tree (idmapped mounts need Linux 5.12 or later)" } } },
    );
    const attr = new Uint8Array(32);
    const view = new DataView(attr.buffer);
    view.setBigUint64(0, BigInt(MOUNT_ATTR_IDMAP), true);
    view.setBigUint64(24, BigInt(usernsFd), true);
    b.call(
      what,
      "mount_setattr",
      [
        b.ref(tree),
        b.str(""),
        b.imm(AT_EMPTY_PATH | (m.recursiveMap ? AT_RECURSIVE : 0), m.recursiveMap ? "AT_EMPTY_PATH|AT_RECURSIVE" : "AT_EMPTY_PATH"),
        b.bytes(attr, `{MOUNT_ATTR_IDMAP, userns_fd ${usernsFd}}`),
        b.imm(32),
      ],
      {
        meanings: {
          [EINVAL]: { say: "mount_setattr (this filesystem can't be idmapped, or the mapping is empty)" },
          [EPERM]: { say: "mount_setattr (idmapping a mount needs root on the host)" },
          [ENOSYS]: { say: "mount_setattr (idmapped mounts need Linux 5.12 or later)" },
        },
      },
    );
    b.call(what, "dup3", [b.ref(tree), b.imm(m.fd), b.imm(O.CLOEXEC, "O_CLOEXEC")], {
      meanings: { [EBADF]: { say: `dup3 (descriptor ${m.fd} is above the open-files limit)` } },
    });
    for (const fd of [b.ref(tree), b.ref(ns), b.imm(usernsFd)]) b.call(what, "close", [fd], { on: allow(EBADF) });
  }
}

/** The container's step: the detached mount the prelude made goes onto its target (a descriptor). */
export function moveIdmappedMount(b: ProgramBuilder, what: string, fd: number, target: Arg): void {
  b.call(what, "move_mount", [
    b.imm(fd),
    b.str(""),
    target,
    b.str(""),
    b.imm(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH, "MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH"),
  ]);
  b.call(what, "close", [b.imm(fd)], { on: allow(EBADF) });
}

/**
 * A process that only holds a user namespace for a mapping: it waits, and dies with
 * the runtime, which kills it once the container's mounts are made.
 */
export function compileParked(): Program {
  const b = new ProgramBuilder();
  const zero = b.imm(0);
  b.call("mapping holder: die with the runtime", "prctl", [b.imm(PR.SET_PDEATHSIG, "PR_SET_PDEATHSIG"), b.imm(SIGKILL, "SIGKILL"), zero, zero, zero]);
  syncThenWait(b, "mapping holder: wait", "mapping holder: its namespace's maps are written", true);
  return b.build();
}
