// The mount namespace as setup steps: make the tree private, bind the root
// filesystem, mount the spec's mounts with every target resolved inside the root
// (openat2 RESOLVE_IN_ROOT, then mount on /proc/self/fd/N), create /dev, switch
// root (pivot_root, or MS_MOVE + chroot where the root is an initramfs), then
// mask and write-protect kernel paths. The root filesystem is the container's
// content, and so hostile: no path inside it is followed outside it.
import { EBADF, EEXIST, EINVAL, EISDIR, ELOOP, ENOENT, ENOSYS, ENOTDIR } from "../../ffi/errno.ts";
import { MNT_DETACH, MS } from "../../ffi/libc.ts";
import type { LinuxDevice, Mount } from "../spec/types.ts";
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_RECURSIVE,
  AT_SYMLINK_NOFOLLOW,
  flagNames,
  makedev,
  openFlags,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  S_IF_OF_DEVICE,
  S_IFCHR,
} from "./abi.ts";
import { isBind, MOUNT_ATTR, mountAttrOf, parseMountOptions, PROPAGATION, REMOUNT_FLAGS } from "./mount-options.ts";
import { allow, onGoto, type Arg, type ProgramBuilder } from "./program.ts";
import { moveIdmappedMount } from "./idmap.ts";
import type { Arch } from "./syscalls.ts";

export interface MountPlan {
  root: string;
  /** overlayfs mount data: the root is an overlay of image layers mounted on `root`, not a bind of it. */
  overlay?: string;
  readonly: boolean;
  propagation?: string;
  mounts: readonly Mount[];
  maskedPaths: readonly string[];
  readonlyPaths: readonly string[];
  userns: boolean;
  /** The working directory to create inside the root (before it may turn read-only). */
  cwd?: string;
  /** Mounts (by their index in `mounts`) the prelude made idmapped: the descriptor each waits on. */
  idmapped?: ReadonlyMap<number, number>;
  /** linux.mountLabel: the SELinux context= of each new filesystem that takes one. */
  mountLabel?: string;
  /** The spec's linux.devices (validated: under /dev, no "." or ".." parts). */
  devices: readonly LinuxDevice[];
  /** runc's --no-pivot: move the root over / and chroot, as where pivot_root can't work (an initramfs). */
  noPivot?: boolean;
  /** A sync step (this is its text) after the mounts, before pivot_root: the runtime runs the create hooks there. */
  syncBeforePivot?: string;
  /** The runtime's terminal, which the container inherits: bound on /dev/console. */
  tty?: string;
  arch: Arch;
  /** Whether a bind source on the host is a directory (its target must be one too). */
  isDirectory(path: string): boolean;
  /**
   * `dest` with the root's symlinks resolved inside it, as the host sees the tree now:
   * where a missing target is created (a dangling link's target, not the link). Only
   * a hint: creation still goes through descriptors the kernel resolved inside the root.
   */
  canonical(dest: string): string;
}

/**
 * Filesystems that keep their own labels (the kernel's view of processes and devices,
 * cgroups) or refuse context= (mqueue), as in runc: the mount label goes on the others.
 */
const UNLABELED = new Set(["proc", "sysfs", "mqueue", "cgroup", "cgroup2"]);

const DEV_NODES: ReadonlyArray<[string, number, number]> = [
  ["null", 1, 3],
  ["zero", 1, 5],
  ["full", 1, 7],
  ["random", 1, 8],
  ["urandom", 1, 9],
  ["tty", 5, 0],
];

const DEV_LINKS: ReadonlyArray<[string, string]> = [
  ["fd", "/proc/self/fd"],
  ["stdin", "/proc/self/fd/0"],
  ["stdout", "/proc/self/fd/1"],
  ["stderr", "/proc/self/fd/2"],
  ["ptmx", "pts/ptmx"],
  ["core", "/proc/kcore"],
];

const MS_NAMES: Record<string, number> = { ...MS };
const AT_NAMES: Record<string, number> = { AT_EMPTY_PATH, AT_RECURSIVE };

