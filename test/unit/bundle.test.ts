// config.json is the caller's input: read as untrusted, one line when it's wrong.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe as describeError } from "../../src/cli/report.ts";
import { loadBundle } from "../../src/spec/bundle.ts";

const dir = mkdtempSync(join(tmpdir(), "myuts-bundle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const error = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return describeError(e);
  }
  throw new Error("expected an error");
};

describe("loadBundle", () => {
  test("root.path is relative to the bundle", () => {
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ociVersion: "1.2.0", root: { path: "rootfs" } }));
    expect(loadBundle(dir).spec.root?.path).toBe(join(dir, "rootfs"));
    expect(loadBundle(".", dir).dir).toBe(dir);
  });

  test("missing, not JSON, not an object, or not a regular file: one line naming the file", () => {
    const other = mkdtempSync(join(dir, "b-"));
    expect(error(() => loadBundle(other))).toBe(`bundle ${other}/config.json: open: ENOENT (No such file or directory)`);
    writeFileSync(join(other, "config.json"), "{ not json");
    expect(error(() => loadBundle(other))).toStartWith(`bundle ${other}/config.json: not valid JSON`);
    writeFileSync(join(other, "config.json"), "[1, 2]");
    expect(error(() => loadBundle(other))).toBe(`bundle ${other}/config.json: not a JSON object`);
    rmSync(join(other, "config.json"));
    expect(Bun.spawnSync(["mkfifo", join(other, "config.json")]).exitCode).toBe(0);
    expect(error(() => loadBundle(other))).toContain("a FIFO, not a regular file");
  });
});
