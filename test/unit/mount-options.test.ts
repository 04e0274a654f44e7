import { describe, expect, test } from "bun:test";
import { MS } from "../../ffi/libc.ts";
import { isBind, parseMountOptions } from "../../src/setup/mount-options.ts";

describe("parseMountOptions", () => {
  test("nothing in, nothing out", () => {
    expect(parseMountOptions()).toEqual({ flags: 0, propagation: [], data: [] });
    expect(parseMountOptions([])).toEqual({ flags: 0, propagation: [], data: [] });
  });

  test("flag options set mount(2) flags", () => {
    const o = parseMountOptions(["ro", "nosuid", "nodev", "noexec", "noatime", "strictatime"]);
    expect(o.flags).toBe(MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.NOATIME | MS.STRICTATIME);
    expect(o.data).toEqual([]);
  });

  test("bind and rbind", () => {
    expect(parseMountOptions(["bind"]).flags).toBe(MS.BIND);
    expect(parseMountOptions(["rbind"]).flags).toBe(MS.BIND | MS.REC);
  });

  test("clearing options undo earlier ones; the last word wins", () => {
    expect(parseMountOptions(["ro", "rw"]).flags).toBe(0);
    expect(parseMountOptions(["rw", "ro"]).flags).toBe(MS.RDONLY);
    expect(parseMountOptions(["nosuid", "suid", "nodev", "dev", "noexec", "exec"]).flags).toBe(0);
    expect(parseMountOptions(["defaults"]).flags).toBe(0);
  });

  test("propagation options are separate calls, in order", () => {
    const o = parseMountOptions(["rbind", "rprivate", "ro", "slave"]);
    expect(o.propagation).toEqual([MS.PRIVATE | MS.REC, MS.SLAVE]);
    expect(o.flags).toBe(MS.BIND | MS.REC | MS.RDONLY);
    expect(parseMountOptions(["shared", "rshared", "unbindable", "runbindable", "private", "rslave"]).propagation).toEqual([
      MS.SHARED,
      MS.SHARED | MS.REC,
      MS.UNBINDABLE,
      MS.UNBINDABLE | MS.REC,
      MS.PRIVATE,
      MS.SLAVE | MS.REC,
    ]);
  });

  test("anything else goes to the filesystem as data", () => {
    const o = parseMountOptions(["nosuid", "mode=755", "size=65536k", "newinstance", "ptmxmode=0666"]);
    expect(o.flags).toBe(MS.NOSUID);
    expect(o.data).toEqual(["mode=755", "size=65536k", "newinstance", "ptmxmode=0666"]);
  });
});

describe("isBind", () => {
  test("by type or by flag", () => {
    expect(isBind("bind", 0)).toBe(true);
    expect(isBind(undefined, MS.BIND)).toBe(true);
    expect(isBind("none", MS.BIND | MS.REC)).toBe(true);
    expect(isBind("tmpfs", MS.NOSUID)).toBe(false);
    expect(isBind(undefined, 0)).toBe(false);
  });
});
