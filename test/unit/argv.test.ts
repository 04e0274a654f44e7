import { describe, expect, test } from "bun:test";
import { constants } from "node:os";
import { cittyArgs, parseArgv, type FlagDef } from "../../src/cli/argv.ts";
import { parseSignal } from "../../src/cli/oci.ts";
import { failure } from "../helpers/user-error.ts";

const DEFS: readonly FlagDef[] = [
  { long: "uts", short: "u", description: "uts" },
  { long: "pid", short: "p", description: "pid" },
  { long: "mount", short: "m", description: "mount" },
  { long: "hostname", value: true, hint: "NAME", description: "hostname" },
  { long: "volume", short: "v", value: true, repeat: true, hint: "HOST:CONTAINER", description: "volume" },
  { long: "workdir", short: "w", value: true, description: "workdir" },
];

const parse = (...argv: string[]) => parseArgv(argv, DEFS, "run");

describe("parseArgv", () => {
  test("long boolean flags", () => {
    const p = parse("--uts", "--pid");
    expect([...p.bools].sort()).toEqual(["pid", "uts"]);
    expect(p.operands).toEqual([]);
  });

  test("bundled short flags, as unshare -upm", () => {
    const p = parse("-upm", "sh");
    expect([...p.bools].sort()).toEqual(["mount", "pid", "uts"]);
    expect(p.operands).toEqual(["sh"]);
  });

  test("values as --flag V, --flag=V, -fV, -f V and after bundled booleans", () => {
    expect(parse("--hostname", "box").flags.get("hostname")).toEqual(["box"]);
    expect(parse("--hostname=box").flags.get("hostname")).toEqual(["box"]);
    expect(parse("-v/a:/b").flags.get("volume")).toEqual(["/a:/b"]);
    expect(parse("-v", "/a:/b").flags.get("volume")).toEqual(["/a:/b"]);
    const p = parse("-uw/x");
    expect(p.bools.has("uts")).toBe(true);
    expect(p.flags.get("workdir")).toEqual(["/x"]);
  });

  test("a value may contain '=' and may look like a flag", () => {
    expect(parse("--hostname=a=b").flags.get("hostname")).toEqual(["a=b"]);
    expect(parse("--hostname", "--pid").flags.get("hostname")).toEqual(["--pid"]);
    expect(parse("--hostname=").flags.get("hostname")).toEqual([""]);
  });

  test("repeatable flags accumulate, others keep the last value", () => {
    expect(parse("-v", "/a:/a", "--volume=/b:/b", "-v/c:/c").flags.get("volume")).toEqual(["/a:/a", "/b:/b", "/c:/c"]);
    expect(parse("--hostname", "one", "--hostname", "two").flags.get("hostname")).toEqual(["two"]);
  });

  test("options end at the first operand; the payload's argv passes through untouched", () => {
    const p = parse("--uts", "ls", "-la", "--pid", "--", "x");
    expect(p.bools.has("pid")).toBe(false);
    expect(p.operands).toEqual(["ls", "-la", "--pid", "--", "x"]);
  });

  test("-- ends the options and is dropped", () => {
    const p = parse("--uts", "--", "--pid", "-u");
    expect([...p.bools]).toEqual(["uts"]);
    expect(p.operands).toEqual(["--pid", "-u"]);
  });

  test("a lone '-' is an operand", () => {
    expect(parse("-", "x").operands).toEqual(["-", "x"]);
  });

  test("empty argv", () => {
    const p = parse();
    expect(p.bools.size).toBe(0);
    expect(p.flags.size).toBe(0);
    expect(p.operands).toEqual([]);
  });

  test("unknown long and short options are user errors (exit 125) naming the option", () => {
    const long = failure(() => parse("--nope"));
    expect(long.exitCode).toBe(125);
    expect(long.message).toContain("--nope");
    const withValue = failure(() => parse("--nope=1"));
    expect(withValue.message).toContain("--nope");
    expect(withValue.message).not.toContain("=1");
    const short = failure(() => parse("-uX"));
    expect(short.exitCode).toBe(125);
    expect(short.message).toContain("-X");
  });

  test("a boolean given a value is an error", () => {
    expect(failure(() => parse("--uts=yes")).message).toContain("--uts");
  });

  test("a missing value is an error naming the flag and its hint", () => {
    const e = failure(() => parse("--hostname"));
    expect(e.message).toContain("--hostname");
    expect(e.message).toContain("NAME");
    expect(failure(() => parse("-v")).message).toContain("-v");
  });

  test("messages are one line", () => {
    for (const argv of [["--nope"], ["-Z"], ["--uts=1"], ["--hostname"]]) {
      expect(failure(() => parseArgv(argv, DEFS, "run")).message).not.toContain("\n");
    }
  });
});

describe("cittyArgs", () => {
  test("renders the same table for --help", () => {
    const args = cittyArgs(DEFS);
    expect(Object.keys(args)).toEqual(DEFS.map((d) => d.long));
    expect(args.uts).toMatchObject({ type: "boolean", alias: "u" });
    expect(args.hostname).toMatchObject({ type: "string", valueHint: "NAME" });
    expect(args.volume?.description).toContain("repeatable");
  });
});

describe("kill's signal argument", () => {
  test("every name node:os knows, with or without SIG and in any case, and numbers 1 to 64", () => {
    const table: Record<string, number> = constants.signals;
    for (const [name, n] of Object.entries(table)) {
      expect([parseSignal(name), parseSignal(name.slice(3)), parseSignal(name.toLowerCase())]).toEqual([n, n, n]);
    }
    expect([parseSignal("9"), parseSignal("64")]).toEqual([9, 64]);
    for (const bad of ["0", "65", "SIGFOO", "constructor", "__proto__", ""]) expect(() => parseSignal(bad)).toThrow("not a signal name or number");
  });
});