/** Lexical parts of an absolute container path ("." dropped, ".." kept for the kernel to resolve inside the root). */
function parts(p: string): string[] {
  return p.split("/").filter((x) => x && x !== ".");
}

class Mounter {
  private readonly O;
  private readonly ROOT: number;
  private readonly T: number;
  private readonly P: number;
  private readonly F: number;

  constructor(
    private readonly b: ProgramBuilder,
    private readonly plan: MountPlan,
  ) {
    this.O = openFlags(plan.arch);
    this.ROOT = b.slot("root");
    this.T = b.slot("target");
    this.P = b.slot("parent");
    this.F = b.slot("file");
  }

  private howArg: Arg | undefined;
  private how(): Arg {
    if (!this.howArg) {
      const how = new Uint32Array([this.O.PATH | this.O.CLOEXEC, 0, 0, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, 0]);
      this.howArg = this.b.bytes(new Uint8Array(how.buffer), "{O_PATH|O_CLOEXEC, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS}");
    }
    return this.howArg;
  }

  private openInRoot(what: string, path: string, slot: number, on = allow()): void {
    const b = this.b;
    b.call(what, "openat2", [b.ref(this.ROOT), b.str(path), this.how(), b.imm(24)], { out: slot, on });
  }

  private close(what: string, slot: number): void {
    this.b.call(what, "close", [this.b.ref(slot)], { on: allow(EBADF) });
  }

  /**
   * Leaves an O_PATH descriptor of `dest` (resolved inside the root) in the target
   * slot, creating what is missing through descriptors resolved the same way.
   */
  private openTarget(what: string, dest: string, dir: boolean): void {
    const b = this.b;
    const create = b.label("create");
    const opened = b.label("opened");
    this.openInRoot(what, dest, this.T, onGoto(create, ENOENT));
    b.goto(opened);
    b.place(create);
    const ps = parts(this.plan.canonical(dest));
    ps.forEach((name, i) => {
      this.openInRoot(what, `/${ps.slice(0, i).join("/")}`, this.P);
      const last = i === ps.length - 1;
      if (!last || dir) {
        b.call(what, "mkdirat", [b.ref(this.P), b.str(name), b.imm(0o755, "0755")], { on: allow(EEXIST) });
      } else {
        // O_NOFOLLOW: a dangling symlink must not make us create its target (it may point out).
        const flags = this.O.WRONLY | this.O.CREAT | this.O.CLOEXEC | this.O.NOFOLLOW;
        b.call(what, "openat", [b.ref(this.P), b.str(name), b.imm(flags, "O_WRONLY|O_CREAT|O_CLOEXEC|O_NOFOLLOW"), b.imm(0o644, "0644")], {
          out: this.F,
          on: allow(EEXIST, ELOOP, EISDIR),
        });
        this.close(what, this.F);
      }
      this.close(what, this.P);
    });
    this.openInRoot(what, dest, this.T);
    b.place(opened);
  }

  private mountAt(what: string, source: Arg, fstype: Arg, flags: number, data: Arg): void {
    const b = this.b;
    b.call(what, "mount", [source, b.fdPath(this.T), fstype, b.flags(flags, MS_NAMES), data]);
  }

  /** mount_setattr, or on kernels before 5.12 a bind remount (which can't keep a user namespace's locked flags). */
  setAttr(what: string, dirfd: Arg, path: Arg, atFlags: number, set: number, clear: number, remountFlags: number, remountTarget: Arg): void {
    const b = this.b;
    const old = b.label("old kernel");
    const done = b.label("attrs set");
    b.call(what, "mount_setattr", [dirfd, path, b.imm(atFlags, flagNames(atFlags, AT_NAMES) || "0"), mountAttrArg(b, set, clear), b.imm(32)], {
      on: onGoto(old, ENOSYS),
    });
    b.goto(done);
    b.place(old);
    const nul = b.imm(0, "NULL");
    b.call(what, "mount", [nul, remountTarget, nul, b.flags(MS.REMOUNT | MS.BIND | remountFlags, MS_NAMES), nul]);
    b.place(done);
  }

