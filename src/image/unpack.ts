// Unpacks one layer (a tar, plain, gzip or zstd) into an empty directory in the
// form overlayfs reads as a lowerdir: a whiteout ".wh.NAME" becomes a character
// device 0:0 named NAME (which Linux 5.8+ lets anyone make), an opaque marker
// ".wh..wh..opq" the directory's overlay.opaque xattr: trusted.* for overlays mounted
// in the host's user namespace, user.* for those mounted in a container's own with
// "userxattr" (root sets both, a rootless store only the second). The tar is parsed by tar-stream; everything put on
// disk is decided here, because the archive is hostile:
// - names with ".." are refused (entry-path.ts), and every parent directory is
//   checked with lstat to be a real directory of this layer: an entry can never be
//   written through a symlink an earlier entry planted ("a -> /etc", then "a/passwd");
// - a file is created with O_EXCL|O_NOFOLLOW after whatever was at its name is removed;
// - a hard link's target must be an earlier non-directory entry of the same layer;
// - device nodes are made only by root (skipped with a warning otherwise);
// - directory modes are set last, so a read-only directory can still be filled.
// The layer directory is private to the store while it is filled: nobody else
// changes it between the checks and the writes.
import { extract as tarExtract, type Header as Headers } from "tar-stream";
import { lsetxattr, mknod } from "../../ffi/libc.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs, stream, zlib } from "../util/node.ts";
import { errnoOf } from "../util/fs-errors.ts";
import { EPERM, errnoText } from "../../ffi/errno.ts";
import { type Digest, DigestWriter, verifyDigest } from "./digest.ts";
import { entryParts, whiteoutOf } from "./entry-path.ts";
import type { Compression } from "./manifest.ts";
import { layerMaySet, xattrsOf } from "./tar-xattrs.ts";

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

export interface UnpackOptions {
  /** An empty directory that becomes the layer. */
  dest: string;
  compression: Compression;
  /** The config's diff_id for this layer: the digest of the uncompressed tar, checked at the end. */
  diffId?: Digest;
  /** Whether file owners and device nodes can be made (root in the host's user namespace). */
  privileged: boolean;
  what: string;
  warn(msg: string): void;
}

/** Decompressed chunks of `source`, hashed on the way into `h`. */
async function* decompress(source: AsyncIterable<Uint8Array>, compression: Compression, h: DigestWriter): AsyncIterable<Uint8Array> {
  if (compression === "none") {
    for await (const c of source) {
      h.update(c);
      yield c;
    }
    return;
  }
  // Output in 256 KiB pieces, not zlib's 16 KiB: every piece costs a hash update, a tar
  // parse step and a write on the pool, and a pull of 100 MB took 0.79 s with 16 KiB, 0.55 s with these.
  const z = compression === "gzip" ? zlib().createGunzip({ chunkSize: INFLATED_CHUNK }) : zlib().createZstdDecompress({ chunkSize: INFLATED_CHUNK });
  const input = stream().Readable.from(source);
  input.on("error", (e) => z.destroy(e));
  input.pipe(z);
  for await (const c of z as AsyncIterable<Buffer>) {
    h.update(c);
    yield c;
  }
}

export const INFLATED_CHUNK = 256 * 1024;

const code = (e: unknown) => (e as { code?: string } | null)?.code;

class LayerWriter {
  private readonly dirs = new Set<string>();
  private readonly dirModes: { p: string; mode: number; mtime?: Date }[] = [];
  private warnedDevices = false;
  private readonly warnedXattrs = new Set<string>();

  constructor(private readonly o: UnpackOptions) {}

  private abs(parts: readonly string[]): string {
    return parts.length ? `${this.o.dest}/${parts.join("/")}` : this.o.dest;
  }

  /** Makes sure every parent of `parts` is a real directory of this layer, creating missing ones. */
  private parents(parts: readonly string[], name: string): void {
    for (let i = 1; i < parts.length; i++) {
      const p = this.abs(parts.slice(0, i));
      if (this.dirs.has(p)) continue;
      let st: import("node:fs").Stats | undefined;
      try {
        st = fs().lstatSync(p);
      } catch (e) {
        if (code(e) !== "ENOENT") throw e;
      }
      if (!st) fs().mkdirSync(p, 0o755);
      else if (st.isSymbolicLink())
        throw new UserError(`${this.o.what}: entry ${JSON.stringify(name)} refused: ${parts.slice(0, i).join("/")} is a symbolic link`);
      else if (!st.isDirectory())
        throw new UserError(`${this.o.what}: entry ${JSON.stringify(name)} refused: ${parts.slice(0, i).join("/")} is not a directory`);
      this.dirs.add(p);
    }
  }

