// `bash .ci/setup && bun run test` must pass on a fresh machine: setup installs every
// package whose programs the tests call, .ci/check-tools names any that is missing,
// and both lists follow what the tests and the benchmark actually spawn.
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { cleanupTemps, hostArch, ROOT, run, tempDir } from "./util.ts";

afterAll(() => cleanupTemps());

const read = (f: string) => readFileSync(join(ROOT, f), "utf8");

/** APT_PACKAGES=( ... ) in .ci/setup, comments dropped. */
function setupPackages(): Set<string> {
  const block = /^APT_PACKAGES=\(\n([\s\S]*?)^\)/m.exec(read(".ci/setup"))![1]!;
  return new Set(block.split("\n").flatMap((l) => l.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean)));
}

/** TOOLS=( "program package why" ... ) in .ci/check-tools. */
function checkedTools(): Map<string, string> {
  const block = /^TOOLS=\(\n([\s\S]*?)^\)/m.exec(read(".ci/check-tools"))![1]!;
  return new Map(
    block.split("\n").flatMap((l) => {
      const m = /^\s*"(\S+)\s+(\S+)\s/.exec(l);
      return m ? [[m[1]!, m[2]!] as [string, string]] : [];
    }),
  );
}

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => /\.(ts|sh)$/.test(f))
    .map((f) => join(dir, f));
}

/** Programs the tests and the benchmark start by name: the first word of a spawned argv, or a which() lookup. */
function spawnedPrograms(): Set<string> {
  const found = new Set<string>();
  const patterns = [/\b(?:spawnSync|spawn|run|runAsync|sh)\(\s*\[\s*"([^"$]+)"/g, /\bwhich\("([^"]+)"\)/g, /GNU_TIME = "([^"]+)"/g, /^need ([a-z0-9_.-]+) /gm];
  for (const f of [...sources("test"), ...sources("bench")]) {
    if (f.endsWith("setup.test.ts")) continue; // this file's own patterns
    const text = read(f);
    for (const re of patterns) for (const m of text.matchAll(re)) found.add(m[1]!);
    // bench/start.ts: for (const tool of ["runc", "bwrap", …]) if (!Bun.which(tool)) …
    for (const m of text.matchAll(/for \(const tool of \[([^\]]+)\]\)/g)) for (const t of m[1]!.matchAll(/"([^"]+)"/g)) found.add(t[1]!);
  }
  // The tests' own subcommands, the shells every script runs under, and a fallback name.
  for (const own of ["run", "spec", "stats", "events", "update", "version", "init", "sh", "/bin/sh", "bash", "qemu-aarch64-static"]) found.delete(own);
  return found;
}

describe(".ci/setup and .ci/check-tools", () => {
  test("setup installs the package of every program check-tools checks (npm ones aside)", () => {
    const pkgs = setupPackages();
    const missing = [...checkedTools()].filter(([, p]) => !p.startsWith("npm:") && !pkgs.has(p));
    expect(missing).toEqual([]);
    expect(pkgs).toContain("uidmap");
    expect(pkgs).toContain("time");
  });

  test("check-tools covers every program the tests and the benchmark spawn", () => {
    const checked = checkedTools();
    const unchecked = [...spawnedPrograms()].filter((p) => !checked.has(p) && !checked.has(p.replace(/^\/usr\/s?bin\/|^\/s?bin\//, "")));
    expect(unchecked).toEqual([]);
  });

  test("check-tools names what is missing, with its package, and fails", () => {
    // A PATH holding only bash and the few commands the script itself uses.
    const bin = tempDir("check-tools");
    for (const t of ["bash", "id"]) symlinkSync(Bun.which(t)!, join(bin, t));
    const r = run(["bash", ".ci/check-tools"], { env: { PATH: bin } });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("check-tools: missing newuidmap (package uidmap), needed by rootless tests");
    expect(r.stdout).toContain("check-tools: missing setpriv (package util-linux)");
    expect(r.stdout).not.toContain("missing id ");
    expect(r.stdout.trim().split("\n").at(-1)).toMatch(/^check-tools: \d+ missing; install them with: bash \.ci\/setup$/);
  });

  test("both scripts are executable bash", () => {
    for (const f of [".ci/setup", ".ci/check-tools", ".ci/run"]) expect(read(f)).toStartWith("#!/usr/bin/env bash\n");
    expect(statSync(join(ROOT, ".ci/check-tools")).mode & 0o111).not.toBe(0);
    expect(read(".ci/run")).toContain("bash .ci/check-tools");
  });
});

describe("the Bun version", () => {
  test("README, .ci/setup, the workflows and the Vagrant provisioning pin the same one", () => {
    const pinned = /^BUN_VERSION=(\S+)$/m.exec(read(".ci/setup"))?.[1];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(read("README.md").includes(`npm install -g bun@${pinned}`)).toBe(true);
    expect(read("vagrant/provision.sh")).toContain(`BUN_VERSION=${pinned}`);
    expect(read(".github/workflows/ci.yml")).toContain(`BUN_VERSION: "${pinned}"`);
    expect(JSON.parse(read("package.json")).devDependencies["@types/bun"]).toBe(pinned);
  });

  test("the README's first command runs from a fresh clone's root", () => {
    const readme = read("README.md");
    const first = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    expect(first).toMatch(/^git clone \S+ && cd myuts$/m);
  });
});

describe("a plain build", () => {
  test("builds this machine's architecture only, and says nothing about the other", () => {
    const other = hostArch === "x64" ? "arm64" : "x64";
    const pieces = [`ffi/native/build/init-${other}.elf`, `ffi/native/build/spawn-${other}.so`].map((f) => join(ROOT, f));
    const before = pieces.map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs);
    const r = run(["bun", "run", "build.ts"], { timeoutMs: 180_000 });
    expect(r.code).toBe(0);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/arm64|aarch64|warning/i);
    // The other architecture's pieces are left as they were (a release builds them).
    expect(pieces.map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs)).toEqual(before);
  });
});
