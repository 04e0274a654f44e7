// Layer unpacking against hostile archives: nothing may land outside the layer,
// not through "..", absolute names, symlinks planted by earlier entries, or hard
// links; whiteouts become overlayfs's forms. Real files in a temporary directory.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unpackLayer } from "../../src/image/unpack.ts";
import { Store } from "../../src/image/store.ts";
import { sha256 } from "../../src/image/digest.ts";
import { decodePax, xattrsOf } from "../../src/image/tar-xattrs.ts";
import { copyLayers } from "../../src/image/layer-copy.ts";
import { storageDriver } from "../../src/image/storage-driver.ts";
import { lgetxattr, lsetxattr } from "../../ffi/libc.ts";
import { type TarEntry, tarOf } from "../helpers/image-archive.ts";

const isRoot = process.getuid?.() === 0;
const base = mkdtempSync(join(tmpdir(), "myuts-unpack-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

async function unpack(entries: TarEntry[]): Promise<string> {
  const dest = join(base, `layer${n++}`);
  mkdirSync(dest);
  const tar = await tarOf(entries);
  async function* src() {
    yield tar;
  }
  await unpackLayer(src(), { dest, compression: "none", privileged: isRoot, what: "layer", warn: () => {} });
  return dest;
}

describe("hostile layers", () => {
  test("'..' in a name is refused", async () => {
    await expect(unpack([{ name: "../escape", content: "x" }])).rejects.toThrow(/climbs out/);
    expect(existsSync(join(base, "escape"))).toBe(false);
  });
  test("an absolute name stays inside the layer", async () => {
    const d = await unpack([{ name: "/etc/inside", content: "x" }]);
    expect(readFileSync(join(d, "etc/inside"), "utf8")).toBe("x");
  });
  test("a symlink then a file through it is refused", async () => {
    const outside = join(base, "target");
    mkdirSync(outside);
    await expect(
      unpack([
        { name: "a", type: "symlink", linkname: outside },
        { name: "a/passwd", content: "pwned" },
      ]),
    ).rejects.toThrow(/symbolic link/);
    expect(existsSync(join(outside, "passwd"))).toBe(false);
  });
  test("a symlink to .. then a file through it is refused", async () => {
    await expect(
      unpack([
        { name: "up", type: "symlink", linkname: ".." },
        { name: "up/x", content: "pwned" },
      ]),
    ).rejects.toThrow(/symbolic link/);
  });
  test("a file over an earlier symlink replaces the link, not its target", async () => {
    const victim = join(base, "victim");
    writeFileSync(victim, "safe");
    const d = await unpack([
      { name: "f", type: "symlink", linkname: victim },
      { name: "f", content: "new" },
    ]);
    expect(readFileSync(victim, "utf8")).toBe("safe");
    expect(lstatSync(join(d, "f")).isFile()).toBe(true);
  });
  test("a hard link out of the layer is refused", async () => {
    await expect(unpack([{ name: "h", type: "link", linkname: "../../etc/passwd" }])).rejects.toThrow(/climbs out/);
    await expect(unpack([{ name: "h", type: "link", linkname: "/etc/passwd" }])).rejects.toThrow(/not in this layer/);
  });
  test("hard links inside the layer work", async () => {
    const d = await unpack([
      { name: "a", content: "1" },
      { name: "b", type: "link", linkname: "a" },
    ]);
    expect(lstatSync(join(d, "b")).ino).toBe(lstatSync(join(d, "a")).ino);
  });
});

describe.skipIf(!isRoot)("whiteouts, owners and devices (root)", () => {
  test("a whiteout is a 0:0 character device, an opaque dir has the xattr", async () => {
    const d = await unpack([{ name: "dir/.wh..wh..opq" }, { name: "etc/.wh.gone" }]);
    const st = lstatSync(join(d, "etc/gone"));
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
    expect(existsSync(join(d, "dir/.wh..wh..opq"))).toBe(false);
  });
  test("xattrs from pax records: binary values kept, file capabilities after the chown, overlay's own refused", async () => {
    const src = join(base, `xattr-src${n++}`);
    mkdirSync(join(src, "bin"), { recursive: true });
    writeFileSync(join(src, "bin/ping"), "x");
    writeFileSync(join(src, "note"), "y");
    const binary = new Uint8Array([0, 0xff, 0xc3, 0x28, 0x80, 10, 61, 32]);
    lsetxattr(join(src, "note"), "user.binary", binary);
    lsetxattr(join(src, "note"), "user.overlay.opaque", new TextEncoder().encode("y"));
    if (isRoot) {
      chownSync(join(src, "bin/ping"), 0, 0);
      expect(Bun.spawnSync(["setcap", "cap_net_raw+ep", join(src, "bin/ping")]).exitCode).toBe(0);
      lsetxattr(join(src, "bin"), "trusted.overlay.redirect", new TextEncoder().encode("/etc"));
    }
    const tar = Bun.spawnSync(["tar", "--xattrs", "--xattrs-include=*", "--owner=0", "--group=0", "-C", src, "-cf", "-", "."]);
    expect(tar.exitCode).toBe(0);
    const dest = join(base, `layer${n++}`);
    mkdirSync(dest);
    const warnings: string[] = [];
    async function* one() {
      yield new Uint8Array(tar.stdout);
    }
    await unpackLayer(one(), { dest, compression: "none", privileged: isRoot, what: "layer", warn: (m) => warnings.push(m) });
    expect(lgetxattr(join(dest, "note"), "user.binary")).toEqual(binary);
    expect(lgetxattr(join(dest, "note"), "user.overlay.opaque")).toBeUndefined();
    expect(warnings.join("\n")).toContain("xattr user.overlay.opaque");
    if (isRoot) {
      const caps = Bun.spawnSync(["getcap", join(dest, "bin/ping")]).stdout.toString();
      expect(caps).toContain("cap_net_raw=ep");
      expect(lgetxattr(join(dest, "bin"), "trusted.overlay.redirect")).toBeUndefined();
      expect(warnings.join("\n")).toContain("xattr trusted.overlay.redirect");
    }
  });
  test("pax decoding: LIBARCHIVE's base64 form, and a broken record ends the header", () => {
    const rec = (k: string, v: string) => {
      const body = ` ${k}=${v}\n`;
      const bytes = Buffer.byteLength(body);
      let len = bytes + 1;
      while (String(len).length + bytes !== len) len = String(len).length + bytes;
      return `${len}${body}`;
    };
    const pax = decodePax(new TextEncoder().encode(rec("LIBARCHIVE.xattr.user.a%20b", Buffer.from([1, 2, 255]).toString("base64")) + rec("path", "é")));
    expect(xattrsOf(pax).get("user.a b")).toEqual(new Uint8Array([1, 2, 255]));
    expect(pax.path).toBe("é");
    expect(decodePax(new TextEncoder().encode("999 path=x\n"))).toEqual({});
  });
  test("owners, modes and device nodes", async () => {
    const d = await unpack([
      { name: "f", content: "x", uid: 1234, gid: 99, mode: 0o4750 },
      { name: "null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
      { name: "ro", type: "directory", mode: 0o555 },
      { name: "ro/inner", content: "ok" },
    ]);
    const st = lstatSync(join(d, "f"));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1234, 99, 0o4750]);
    expect(lstatSync(join(d, "null")).rdev).toBe(0x103);
    expect(lstatSync(join(d, "ro")).mode & 0o777).toBe(0o555);
  });
});

describe("the copy driver (vfs)", () => {
  test("layers copied bottom first: whiteouts remove, opaque dirs empty, a dir replaces a link, hard links stay links", async () => {
    const lower = await unpack([
      { name: "etc", type: "directory" },
      { name: "etc/gone", content: "g" },
      { name: "etc/kept", content: "k" },
      { name: "srv", type: "directory" },
      { name: "srv/old", content: "old" },
      { name: "lnk", type: "symlink", linkname: "/etc" },
    ]);
    const upper = await unpack([
      { name: "etc/.wh.gone" },
      { name: "srv/.wh..wh..opq" },
      { name: "srv/new", content: "new", mode: 0o4755 },
      { name: "srv/hard", type: "link", linkname: "srv/new" },
      { name: "lnk", type: "directory", mode: 0o711 },
      { name: "lnk/inside", content: "i" },
      { name: "etc", type: "directory", mode: 0o750 },
    ]);
    const dest = join(base, `copy${n++}`);
    mkdirSync(dest);
    copyLayers([upper, lower], dest, isRoot);
    expect(existsSync(join(dest, "etc/gone"))).toBe(false);
    expect(readFileSync(join(dest, "etc/kept"), "utf8")).toBe("k");
    expect(lstatSync(join(dest, "etc")).mode & 0o777).toBe(0o750);
    expect(existsSync(join(dest, "srv/old"))).toBe(false);
    expect(lstatSync(join(dest, "srv/new")).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(dest, "srv/hard")).ino).toBe(lstatSync(join(dest, "srv/new")).ino);
    expect(lstatSync(join(dest, "lnk")).isDirectory()).toBe(true);
    expect(readFileSync(join(dest, "lnk/inside"), "utf8")).toBe("i");
    // A file its owner can't read (mode 000) is copied all the same, and its layer keeps the mode.
    const shadowLayer = await unpack([{ name: "etc/shadow", content: "root:*:" }]);
    chmodSync(join(shadowLayer, "etc/shadow"), 0);
    if (isRoot) {
      chownSync(join(shadowLayer, "etc/shadow"), 65534, 65534);
      chmodSync(base, 0o755);
    }
    const rootless = join(base, `copy${n++}`);
    mkdirSync(rootless);
    if (isRoot) chownSync(rootless, 65534, 65534);
    const copied = Bun.spawnSync(
      [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        process.execPath,
        "-e",
        `require(${JSON.stringify(join(import.meta.dir, "../../src/image/layer-copy.ts"))}).copyLayers([${JSON.stringify(shadowLayer)}], ${JSON.stringify(rootless)}, false)`,
      ],
      { stderr: "pipe" },
    );
    if (isRoot) {
      expect(copied.stderr.toString()).toBe("");
      expect(readFileSync(join(rootless, "etc/shadow"), "utf8")).toBe("root:*:");
      expect(lstatSync(join(shadowLayer, "etc/shadow")).mode & 0o777).toBe(0);
    }
    // The copy is its own: the layers don't change when it does.
    writeFileSync(join(dest, "etc/kept"), "changed");
    expect(readFileSync(join(lower, "etc/kept"), "utf8")).toBe("k");
  });
  test("the driver: overlay by default; a user namespace before Linux 5.11 copies, with a warning; a bad name is refused", () => {
    const warnings: string[] = [];
    expect(storageDriver(undefined, true, (m) => warnings.push(m), "6.18.44")).toBe("overlay");
    expect(storageDriver(undefined, false, (m) => warnings.push(m), "5.4.0-150-generic")).toBe("overlay");
    expect(warnings).toEqual([]);
    expect(storageDriver(undefined, true, (m) => warnings.push(m), "5.10.0-28-amd64")).toBe("vfs");
    expect(warnings[0]).toContain("Linux 5.11");
    expect(storageDriver("vfs", false, () => {}, "6.1")).toBe("vfs");
    expect(() => storageDriver("zfs", false, () => {})).toThrow("MYUTS_STORAGE_DRIVER=zfs: expected overlay or vfs");
  });
});