  /** Removes whatever is at `p` (not following it), unless it is a directory and `keepDir`. */
  private clear(p: string, keepDir: boolean): boolean {
    let st: import("node:fs").Stats;
    try {
      st = fs().lstatSync(p);
    } catch (e) {
      if (code(e) === "ENOENT") return false;
      throw e;
    }
    if (keepDir && st.isDirectory()) return true;
    fs().rmSync(p, { recursive: true, force: true });
    this.dirs.delete(p);
    for (const d of this.dirs) if (d.startsWith(`${p}/`)) this.dirs.delete(d);
    return false;
  }

  async entry(h: Headers, data: AsyncIterable<Uint8Array>): Promise<void> {
    const parts = entryParts(h.name, `${this.o.what}: entry`);
    const wo = whiteoutOf(parts, `${this.o.what}: entry`);
    if (wo?.kind === "opaque") {
      this.parents([...wo.dir, "x"], h.name);
      this.opaque(this.abs(wo.dir));
      return;
    }
    if (wo?.kind === "file") {
      this.parents(wo.path, h.name);
      const p = this.abs(wo.path);
      this.clear(p, false);
      try {
        mknod(p, S_IFCHR, 0n);
      } catch (e) {
        if (this.o.privileged || errnoOf(e) !== EPERM) throw e;
        throw new UserError(`${this.o.what}: this kernel refuses whiteouts (character devices 0:0) to non-root users; Linux 5.8 or later allows them`);
      }
      return;
    }
    if (!parts.length) {
      // The layer's root itself: only its mode matters.
      if (h.type === "directory") this.dirModes.push({ p: this.o.dest, mode: (h.mode ?? 0o755) & 0o7777, mtime: h.mtime });
      return;
    }
    this.parents(parts, h.name);
    const p = this.abs(parts);
    const mode = (h.mode ?? 0o644) & 0o7777;
    switch (h.type) {
      case "file":
      case "contiguous-file":
        this.clear(p, false);
        await this.file(p, mode, h, data);
        return;
      case "directory":
        if (!this.clear(p, true)) fs().mkdirSync(p, 0o700);
        this.dirs.add(p);
        this.dirModes.push({ p, mode, mtime: h.mtime });
        this.own(p, h);
        this.xattrs(p, h);
        return;
      case "symlink": {
        this.clear(p, false);
        // On the thread pool: an image's base layer is mostly links, and other layers hash meanwhile.
        const fsp = fs().promises;
        await fsp.symlink(h.linkname ?? "", p);
        if (this.o.privileged) await fsp.lchown(p, h.uid ?? 0, h.gid ?? 0);
        if (h.mtime && !Number.isNaN(h.mtime.getTime())) await fsp.lutimes(p, h.mtime, h.mtime).catch(() => {});
        this.xattrs(p, h);
        return;
      }
      case "link": {
        const target = entryParts(h.linkname ?? "", `${this.o.what}: hard link ${JSON.stringify(h.name)} to`);
        this.parents(target, h.linkname ?? "");
        const t = this.abs(target);
        let st: import("node:fs").Stats;
        try {
          st = fs().lstatSync(t);
        } catch {
          throw new UserError(`${this.o.what}: hard link ${JSON.stringify(h.name)}: its target ${JSON.stringify(h.linkname)} is not in this layer`);
        }
        if (st.isDirectory()) throw new UserError(`${this.o.what}: hard link ${JSON.stringify(h.name)}: its target is a directory`);
        if (t === p) return;
        this.clear(p, false);
        fs().linkSync(t, p);
        return;
      }
      case "character-device":
      case "block-device":
      case "fifo": {
        if (!this.o.privileged && h.type !== "fifo") {
          if (!this.warnedDevices) this.o.warn(`${this.o.what}: device nodes skipped (they need root)`);
          this.warnedDevices = true;
          return;
        }
        this.clear(p, false);
        const type = h.type === "fifo" ? S_IFIFO : h.type === "block-device" ? S_IFBLK : S_IFCHR;
        mknod(p, type | (mode & 0o777), makedev(h.devmajor ?? 0, h.devminor ?? 0));
        break;
      }
      default:
        // pax and GNU extension headers are read by tar-stream itself; anything else has no place in a layer.
        return;
    }
    this.own(p, h);
    fs().chmodSync(p, mode);
    this.xattrs(p, h);
    this.times(p, h.mtime, false);
  }

