// The file operations made straight through libc (ffi/files.ts), which the lifecycle
// commands and the state directory's checks use instead of node:fs, checked against
// what node:fs sees of the same files.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { close } from "../../ffi/libc.ts";
import { changeMode, createFile, fstat, listDir, lstat, makeDir, openFile, removeDir, removeTree, renameFile, replaceFile } from "../../ffi/files.ts";
import { joinPath, parentPath } from "../../src/util/paths.ts";
import { MiB, readRegularFile, RefusedFile } from "../../src/util/read-file.ts";

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "myuts-files-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe("files through libc", () => {
  test("lstat and fstat read the kernel's struct stat as node:fs does", () => {
    const d = join(dir, "st");
    makeDir(d, 0o700);
    writeFileSync(join(d, "f"), "12345");
    symlinkSync("f", join(d, "l"));
    for (const [p, type] of [
      [d, "directory"],
      [join(d, "f"), "file"],
      [join(d, "l"), "symlink"],
      ["/dev/null", "character device"],
    ] as const) {
      const ours = lstat(p);
      const node = lstatSync(p, { bigint: true });
      expect([ours.type, ours.mode, ours.uid, ours.nlink, ours.ino, ours.dev]).toEqual([
        type,
        Number(node.mode & 0o7777n),
        Number(node.uid),
        Number(node.nlink),
        node.ino,
        node.dev,
      ]);
    }
    expect(lstat(join(d, "f")).size).toBe(5);
    const fd = openFile(join(d, "f"));
    try {
      expect(fstat(fd).type).toBe("file");
    } finally {
      close(fd);
    }
    expect(code(() => lstat(join(d, "missing")))).toBe("ENOENT");
  });

  test("open refuses a symlink with noFollow; create with exclusive refuses what exists", () => {
    const d = join(dir, "open");
    mkdirSync(d);
    createFile(join(d, "new"), Buffer.from("a"), 0o600);
    expect(code(() => createFile(join(d, "new"), Buffer.from("b"), 0o600))).toBe("EEXIST");
    expect(readFileSync(join(d, "new"), "utf8")).toBe("a");
    symlinkSync("/etc/hostname", join(d, "link"));
    expect(code(() => openFile(join(d, "link"), { noFollow: true }))).toBe("ELOOP");
    // Through a symlink an exclusive create never writes the target.
    expect(code(() => createFile(join(d, "link"), Buffer.from("x"), 0o600))).toBe("EEXIST");
    replaceFile(join(d, "r"), Buffer.from("long text"));
    replaceFile(join(d, "r"), Buffer.from("short"));
    expect(readFileSync(join(d, "r"), "utf8")).toBe("short");
  });

  test("rename, chmod, mkdir and rmdir", () => {
    const d = join(dir, "ops");
    makeDir(d, 0o755);
    expect(code(() => makeDir(d, 0o755))).toBe("EEXIST");
    createFile(join(d, "a"), Buffer.from("1"), 0o600);
    renameFile(join(d, "a"), join(d, "b"));
    expect([existsSync(join(d, "a")), readFileSync(join(d, "b"), "utf8")]).toEqual([false, "1"]);
    changeMode(join(d, "b"), 0o640);
    expect(lstat(join(d, "b")).mode).toBe(0o640);
    expect(code(() => removeDir(d))).toBe("ENOTEMPTY");
  });

  test("listDir gives names and types without following symlinks; removeTree never leaves the tree", () => {
    const outside = join(dir, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "keep"), "");
    const d = join(dir, "tree");
    mkdirSync(join(d, "sub/deeper"), { recursive: true });
    writeFileSync(join(d, "sub/deeper/f"), "");
    symlinkSync(outside, join(d, "out"));
    for (let i = 0; i < 300; i++) writeFileSync(join(d, `n${i}`), "");
    const entries = listDir(d);
    expect(entries.length).toBe(302);
    expect(entries.find((e) => e.name === "out")?.type).toBe("symlink");
    expect(entries.find((e) => e.name === "sub")?.type).toBe("directory");
    expect(entries.some((e) => e.name === "." || e.name === "..")).toBe(false);
    removeTree(d);
    expect(existsSync(d)).toBe(false);
    expect(existsSync(join(outside, "keep"))).toBe(true);
    removeTree(d);
    // Named directly, a symlink goes and what it points to stays.
    symlinkSync(outside, join(dir, "link-to-outside"));
    removeTree(join(dir, "link-to-outside"));
    expect([existsSync(join(dir, "link-to-outside")), existsSync(join(outside, "keep"))]).toEqual([false, true]);
  });

  test("readRegularFile: a regular file up to its cap, anything else refused by what it is", () => {
    const f = join(dir, "regular");
    writeFileSync(f, "x".repeat(100));
    expect(readRegularFile(f, MiB).toString()).toBe("x".repeat(100));
    expect(() => readRegularFile(f, 99)).toThrow(RefusedFile);
    expect(() => readRegularFile(dir, MiB)).toThrow("a directory, not a regular file");
    expect(() => readRegularFile("/dev/zero", MiB)).toThrow("a character device, not a regular file");
    const fifo = join(dir, "fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    expect(() => readRegularFile(fifo, MiB)).toThrow("a FIFO, not a regular file");
    symlinkSync(f, join(dir, "to-regular"));
    expect(code(() => readRegularFile(join(dir, "to-regular"), MiB, { noFollow: true }))).toBe("ELOOP");
    expect(code(() => readRegularFile(join(dir, "none"), MiB))).toBe("ENOENT");
  });
});

describe("paths without node:path", () => {
  test("joinPath and parentPath", () => {
    expect([joinPath("/sys/fs/cgroup", "memory.max"), joinPath("/", "a"), joinPath("/a/", "/b/c", "d"), joinPath("/a", "b/../c"), joinPath("/", "/")]).toEqual([
      "/sys/fs/cgroup/memory.max",
      "/a",
      "/a/b/c/d",
      "/a/c",
      "/",
    ]);
    expect([parentPath("/a/b"), parentPath("/a"), parentPath("/")]).toEqual(["/a", "/", "/"]);
  });
});
