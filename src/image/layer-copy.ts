// An image root without overlayfs (podman's "vfs" driver): the layers copied into
// one directory, bottom first, with overlayfs's rules applied by hand. A whiteout
// (a 0:0 character device) removes its name from what the lower layers left; an
// opaque directory (the overlay.opaque xattr) empties it first. Used where the
// kernel can't mount an overlay in the container's user namespace (before Linux
// 5.11), or when asked for with MYUTS_STORAGE_DRIVER=vfs. Files are cloned where
// the filesystem can (FICLONE), else copied.
//
// The layers are the store's, read back from disk: nothing in them is followed.
// Every entry is looked at with lstat, whatever a lower layer left at a name is
// removed before the name is made again, and each directory is checked to be a real
// directory of the copy before anything goes into it.
import { lgetxattr, lsetxattr, llistxattr, mknod } from "../../ffi/libc.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs, path } from "../util/node.ts";

const S_IFIFO = 0o010000;
const OPAQUE = ["user.overlay.opaque", "trusted.overlay.opaque"];

class LayerCopy {
  /** Each directory's mode and times, from the topmost layer that has it. */
  private readonly dirs = new Map<string, import("node:fs").Stats>();
  /** This layer's hard links: the copy made for an inode already seen. */
  private links = new Map<string, string>();

  constructor(
    private readonly dest: string,
    private readonly privileged: boolean,
  ) {}

  layer(src: string): void {
    this.links = new Map();
    this.dir(src, this.dest);
  }

  private dir(src: string, dest: string): void {
    for (const name of fs().readdirSync(src)) {
      const s = path().join(src, name);
      const d = path().join(dest, name);
      const st = fs().lstatSync(s);
      if (st.isCharacterDevice() && st.rdev === 0) {
        remove(d);
        continue;
      }
      if (st.isDirectory()) {
        const there = fs().lstatSync(d, { throwIfNoEntry: false });
        if (there && !there.isDirectory()) remove(d);
        if (!there?.isDirectory()) fs().mkdirSync(d, 0o700);
        else if (isOpaque(s)) for (const child of fs().readdirSync(d)) remove(path().join(d, child));
        this.dir(s, d);
        this.dirs.set(d, st);
        this.attrs(s, d, st, false);
        continue;
      }
      remove(d);
      if (st.isFile()) this.file(s, d, st);
      else if (st.isSymbolicLink()) {
        fs().symlinkSync(fs().readlinkSync(s), d);
        this.attrs(s, d, st, true);
      } else if (st.isFIFO()) {
        mknod(d, S_IFIFO | (st.mode & 0o777), 0n);
        this.attrs(s, d, st, false);
      } else if (this.privileged && (st.isCharacterDevice() || st.isBlockDevice())) {
        mknod(d, st.mode, BigInt(st.rdev));
        this.attrs(s, d, st, false);
      }
    }
  }

  private file(s: string, d: string, st: import("node:fs").Stats): void {
    const key = `${st.dev}:${st.ino}`;
    const linked = st.nlink > 1 ? this.links.get(key) : undefined;
    if (linked) {
      fs().linkSync(linked, d);
      return;
    }
    this.readable(s, st, () => fs().copyFileSync(s, d, fs().constants.COPYFILE_FICLONE | fs().constants.COPYFILE_EXCL));
    if (st.nlink > 1) this.links.set(key, d);
    this.attrs(s, d, st, false);
  }

  /**
   * A rootless store keeps the modes its layers give, and its owner can't read a file
   * of mode 000 (Fedora's /etc/shadow) the way root in the container could: such a file
   * is made readable for the copy, then set back.
   */
  private readable(s: string, st: import("node:fs").Stats, copy: () => void): void {
    if (this.privileged || st.mode & 0o400) {
      copy();
      return;
    }
    fs().chmodSync(s, (st.mode & 0o7777) | 0o400);
    try {
      copy();
    } finally {
      fs().chmodSync(s, st.mode & 0o7777);
    }
  }

  /** Owner (root only), then mode (a chown clears setuid bits), xattrs and times. */
  private attrs(s: string, d: string, st: import("node:fs").Stats, link: boolean): void {
    if (this.privileged) fs().lchownSync(d, st.uid, st.gid);
    if (!link && !st.isDirectory()) fs().chmodSync(d, st.mode & 0o7777);
    for (const name of llistxattr(s)) {
      if (OPAQUE.includes(name) || name.startsWith("trusted.")) continue;
      const v = lgetxattr(s, name);
      if (v) lsetxattr(d, name, v);
    }
    if (!st.isDirectory()) fs().lutimesSync(d, st.atime, st.mtime);
  }

  /** Directory modes and times last: filling a directory changes its time, and a read-only one can't be filled. */
  finish(): void {
    for (const [p, st] of this.dirs) {
      fs().chmodSync(p, st.mode & 0o7777);
      fs().utimesSync(p, st.atime, st.mtime);
    }
  }
}

function isOpaque(dir: string): boolean {
  return OPAQUE.some((name) => {
    try {
      return new TextDecoder().decode(lgetxattr(dir, name) ?? new Uint8Array()) === "y";
    } catch {
      return false;
    }
  });
}

function remove(p: string): void {
  fs().rmSync(p, { recursive: true, force: true });
}

/** Copies the layers (top first, as overlayfs's lowerdir lists them) into the empty directory `dest`. */
export function copyLayers(lowerdir: readonly string[], dest: string, privileged: boolean): void {
  const c = new LayerCopy(dest, privileged);
  try {
    for (const layer of [...lowerdir].reverse()) c.layer(layer);
    c.finish();
  } catch (e) {
    throw fsError(`copy the image's layers into ${dest}`, e);
  }
}
