import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { secureJoin } from "../../src/lifecycle/secure-join.ts";

let root = "";

beforeAll(() => {
  root = join(mkdtempSync(join(tmpdir(), "myuts-securejoin-")), "root");
  mkdirSync(join(root, "usr", "lib"), { recursive: true });
  mkdirSync(join(root, "var"), { recursive: true });
  // A hostile root filesystem: links that try to climb out of it.
  symlinkSync("/etc", join(root, "abs-etc"));
  symlinkSync("../../../../../../etc", join(root, "up-etc"));
  symlinkSync("usr/lib", join(root, "lib"));
  symlinkSync("../lib", join(root, "usr", "lib", "parent-lib"));
  symlinkSync("/", join(root, "var", "to-root"));
  symlinkSync("loop-b", join(root, "loop-a"));
  symlinkSync("loop-a", join(root, "loop-b"));
  symlinkSync("self", join(root, "self"));
});

afterAll(() => {
  if (root) rmSync(join(root, ".."), { recursive: true, force: true });
});

describe("secureJoin", () => {
  test("plain paths are joined", () => {
    expect(secureJoin(root, "/usr/lib")).toBe(`${root}/usr/lib`);
    expect(secureJoin(root, "usr//./lib/")).toBe(`${root}/usr/lib`);
  });

  test("the root itself", () => {
    expect(secureJoin(root, "/")).toBe(root);
    expect(secureJoin(root, "")).toBe(root);
    expect(secureJoin(root, "/.")).toBe(root);
  });

  test("'..' cannot climb above the root", () => {
    expect(secureJoin(root, "/../../../etc/passwd")).toBe(`${root}/etc/passwd`);
    expect(secureJoin(root, "/usr/../../var")).toBe(`${root}/var`);
  });

  test("absolute symlinks resolve inside the root", () => {
    expect(secureJoin(root, "/abs-etc/passwd")).toBe(`${root}/etc/passwd`);
    expect(secureJoin(root, "/var/to-root/etc")).toBe(`${root}/etc`);
  });

  test("relative symlinks that climb are clamped at the root", () => {
    expect(secureJoin(root, "/up-etc/shadow")).toBe(`${root}/etc/shadow`);
  });

  test("relative symlinks resolve against their own directory", () => {
    expect(secureJoin(root, "/lib/x")).toBe(`${root}/usr/lib/x`);
    expect(secureJoin(root, "/usr/lib/parent-lib/y")).toBe(`${root}/usr/lib/y`);
  });

  test("missing components are kept for the caller to create", () => {
    expect(secureJoin(root, "/new/dir/here")).toBe(`${root}/new/dir/here`);
    expect(secureJoin(root, "/abs-etc/new/dir")).toBe(`${root}/etc/new/dir`);
  });

  test("symlink loops fail with ELOOP instead of spinning", () => {
    for (const p of ["/loop-a/x", "/self"]) {
      let code: string | undefined;
      try {
        secureJoin(root, p);
      } catch (e) {
        code = (e as { code?: string }).code;
      }
      expect(code).toBe("ELOOP");
    }
  });

  test("the final component is resolved too, as a mount target would be", () => {
    expect(secureJoin(root, "/abs-etc")).toBe(`${root}/etc`);
  });

  test("with / as the root, paths stay absolute and clean", () => {
    expect(secureJoin("/", "/proc")).toBe("/proc");
    expect(secureJoin("/", "../../proc/self/..")).toBe("/proc");
  });
});