  mountOne(m: Mount, index: number): void {
    const b = this.b;
    const opts = parseMountOptions(m.options);
    const bind = isBind(m.type, opts.flags);
    const what = `mount ${m.destination}`;
    const nul = b.imm(0, "NULL");
    const idmapFd = this.plan.idmapped?.get(index);
    if (idmapFd !== undefined) {
      this.openTarget(what, m.destination, this.plan.isDirectory(m.source ?? ""));
      moveIdmappedMount(b, what, idmapFd, b.ref(this.T));
    } else if (bind) {
      const src = m.source ?? "";
      this.openTarget(what, m.destination, this.plan.isDirectory(src));
      this.mountAt(what, b.str(src), nul, MS.BIND | (opts.flags & MS.REC), nul);
    } else {
      this.openTarget(what, m.destination, true);
      const label = this.plan.mountLabel && !UNLABELED.has(m.type ?? "") ? [`context="${this.plan.mountLabel}"`] : [];
      const data = [...opts.data, ...label].join(",");
      this.mountAt(what, b.str(m.source ?? m.type ?? "none"), m.type ? b.str(m.type) : nul, opts.flags, data ? b.str(data) : nul);
    }
    this.close(what, this.T);
    const rest = bind ? opts.flags & REMOUNT_FLAGS : 0;
    if (!rest && !opts.propagation.length) return;
    // The new mount covers the old target: resolve again to reach it.
    this.openInRoot(what, m.destination, this.T);
    if (rest) {
      const a = mountAttrOf(rest);
      // An rbind's flags cover the mounts it brought along too: a read-only volume has no
      // writable corner (runc needs "rro" for that; docker 25 does it by default).
      const at = AT_EMPTY_PATH | (opts.flags & MS.REC ? AT_RECURSIVE : 0);
      this.setAttr(what, b.ref(this.T), b.str(""), at, a.set, a.clear, rest, b.fdPath(this.T));
    }
    for (const p of opts.propagation) this.mountAt(what, nul, nul, p, nul);
    this.close(what, this.T);
  }

  /** The minimal /dev on the container's /dev tmpfs (bound from the host in a user namespace, where mknod is refused). */
  devices(): void {
    const b = this.b;
    const DEV = b.slot("dev");
    this.openInRoot("create /dev", "/dev", DEV);
    const what = this.plan.userns ? "bind host /dev nodes" : "create /dev nodes";
    // The spec's own node at a default path takes its place, as in runc.
    const given = new Set(this.plan.devices.map((d) => d.path));
    for (const [name, major, minor] of DEV_NODES) {
      if (given.has(`/dev/${name}`)) continue;
      if (!this.plan.userns) {
        b.call(what, "mknodat", [b.ref(DEV), b.str(name), b.imm(S_IFCHR | 0o666, "S_IFCHR|0666"), b.imm(makedev(major, minor), `makedev(${major}, ${minor})`)]);
        continue;
      }
      this.bindFile(what, DEV, name, `/dev/${name}`, 0o666);
    }
    for (const [name, target] of DEV_LINKS) {
      b.call("create /dev links", "symlinkat", [b.str(target), b.ref(DEV), b.str(name)], { on: allow(EEXIST) });
    }
    // With a terminal on stdin, /dev/console is that terminal, as in runc and podman.
    if (this.plan.tty) this.bindFile(`bind ${this.plan.tty} on /dev/console`, DEV, "console", this.plan.tty, 0o600);
    this.close("create /dev", DEV);
    for (const d of this.plan.devices) this.device(d);
  }

