// The state registry's files are untrusted input, and its directory decides what
// later starts kill and delete: both are checked before anything is used.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lockStateDir, stateDirPath } from "../../src/lifecycle/state-dir.ts";
import { claimName, listStates, parseEntry, readEntry, selfRef, sweepStale, type ContainerState } from "../../src/lifecycle/state.ts";
import { failure } from "../helpers/user-error.ts";

const isRoot = process.getuid?.() === 0;
let base = "";
let dir = "";
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "myuts-unit-registry-"));
  dir = join(base, "state");
  mkdirSync(dir, { mode: 0o700 });
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const DEAD = { pid: 4194304, start: "1" };
const entry = (name: string, extra: Partial<ContainerState> = {}): ContainerState => ({
  name,
  status: "running",
  owner: selfRef(),
  created: "2024-01-01T00:00:00Z",
  ...extra,
});
const put = (file: string, text: string) => writeFileSync(join(dir, file), text);

describe("entries are parsed as untrusted data", () => {
  test("a well-formed entry passes", () => {
    const s = entry("box", { pid: 42, rootfs: "/r", resources: { pids: { limit: 3 } } });
    expect(parseEntry(JSON.stringify(s), "box")).toEqual(s);
  });

  test("anything malformed is refused with the reason", () => {
    const ok = entry("box");
    const cases: [string, string][] = [
      ["null", "not a JSON object (null)"],
      ["{}", "name does not match"],
      ["[]", "not a JSON object (an array)"],
      ['"box"', "not a JSON object (string)"],
      ["12", "not a JSON object (number)"],
      ["{", "not valid JSON"],
      [JSON.stringify({ ...ok, name: "../../x" }), "name does not match"],
      [JSON.stringify({ ...ok, status: "gone" }), "status"],
      [JSON.stringify({ ...ok, owner: null }), "owner"],
      [JSON.stringify({ ...ok, owner: { pid: "1", start: "1" } }), "owner"],
      [JSON.stringify({ ...ok, owner: { pid: -1, start: "1" } }), "owner"],
      [JSON.stringify({ ...ok, owner: { pid: 1, start: "1; rm" } }), "owner"],
      [JSON.stringify({ ...ok, owner: { pid: 1, start: "1", pidns: "../x" } }), "owner.pidns"],
      [JSON.stringify({ ...ok, pid: 1.5 }), "pid"],
      [JSON.stringify({ ...ok, created: 5 }), "created"],
      [JSON.stringify({ ...ok, rootfs: 5 }), "rootfs"],
      [JSON.stringify({ ...ok, resources: [] }), "resources"],
      [JSON.stringify({ ...ok, cgroup: { mode: "v2", dirs: { unified: "/tmp/evil" }, created: ["/tmp/evil"] } }), "cgroup"],
      [JSON.stringify({ ...ok, cgroup: "x" }), "cgroup: not an object"],
    ];
    for (const [text, why] of cases) expect(() => parseEntry(text, "box")).toThrow(why);
  });

  test("a symlink, a FIFO or a huge file is not read as an entry", () => {
    writeFileSync(join(base, "elsewhere.json"), JSON.stringify(entry("link")));
    symlinkSync(join(base, "elsewhere.json"), join(dir, "link.json"));
    Bun.spawnSync(["mkfifo", join(dir, "fifo.json")]);
    put("big.json", " ".repeat(1024 * 1024 + 1));
    expect(readEntry("link", dir)).toEqual({ invalid: "a symbolic link" });
    expect(readEntry("fifo", dir)).toEqual({ invalid: "a FIFO, not a regular file" });
    expect(readEntry("big", dir)).toEqual({ invalid: "larger than 1 MiB (1048577 bytes)" });
    expect(readEntry("none", dir)).toEqual({ missing: true });
  });

  test("listing skips each bad entry with one warning, and keeps the good ones", () => {
    put("good.json", JSON.stringify(entry("good")));
    for (const [n, text] of [
      ["a", "null"],
      ["b", "{}"],
      ["c", "[]"],
      ["d", '"s"'],
    ])
      put(`${n}.json`, text!);
    put(".hidden.json", "null");
    put("not-an-entry", "null");
    const warnings: string[] = [];
    expect(listStates(dir, (m) => warnings.push(m)).map((s) => s.name)).toEqual(["good"]);
    expect(warnings).toHaveLength(4);
    for (const w of warnings) expect(w).toMatch(/^registry entry .*\/[abcd]\.json: .*; skipped$/);
  });
});