describe("the store", () => {
  test("a blob whose bytes don't match its digest is never stored", async () => {
    const s = Store.open(join(base, "store"));
    const good = new TextEncoder().encode("good");
    await expect(s.putBytes(good, sha256(new TextEncoder().encode("other")))).rejects.toThrow(/digest mismatch/);
    expect(s.blobs()).toEqual([]);
    const d = await s.putBytes(good);
    expect(s.hasBlob(d)).toBe(true);
    // Tampered on disk: refused on read.
    rmSync(s.blobPath(d), { force: true });
    writeFileSync(s.blobPath(d), "evil");
    expect(() => s.readBlob(d, "test")).toThrow(/digest mismatch/);
  });
  test("the sweep removes what dead processes left in tmp/, never a live one's", () => {
    const s = Store.open(join(base, "store3"));
    const live = s.tempPath("blob");
    writeFileSync(live, "mine");
    const dead = join(s.root, "tmp", "999999999-1.blob.x");
    writeFileSync(dead, "half");
    mkdirSync(join(s.root, "tmp", "999999998-2.layer.y"));
    expect(s.sweepTemp()).toBe(2);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(dead)).toBe(false);
  });
  test("a store not owned by the caller is refused", () => {
    if (!isRoot) return;
    const d = join(base, "foreign");
    mkdirSync(d);
    chownSync(d, 65534, 65534);
    expect(() => Store.open(d)).toThrow(/owned by uid 65534/);
  });
  test("concurrent writers of one blob: one file, one digest", async () => {
    const s = Store.open(join(base, "store2"));
    const bytes = new TextEncoder().encode("same".repeat(1000));
    const ds = await Promise.all(Array.from({ length: 25 }, () => s.putBytes(bytes)));
    expect(new Set(ds).size).toBe(1);
    expect(s.blobs().length).toBe(1);
    expect(s.sweepTemp()).toBe(0);
  });
});
