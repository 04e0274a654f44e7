// The minimal /dev every OCI runtime provides, created on the container's /dev tmpfs.
import { symlink, touch } from "../../ffi/files.ts";
import { isatty, mknod, mount, MS, ttyname } from "../../ffi/libc.ts";
import { inContext } from "./context.ts";
import { secureJoin } from "./secure-join.ts";

const S_IFCHR = 0o020000;

const NODES: ReadonlyArray<[string, number, number]> = [
  ["null", 1, 3],
  ["zero", 1, 5],
  ["full", 1, 7],
  ["random", 1, 8],
  ["urandom", 1, 9],
  ["tty", 5, 0],
];

const LINKS: ReadonlyArray<[string, string]> = [
  ["fd", "/proc/self/fd"],
  ["stdin", "/proc/self/fd/0"],
  ["stdout", "/proc/self/fd/1"],
  ["stderr", "/proc/self/fd/2"],
  ["ptmx", "pts/ptmx"],
  ["core", "/proc/kcore"],
];

/**
 * Called with the umask cleared, so the nodes get exactly 0666. In a user namespace
 * mknod is refused, so the host's nodes are bind-mounted instead, as bubblewrap does.
 */
export function createDevices(root: string, userns: boolean): void {
  // Resolved inside the root, as the tmpfs mount was: a hostile rootfs's /dev
  // symlink must not steer these nodes onto the host.
  const dev = secureJoin(root, "/dev");
  for (const [name, major, minor] of NODES) {
    inContext(`create /dev/${name}`, () => {
      if (!userns) return mknod(`${dev}/${name}`, S_IFCHR | 0o666, major, minor);
      touch(`${dev}/${name}`, 0o666);
      mount(`/dev/${name}`, `${dev}/${name}`, null, MS.BIND);
    });
  }
  for (const [name, target] of LINKS) {
    inContext(`link /dev/${name}`, () => symlink(target, `${dev}/${name}`));
  }
  // With a terminal on stdin, /dev/console is that terminal, as in runc and podman.
  if (isatty(0)) {
    const tty = ttyname(0);
    if (tty) {
      inContext(`bind ${tty} on /dev/console`, () => {
        touch(`${dev}/console`, 0o600);
        mount(tty, `${dev}/console`, null, MS.BIND);
      });
    }
  }
}