  /** A regular file: owner, mode and times set through its descriptor (no path looked up again). */
  private async file(p: string, mode: number, h: Headers, data: AsyncIterable<Uint8Array>): Promise<void> {
    const c = fs().constants;
    const fd = fs().openSync(p, c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW, mode & 0o777);
    try {
      // Written on the thread pool: meanwhile this thread parses, hashes and writes the other layers.
      for await (const chunk of data) {
        let off = 0;
        while (off < chunk.length) off += await writeAt(fd, chunk, off);
      }
      // chown first: it clears setuid and setgid bits, which the chmod then sets.
      if (this.o.privileged) fs().fchownSync(fd, h.uid ?? 0, h.gid ?? 0);
      fs().fchmodSync(fd, mode);
      if (h.mtime && !Number.isNaN(h.mtime.getTime())) fs().futimesSync(fd, h.mtime, h.mtime);
    } finally {
      fs().closeSync(fd);
    }
    // After the chown, which would clear a file capability.
    this.xattrs(p, h);
  }

  /**
   * The entry's extended attributes that a layer may carry (tar-xattrs.ts). One the
   * kernel refuses here (file capabilities for a rootless store, user.* on a symlink,
   * a filesystem without xattrs) is skipped with one warning per name and layer:
   * the files are still usable, as docker and podman treat them.
   */
  private xattrs(p: string, h: Headers): void {
    for (const [name, value] of xattrsOf(h.pax as Record<string, string> | undefined)) {
      if (!layerMaySet(name)) {
        this.warnXattr(name, `${this.o.what}: xattr ${name} on ${JSON.stringify(h.name)} not kept: images may not set it`);
        continue;
      }
      try {
        lsetxattr(p, name, value);
      } catch (e) {
        const errno = errnoOf(e);
        const reason = errno === undefined ? String(e) : `lsetxattr: ${errnoText(errno)}`;
        this.warnXattr(name, `${this.o.what}: xattr ${name} on ${JSON.stringify(h.name)} not kept: ${reason}`);
      }
    }
  }

  private warnXattr(name: string, msg: string): void {
    if (this.warnedXattrs.has(name)) return;
    this.warnedXattrs.add(name);
    this.o.warn(msg);
  }

  private own(p: string, h: Headers): void {
    if (this.o.privileged) fs().lchownSync(p, h.uid ?? 0, h.gid ?? 0);
  }

  private times(p: string, mtime: Date | undefined, link: boolean): void {
    if (!mtime || Number.isNaN(mtime.getTime())) return;
    try {
      if (link) fs().lutimesSync(p, mtime, mtime);
      else fs().utimesSync(p, mtime, mtime);
    } catch {
      // times are cosmetic
    }
  }

  private opaque(p: string): void {
    const y = new TextEncoder().encode("y");
    if (this.o.privileged) lsetxattr(p, "trusted.overlay.opaque", y);
    try {
      lsetxattr(p, "user.overlay.opaque", y);
    } catch (e) {
      // Only containers in a user namespace read it: root's own runs still work without.
      if (!this.o.privileged) throw e;
    }
  }

  /** Directory modes and times, deepest first (setting a parent's time before its children would undo it). */
  finish(): void {
    for (const d of [...this.dirModes].reverse()) {
      fs().chmodSync(d.p, d.mode);
      this.times(d.p, d.mtime, false);
    }
  }
}

function writeAt(fd: number, chunk: Uint8Array, off: number): Promise<number> {
  return new Promise((resolve, reject) => fs().write(fd, chunk, off, chunk.length - off, null, (e, n) => (e ? reject(e) : resolve(n))));
}

/** Linux's makedev for the 12-bit major and 20-bit minor. */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

/** Unpacks `source` into `o.dest`; returns the uncompressed tar's digest (its diff_id). */
export async function unpackLayer(source: AsyncIterable<Uint8Array>, o: UnpackOptions): Promise<Digest> {
  const h = new DigestWriter();
  const ex = tarExtract();
  const input = stream().Readable.from(decompress(source, o.compression, h));
  input.on("error", (e) => ex.destroy(e));
  input.pipe(ex);
  const w = new LayerWriter(o);
  try {
    for await (const e of ex) {
      try {
        await w.entry(e.header, e as AsyncIterable<Uint8Array>);
      } finally {
        e.resume();
      }
    }
    w.finish();
  } catch (e) {
    input.destroy();
    if (e instanceof UserError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    if (/incorrect header|unexpected end|invalid tar|zstd|Unknown frame|Invalid/i.test(msg) && !(e as { syscall?: string }).syscall)
      throw new UserError(`${o.what}: not a valid ${o.compression === "none" ? "" : `${o.compression} `}tar: ${msg}`);
    throw fsError(`${o.what}: unpack`, e);
  }
  const d = h.digest();
  if (o.diffId) verifyDigest(o.diffId, d, `${o.what}: uncompressed content (diff_id)`);
  return d;
}
