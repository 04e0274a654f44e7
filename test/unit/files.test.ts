// Creating and opening paths inside a root through descriptors (openat2 RESOLVE_IN_ROOT).
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { close } from "../../ffi/libc.ts";
import { openDirectory, openOrCreateInRoot } from "../../ffi/files.ts";
import { secureJoin } from "../../src/init/secure-join.ts";

let base: string;
let root: string;
let outside: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "files-"));
  root = join(base, "root");
  outside = join(base, "outside");
  mkdirSync(root);
  mkdirSync(outside);
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

function create(path: string, dir: boolean): string {
  const rootFd = openDirectory(root);
  try {
    const fd = openOrCreateInRoot(rootFd, path, dir, () => secureJoin(root, path).slice(root.length) || "/");
    if (fd === undefined) throw new Error("no openat2 on this kernel");
    const where = readlinkSync(`/proc/self/fd/${fd}`);
    close(fd);
    return where;
  } finally {
    close(rootFd);
  }
}

describe("openOrCreateInRoot", () => {
  test("creates missing directories and a file target", () => {
    expect(create("/a/b/c", true)).toBe(join(root, "a/b/c"));
    expect(lstatSync(join(root, "a/b/c")).isDirectory()).toBe(true);
    expect(create("/a/f", false)).toBe(join(root, "a/f"));
    expect(lstatSync(join(root, "a/f")).isFile()).toBe(true);
  });

  test("an absolute symlink is followed inside the root, never onto the host", () => {
    symlinkSync(outside, join(root, "dev"));
    expect(create("/dev/pts", true)).toBe(join(root, outside.slice(1), "pts"));
    expect(readdirSync(outside)).toEqual([]);
  });

  test("'..' and relative symlinks can't climb out", () => {
    symlinkSync("../../../..", join(root, "up"));
    expect(create("/up/x", true)).toBe(join(root, "x"));
    expect(create("/../../y", true)).toBe(join(root, "y"));
    expect(existsSync(join(base, "x"))).toBe(false);
    expect(existsSync(join(base, "y"))).toBe(false);
  });
});
