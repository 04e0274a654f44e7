// The mount namespace: make the tree private, assemble the root filesystem from the
// spec's mounts, pivot into it and detach the old root.
import { exists, isDirectory, mkdirAll, openDirectory, openOrCreateInRoot, touch } from "../../ffi/files.ts";
import { chdir, chroot, close, mount, mountFlagsOf, MNT_DETACH, MS, pivotRoot, umount2 } from "../../ffi/libc.ts";
import { EINVAL, ENOENT, SyscallError } from "../../ffi/errno.ts";
import type { Mount, Spec } from "../spec/types.ts";
import type { Tracer } from "../util/trace.ts";
import { inContext } from "./context.ts";
import { createDevices } from "./devices.ts";
import { isBind, parseMountOptions, PROPAGATION } from "./mount-options.ts";
import { secureJoin } from "./secure-join.ts";

export function setupMountNamespace(spec: Spec, t: Tracer): void {
  const rootPath = spec.root?.path ?? "/";
  const hostTree = rootPath === "/";
  const prop = PROPAGATION[spec.linux?.rootfsPropagation ?? "rprivate"] ?? MS.PRIVATE | MS.REC;
  // Nothing mounted from here on may propagate back to the host.
  t.step("make / rprivate", () => inContext("make / private", () => mount(null, "/", null, MS.REC | (prop & MS.SHARED ? MS.SLAVE : prop))));

  if (hostTree) {
    for (const m of spec.mounts ?? []) mountOne(m, { path: "/" }, t);
    return;
  }

  t.step(`bind rootfs ${rootPath}`, () => inContext(`rootfs ${rootPath}`, () => mount(rootPath, rootPath, null, MS.BIND | MS.REC)));
  const root: Root = { path: rootPath, fd: exists("/proc/self/fd") ? inContext(`rootfs ${rootPath}`, () => openDirectory(rootPath)) : undefined };
  try {
    for (const m of spec.mounts ?? []) mountOne(m, root, t);
  } finally {
    if (root.fd !== undefined) close(root.fd);
  }
  if ((spec.mounts ?? []).some((m) => m.destination === "/dev" && m.type === "tmpfs")) {
    const userns = (spec.linux?.namespaces ?? []).some((n) => n.type === "user");
    t.step(userns ? "bind host /dev nodes and create links" : "create /dev nodes and links", () => createDevices(rootPath, userns));
  }
  switchRoot(rootPath, t);
  for (const p of spec.linux?.maskedPaths ?? []) maskPath(p, t);
  for (const p of spec.linux?.readonlyPaths ?? []) readonlyPath(p, t);
  if (spec.root?.readonly) {
    t.step("remount / read-only", () =>
      inContext("--read-only /", () => mount(null, "/", null, MS.REMOUNT | MS.BIND | MS.RDONLY | currentLocks("/"))),
    );
  }
}

/** The root filesystem, and a descriptor of it that mount targets are resolved under. */
interface Root {
  path: string;
  fd?: number;
}

/**
 * Runs fn on the mount target for `destination`, created if missing: a /proc/self/fd
 * path of an O_PATH descriptor the kernel resolved inside the root, so a symlink
 * swapped into the rootfs by a process sharing the tree can't move the mount (or a
 * created directory) onto the host. Without openat2: the path secureJoin resolves.
 */
function atTarget<T>(root: Root, destination: string, dir: boolean, fn: (target: string) => T): T {
  const inRoot = () => secureJoin(root.path, destination).slice(root.path.length) || "/";
  const fd = root.fd === undefined ? undefined : openOrCreateInRoot(root.fd, destination, dir, inRoot);
  if (fd === undefined) {
    const resolved = secureJoin(root.path, destination);
    ensureTarget(resolved, dir);
    return fn(resolved);
  }
  try {
    return fn(`/proc/self/fd/${fd}`);
  } finally {
    close(fd);
  }
}

function mountOne(m: Mount, root: Root, t: Tracer): void {
  const opts = parseMountOptions(m.options);
  const bind = isBind(m.type, opts.flags);
  const label = `${m.type ?? "bind"} ${bind ? `${m.source} ` : ""}on ${m.destination}`;
  t.step(`mount ${label}`, () =>
    inContext(`mount ${m.destination}`, () => {
      let dir = true;
      const at = <T>(fn: (target: string) => T): T => atTarget(root, m.destination, dir, fn);
      if (bind) {
        const src = m.source ?? "";
        inContext(`mount ${m.destination}: source ${src}`, () => {
          if (!exists(src)) throw new SyscallError("stat", ENOENT, src);
        });
        dir = isDirectory(src);
        at((target) => mount(src, target, null, MS.BIND | (opts.flags & MS.REC)));
        // Bind mounts ignore every other flag until a remount (of the new mount: resolve again).
        const rest = opts.flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
        if (rest) at((target) => mount(null, target, null, MS.REMOUNT | MS.BIND | rest | currentLocks(target)));
      } else {
        at((target) => mount(m.source ?? m.type ?? "none", target, m.type ?? null, opts.flags, opts.data.join(",") || null));
      }
      for (const p of opts.propagation) at((target) => mount(null, target, null, p));
    }),
  );
}

/** Flags a bind remount keeps unless asked otherwise (in a user namespace they are locked). */
function currentLocks(path: string): number {
  return mountFlagsOf(path) & ~MS.RDONLY;
}

function ensureTarget(target: string, dir: boolean): void {
  if (exists(target)) return;
  if (dir) return mkdirAll(target);
  mkdirAll(target.slice(0, target.lastIndexOf("/")) || "/");
  touch(target);
}

function switchRoot(root: string, t: Tracer): void {
  chdir(root);
  try {
    t.step(`pivot_root ${root}`, () => pivotRoot(".", "."));
  } catch (e) {
    // pivot_root cannot leave an initramfs (rootfs) root: move the tree over / and chroot.
    if (!(e instanceof SyscallError) || e.errno !== EINVAL) throw inContext("pivot_root", () => { throw e; });
    t.note("pivot_root: EINVAL (the root is an initramfs); falling back to MS_MOVE + chroot");
    inContext("chroot fallback", () => {
      mount(root, "/", null, MS.MOVE);
      chroot(".");
    });
    chdir("/");
    return;
  }
  t.step("detach old root", () =>
    inContext("detach old root", () => {
      mount(null, ".", null, MS.SLAVE | MS.REC);
      umount2(".", MNT_DETACH);
    }),
  );
  chdir("/");
}

function maskPath(p: string, t: Tracer): void {
  if (!exists(p)) return;
  const dir = isDirectory(p);
  t.step(`mask ${p}`, () =>
    inContext(`mask ${p}`, () => {
      if (dir) mount("tmpfs", p, "tmpfs", MS.RDONLY, null);
      else mount("/dev/null", p, null, MS.BIND);
    }),
  );
}

function readonlyPath(p: string, t: Tracer): void {
  if (!exists(p)) return;
  t.step(`read-only ${p}`, () =>
    inContext(`read-only ${p}`, () => {
      mount(p, p, null, MS.BIND | MS.REC);
      mount(null, p, null, MS.REMOUNT | MS.BIND | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC);
    }),
  );
}
