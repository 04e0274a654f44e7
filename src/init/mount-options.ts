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

export function parseMountOptions(options: readonly string[] = []): MountFlags {
  const out: MountFlags = { flags: 0, propagation: [], data: [] };
  for (const o of options) {
    if (o in SET) out.flags |= SET[o]!;
    else if (o in CLEAR) out.flags &= ~CLEAR[o]!;
    else if (o in PROPAGATION) out.propagation.push(PROPAGATION[o]!);
    else out.data.push(o);
  }
  return out;
}

export const isBind = (type: string | undefined, flags: number): boolean => type === "bind" || (flags & MS.BIND) !== 0;