  /**
   * One of the spec's devices. Its parents are opened inside the root, because a
   * mount of the container's content under /dev could hold symlinks that point out.
   */
  private device(d: LinuxDevice): void {
    const b = this.b;
    const what = `device ${d.path}`;
    const ps = parts(d.path);
    const name = ps[ps.length - 1] as string;
    for (let i = 2; i < ps.length; i++) {
      this.openInRoot(what, `/${ps.slice(0, i - 1).join("/")}`, this.P);
      b.call(what, "mkdirat", [b.ref(this.P), b.str(ps[i - 1] as string), b.imm(0o755, "0755")], { on: allow(EEXIST) });
      this.close(what, this.P);
    }
    this.openInRoot(what, `/${ps.slice(0, -1).join("/")}`, this.P);
    const mode = d.fileMode ?? 0o666;
    if (this.plan.userns) {
      // mknod is refused in a user namespace: bind the host's node, as runc does.
      this.bindFile(what, this.P, name, d.path, mode);
    } else {
      const type = S_IF_OF_DEVICE[d.type] ?? S_IFCHR;
      const dev = d.type === "p" ? 0 : makedev(d.major ?? 0, d.minor ?? 0);
      b.call(what, "mknodat", [
        b.ref(this.P),
        b.str(name),
        b.imm(type | mode, `S_IF(${d.type})|0${mode.toString(8)}`),
        b.imm(dev, `makedev(${d.major ?? 0}, ${d.minor ?? 0})`),
      ]);
      b.call(what, "fchownat", [b.ref(this.P), b.str(name), b.imm(d.uid ?? 0), b.imm(d.gid ?? 0), b.imm(AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW")]);
    }
    this.close(what, this.P);
  }

  /** Creates `name` in the fresh /dev tmpfs and binds `source` on it. */
  private bindFile(what: string, dev: number, name: string, source: string, mode: number): void {
    const b = this.b;
    const flags = this.O.WRONLY | this.O.CREAT | this.O.CLOEXEC | this.O.NOFOLLOW;
    b.call(what, "openat", [b.ref(dev), b.str(name), b.imm(flags, "O_WRONLY|O_CREAT|O_CLOEXEC|O_NOFOLLOW"), b.imm(mode, `0${mode.toString(8)}`)], {
      out: this.T,
    });
    this.mountAt(what, b.str(source), b.imm(0, "NULL"), MS.BIND, b.imm(0, "NULL"));
    this.close(what, this.T);
  }

  switchRoot(): void {
    const b = this.b;
    const fallback = b.label("chroot");
    const done = b.label("switched");
    const root = this.plan.root;
    b.call(`pivot_root ${root}`, "fchdir", [b.ref(this.ROOT)]);
    if (this.plan.noPivot) b.goto(fallback);
    b.call(`pivot_root ${root}`, "pivot_root", [b.str("."), b.str(".")], { on: onGoto(fallback, EINVAL) });
    b.call("detach the old root", "mount", [b.imm(0, "NULL"), b.str("."), b.imm(0, "NULL"), b.imm(MS.SLAVE | MS.REC, "MS_SLAVE|MS_REC"), b.imm(0, "NULL")]);
    b.call("detach the old root", "umount2", [b.str("."), b.imm(MNT_DETACH, "MNT_DETACH")]);
    b.goto(done);
    // pivot_root can't leave an initramfs (rootfs) root: move the tree over / and chroot.
    b.place(fallback);
    b.call("chroot fallback", "mount", [b.str("."), b.str("/"), b.imm(0, "NULL"), b.imm(MS.MOVE, "MS_MOVE"), b.imm(0, "NULL")]);
    b.call("chroot fallback", "chroot", [b.str(".")]);
    b.place(done);
    b.call(`pivot_root ${root}`, "chdir", [b.str("/")]);
    this.close(`pivot_root ${root}`, this.ROOT);
  }

  /** A file gets /dev/null bound over it; a directory (ENOTDIR for that) a read-only tmpfs. */
  mask(p: string): void {
    const b = this.b;
    const next = b.label("next");
    const dir = b.label("dir");
    const nul = b.imm(0, "NULL");
    b.call(`mask ${p}`, "mount", [b.str("/dev/null"), b.str(p), nul, b.imm(MS.BIND, "MS_BIND"), nul], {
      on: [...onGoto(next, ENOENT), ...onGoto(dir, ENOTDIR)],
    });
    b.goto(next);
    b.place(dir);
    b.call(`mask ${p}`, "mount", [b.str("tmpfs"), b.str(p), b.str("tmpfs"), b.imm(MS.RDONLY, "MS_RDONLY"), nul]);
    b.place(next);
  }

  readonlyPath(p: string): void {
    const b = this.b;
    const next = b.label("next");
    const nul = b.imm(0, "NULL");
    b.call(`read-only ${p}`, "mount", [b.str(p), b.str(p), nul, b.imm(MS.BIND | MS.REC, "MS_BIND|MS_REC"), nul], { on: onGoto(next, ENOENT) });
    const A = MOUNT_ATTR;
    const flags = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC;
    this.setAttr(`read-only ${p}`, b.imm(AT_FDCWD, "AT_FDCWD"), b.str(p), 0, A.RDONLY | A.NOSUID | A.NODEV | A.NOEXEC, 0, flags, b.str(p));
    b.place(next);
  }

  /** mkdir -p inside the new root; failures are left for chdir to report. */
  makeDirs(p: string): void {
    const b = this.b;
    const ps = parts(p);
    ps.forEach((_, i) => {
      b.call(`workdir ${p}`, "mkdirat", [b.imm(AT_FDCWD, "AT_FDCWD"), b.str(`/${ps.slice(0, i + 1).join("/")}`), b.imm(0o755, "0755")], {
        on: [{ errno: "any", react: { allow: true } }],
      });
    });
  }

  openRoot(path: string): void {
    const b = this.b;
    const flags = this.O.PATH | this.O.DIRECTORY | this.O.CLOEXEC;
    b.call(`rootfs ${path}`, "openat", [b.imm(AT_FDCWD, "AT_FDCWD"), b.str(path), b.imm(flags, "O_PATH|O_DIRECTORY|O_CLOEXEC"), b.imm(0)], { out: this.ROOT });
  }
}

/** struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd } */
function mountAttrArg(b: ProgramBuilder, set: number, clear: number): Arg {
  const attr = new Uint32Array([set, 0, clear, 0, 0, 0, 0, 0]);
  return b.bytes(new Uint8Array(attr.buffer), () => `{set ${flagNames(set, MOUNT_ATTR)}${clear ? `, clear ${flagNames(clear, MOUNT_ATTR)}` : ""}}`);
}

export function compileMounts(b: ProgramBuilder, plan: MountPlan): void {
  const m = new Mounter(b, plan);
  const nul = b.imm(0, "NULL");
  const prop = PROPAGATION[plan.propagation ?? "rprivate"] ?? MS.PRIVATE | MS.REC;
  // Nothing mounted from here on may propagate back to the host.
  const flags = MS.REC | (prop & MS.SHARED ? MS.SLAVE : prop);
  b.call("make / private", "mount", [nul, b.str("/"), nul, b.flags(flags, MS_NAMES), nul]);

  const hostTree = plan.root === "/";
  // An image root is an overlay mounted here, in the container's own mount namespace: it
  // goes with the namespace, so nothing of it is ever left mounted on the host.
  if (plan.overlay) b.call(`overlay on ${plan.root}`, "mount", [b.str("overlay"), b.str(plan.root), b.str("overlay"), nul, b.str(plan.overlay)]);
  else if (!hostTree) b.call(`rootfs ${plan.root}`, "mount", [b.str(plan.root), b.str(plan.root), nul, b.imm(MS.BIND | MS.REC, "MS_BIND|MS_REC"), nul]);
  m.openRoot(plan.root);
  for (const [i, mount] of plan.mounts.entries()) m.mountOne(mount, i);
  if (hostTree) {
    b.call("rootfs /", "close", [b.ref(b.slot("root"))], { on: allow(EBADF) });
    if (plan.syncBeforePivot) b.sync(plan.syncBeforePivot);
    return;
  }
  if (plan.mounts.some((x) => x.destination === "/dev" && x.type === "tmpfs")) m.devices();
  if (plan.syncBeforePivot) b.sync(plan.syncBeforePivot);
  m.switchRoot();
  for (const p of plan.maskedPaths) m.mask(p);
  for (const p of plan.readonlyPaths) m.readonlyPath(p);
  if (plan.cwd) m.makeDirs(plan.cwd);
  if (plan.readonly) m.setAttr("--read-only /", b.imm(AT_FDCWD, "AT_FDCWD"), b.str("/"), 0, MOUNT_ATTR.RDONLY, 0, MS.RDONLY, b.str("/"));
}
