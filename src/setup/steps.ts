// Steps that both the run program (compile.ts) and the exec program (join.ts) take: the
// namespaces' join order, the terminal, the cgroup a fork goes into, a new session keyring.
import type { NamespaceType } from "../spec/types.ts";
import { AT_FDCWD, O_NOCTTY, openFlags, TIOCSCTTY } from "./abi.ts";
import { allow, type ProgramBuilder } from "./program.ts";
import type { Arch } from "./syscalls.ts";
import { EBADF, ENOSYS, EPERM } from "../../ffi/errno.ts";

/** The user namespace first (it grants the rights for the rest), the mount namespace last (it changes what paths mean). */
export const JOIN_ORDER: NamespaceType[] = ["user", "cgroup", "ipc", "uts", "network", "pid", "time", "mount"];

/** Opens the runtime's pty slave into a slot, while its path still means the runtime's /dev/pts. */
export function openTerminal(b: ProgramBuilder, arch: Arch, slave: string): number {
  const O = openFlags(arch);
  const slot = b.slot("terminal");
  b.call(
    `terminal ${slave}`,
    "openat",
    [b.imm(AT_FDCWD, "AT_FDCWD"), b.str(slave), b.imm(O.RDWR | O_NOCTTY | O.CLOEXEC, "O_RDWR|O_NOCTTY|O_CLOEXEC"), b.imm(0)],
    {
      out: slot,
    },
  );
  return slot;
}

/** The terminal becomes the payload's controlling terminal and its stdin, stdout and stderr. */
export function takeTerminal(b: ProgramBuilder, slot: number): void {
  // A process that already leads a session (the init, when nothing was cloned) keeps it.
  b.call("terminal", "setsid", [], { on: allow(EPERM) });
  b.call("terminal", "ioctl", [b.ref(slot), b.imm(TIOCSCTTY, "TIOCSCTTY"), b.imm(0)]);
  for (const fd of [0, 1, 2]) b.call("terminal", "dup3", [b.ref(slot), b.imm(fd), b.imm(0)]);
  b.call("terminal", "close", [b.ref(slot)], { on: allow(EBADF) });
}

const KEYCTL_JOIN_SESSION_KEYRING = 1;

/** Opens a cgroup v2 directory into a slot, for a fork into it; while paths still mean the runtime's. */
export function openCgroup(b: ProgramBuilder, O: ReturnType<typeof openFlags>, dir: string | undefined): number | undefined {
  if (!dir) return undefined;
  const slot = b.slot("cgroup");
  b.call(
    `open the cgroup ${dir}`,
    "openat",
    [b.imm(AT_FDCWD, "AT_FDCWD"), b.str(dir), b.imm(O.RDONLY | O.DIRECTORY | O.CLOEXEC, "O_RDONLY|O_DIRECTORY|O_CLOEXEC"), b.imm(0)],
    { out: slot },
  );
  return slot;
}

/**
 * A new session keyring, owned by whoever the process is now (root of a user namespace
 * after it became root there). Hosts where keyctl is filtered or absent go on without one.
 */
export function newSessionKeyring(b: ProgramBuilder, name?: string): void {
  b.call("session keyring", "keyctl", [b.imm(KEYCTL_JOIN_SESSION_KEYRING, "KEYCTL_JOIN_SESSION_KEYRING"), name ? b.str(name) : b.imm(0, "NULL")], {
    on: allow(ENOSYS),
  });
}
