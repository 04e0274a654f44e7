// OCI mount options → mount(2) flags, propagation flags and the data string.
import { MS } from "../../ffi/libc.ts";

export interface MountFlags {
  flags: number;
  propagation: number[];
  data: string[];
}

const SET: Record<string, number> = {
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  sync: MS.SYNCHRONOUS,
  dirsync: MS.DIRSYNC,
  remount: MS.REMOUNT,
  mand: MS.MANDLOCK,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
  nosymfollow: MS.NOSYMFOLLOW,
  bind: MS.BIND,
  rbind: MS.BIND | MS.REC,
};

const CLEAR: Record<string, number> = {
  rw: MS.RDONLY,
  suid: MS.NOSUID,
  dev: MS.NODEV,
  exec: MS.NOEXEC,
  async: MS.SYNCHRONOUS,
  nomand: MS.MANDLOCK,
  atime: MS.NOATIME,
  diratime: MS.NODIRATIME,
  norelatime: MS.RELATIME,
  nostrictatime: MS.STRICTATIME,
  symfollow: MS.NOSYMFOLLOW,
  defaults: 0,
};

export const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** Every option name parseMountOptions knows (for `myuts features`). */
export const mountOptionNames = (): string[] => [...Object.keys(SET), ...Object.keys(CLEAR), ...Object.keys(PROPAGATION), ...IDMAP_OPTIONS];

/** Idmapped bind mounts (src/setup/idmap.ts); the mount itself takes them as no option. */
export const IDMAP_OPTIONS = ["idmap", "ridmap"] as const;

export function parseMountOptions(options: readonly string[] = []): MountFlags {
  const out: MountFlags = { flags: 0, propagation: [], data: [] };
  for (const o of options) {
    if (o in SET) out.flags |= SET[o]!;
    else if (o in CLEAR) out.flags &= ~CLEAR[o]!;
    else if (o in PROPAGATION) out.propagation.push(PROPAGATION[o]!);
    else if (!(IDMAP_OPTIONS as readonly string[]).includes(o)) out.data.push(o);
  }
  return out;
}

export const isBind = (type: string | undefined, flags: number): boolean => type === "bind" || (flags & MS.BIND) !== 0;

// mount_setattr(2)'s attributes. A bind mount takes its flags only on a remount;
// mount_setattr changes just the ones named, so the flags a user namespace locks
// (nosuid, nodev, … inherited from the host) stay as they are.
export const MOUNT_ATTR = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  ATIME_MASK: 0x70,
  RELATIME: 0x0,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
  NODIRATIME: 0x80,
  NOSYMFOLLOW: 0x200000,
} as const;

export interface MountAttr {
  set: number;
  clear: number;
}

/** The attributes a bind remount with `flags` sets (and the atime bits it clears first). */
export function mountAttrOf(flags: number): MountAttr {
  const a: MountAttr = { set: 0, clear: 0 };
  const pairs: Array<[number, number]> = [
    [MS.RDONLY, MOUNT_ATTR.RDONLY],
    [MS.NOSUID, MOUNT_ATTR.NOSUID],
    [MS.NODEV, MOUNT_ATTR.NODEV],
    [MS.NOEXEC, MOUNT_ATTR.NOEXEC],
    [MS.NODIRATIME, MOUNT_ATTR.NODIRATIME],
    [MS.NOSYMFOLLOW, MOUNT_ATTR.NOSYMFOLLOW],
  ];
  for (const [ms, attr] of pairs) if (flags & ms) a.set |= attr;
  const atime =
    flags & MS.NOATIME ? MOUNT_ATTR.NOATIME : flags & MS.STRICTATIME ? MOUNT_ATTR.STRICTATIME : flags & MS.RELATIME ? MOUNT_ATTR.RELATIME : undefined;
  if (atime !== undefined) {
    a.clear |= MOUNT_ATTR.ATIME_MASK;
    a.set |= atime;
  }
  return a;
}

/** The flags a bind mount applies only through a remount. */
export const REMOUNT_FLAGS = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.NOATIME | MS.NODIRATIME | MS.RELATIME | MS.STRICTATIME | MS.NOSYMFOLLOW;

/**
 * overlayfs's mount data for an image root: lowerdirs top first, then the container's
 * upper and work dirs. In a user namespace, where trusted.* xattrs are out of reach,
 * "userxattr" makes overlayfs read its markers from user.* (src/image/unpack.ts sets both).
 */
export function overlayData(o: { lowerdir: readonly string[]; upperdir: string; workdir: string }, userns = false): string {
  return `lowerdir=${o.lowerdir.join(":")},upperdir=${o.upperdir},workdir=${o.workdir}${userns ? ",userxattr" : ""}`;
}