describe("sweeping", () => {
  test("only entries whose owner is provably dead go, after their cgroup is released", () => {
    put("live.json", JSON.stringify(entry("live")));
    put("dead.json", JSON.stringify(entry("dead", { owner: DEAD })));
    put("stuck.json", JSON.stringify(entry("stuck", { owner: DEAD })));
    put("bad.json", JSON.stringify({ ...entry("bad", { owner: DEAD }), name: "../../victim" }));
    // A runtime in another PID namespace (a state directory shared with a container): not provably dead.
    put("foreign.json", JSON.stringify(entry("foreign", { owner: { ...DEAD, pidns: "pid:[1]" } })));
    writeFileSync(join(base, "victim.json"), "keep");
    const released: string[] = [];
    const warnings: string[] = [];
    const swept = sweepStale(
      dir,
      (s) => {
        released.push(s.name);
        return s.name === "stuck" ? ["rmdir x: EBUSY"] : [];
      },
      (m) => warnings.push(m),
    );
    expect(swept.map((s) => s.name)).toEqual(["dead"]);
    expect(released.sort()).toEqual(["dead", "stuck"]);
    expect(readdirSync(dir).sort()).toEqual(["bad.json", "foreign.json", "live.json", "stuck.json"]);
    expect(existsSync(join(base, "victim.json"))).toBe(true);
    expect(warnings.some((w) => w.includes("stuck") && w.includes("its entry stays"))).toBe(true);
    expect(warnings.some((w) => w.includes("bad.json"))).toBe(true);
  });
});

describe("claiming a name", () => {
  test("a live holder or a broken entry refuses it; a new name is written whole", () => {
    claimName(entry("box"), dir);
    expect(failure(() => claimName(entry("box"), dir)).message).toContain("--name box: already in use");
    put("odd.json", "[]");
    expect(failure(() => claimName(entry("odd"), dir)).message).toContain("is not a valid registry entry");
    put("old.json", JSON.stringify(entry("old", { owner: DEAD })));
    expect(failure(() => claimName(entry("old"), dir)).message).toContain("whose runtime is gone but whose cgroup could not be removed yet");
    expect(readdirSync(dir).sort()).toEqual(["box.json", "odd.json", "old.json"]);
  });
});

describe("the state directory", () => {
  test("$XDG_RUNTIME_DIR first, then a per-user directory; root keeps /run/myuts", () => {
    expect(stateDirPath(0, "/run/user/0")).toBe("/run/myuts");
    expect(stateDirPath(1000, "/run/user/1000")).toBe("/run/user/1000/myuts");
    expect(stateDirPath(1000, "relative")).toBe(join(tmpdir(), "myuts-1000"));
    expect(stateDirPath(1000, undefined)).toBe(join(tmpdir(), "myuts-1000"));
  });

  const uid = process.geteuid?.() ?? 0;

  test("created private, locked, and removed when empty", () => {
    const d = join(base, "fresh");
    const lock = lockStateDir({ create: true }, d, uid)!;
    expect(lstatSync(d).mode & 0o777).toBe(0o700);
    lock.removeIfEmpty();
    lock.release();
    expect(existsSync(d)).toBe(false);
    expect(lockStateDir({ create: false }, d, uid)).toBeUndefined();
    expect(existsSync(d)).toBe(false);
  });

  test("a non-empty directory stays", () => {
    const lock = lockStateDir({ create: true }, dir, uid)!;
    put("x.json", "{}");
    lock.removeIfEmpty();
    lock.release();
    expect(existsSync(join(dir, "x.json"))).toBe(true);
  });

  test("a symlink, a directory open to others or someone else's is refused", () => {
    const real = join(base, "real");
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(base, "link"));
    expect(failure(() => lockStateDir({ create: true }, join(base, "link"), uid)).message).toContain("is a symbolic link");
    const wide = join(base, "wide");
    mkdirSync(wide);
    chmodSync(wide, 0o1777);
    expect(failure(() => lockStateDir({ create: true }, wide, uid)).message).toContain("has mode 1777");
    expect(failure(() => lockStateDir({ create: false }, wide, uid)).message).toContain("open to other users");
    // Someone else's: as seen by another uid (no chown needed).
    expect(failure(() => lockStateDir({ create: true }, real, uid + 1)).message).toContain(`is owned by uid ${uid}, not by you (uid ${uid + 1})`);
  });

  test.skipIf(!isRoot)("a directory another user planted is refused (needs root to plant it)", () => {
    const planted = join(base, "planted");
    mkdirSync(planted, { mode: 0o700 });
    chownSync(planted, 12345, 12345);
    expect(failure(() => lockStateDir({ create: true }, planted, 0)).message).toContain("is owned by uid 12345, not by you (uid 0)");
  });
});
