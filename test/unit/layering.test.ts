// Imports run one way: cli → spec → lifecycle → (setup | cgroups | network | image)
// → util → ffi. A module may import its own folder and the layers after it; the
// four engine folders are peers that don't import each other. The one exception is
// the OCI model itself (src/spec/types.ts: its types and two constants), which is the
// data every stage passes on.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const RANK: Record<string, number> = { cli: 0, spec: 1, lifecycle: 2, setup: 3, cgroups: 3, network: 3, image: 3, util: 4, ffi: 5 };
const MODEL = "src/spec/types.ts";

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return p.includes("native") ? [] : files(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

/** The layer a repository path belongs to: its folder under src/, or ffi; the entry points rank with cli. */
function layer(path: string): string {
  if (path.startsWith("ffi/")) return "ffi";
  const m = /^src\/([^/]+)\//.exec(path);
  return m ? m[1]! : "cli";
}

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const out: Import[] = [];
  const re = /(import|export)\s+(type\s+)?([^;]*?)\s+from\s+"(\.[^"]+)"|import\("(\.[^"]+)"\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[4] ?? m[5]!;
    const names = m[3] ?? "";
    // `import { type A, type B }` is type-only too.
    const typeOnly =
      m[2] !== undefined ||
      (/^\{[^}]*\}$/.test(names.trim()) &&
        names
          .replace(/[{}\s]/g, "")
          .split(",")
          .every((n) => n.startsWith("type")));
    out.push({ from: file, to: relative(ROOT, resolve(ROOT, dirname(file), spec)), typeOnly });
  }
  return out;
}

export function violations(all: Import[]): string[] {
  const bad: string[] = [];
  for (const i of all) {
    if (!i.to.startsWith("src/") && !i.to.startsWith("ffi/")) continue;
    if (i.to === MODEL) continue;
    const a = layer(i.from);
    const b = layer(i.to);
    if (a === b) continue;
    const ra = RANK[a] ?? 0;
    const rb = RANK[b] ?? 0;
    if (rb < ra || (rb === ra && a !== b)) bad.push(`${i.from} (${a}) imports ${i.to} (${b})`);
  }
  return bad;
}

describe("layering", () => {
  test("no import runs back up the chain", () => {
    const all = [...files("src"), ...files("ffi")].flatMap(importsOf);
    expect(all.length).toBeGreaterThan(50);
    expect(violations(all)).toEqual([]);
  });

  test("the check itself catches an import that runs back up, and lets the model's types through", () => {
    expect(violations([{ from: "src/cgroups/hooks.ts", to: "src/lifecycle/state.ts", typeOnly: false }])).toHaveLength(1);
    expect(violations([{ from: "src/spec/from-run.ts", to: "src/cli/run-flags.ts", typeOnly: true }])).toHaveLength(1);
    expect(violations([{ from: "src/setup/mounts.ts", to: "src/cgroups/policy.ts", typeOnly: false }])).toHaveLength(1);
    expect(violations([{ from: "src/setup/mounts.ts", to: "src/spec/types.ts", typeOnly: true }])).toEqual([]);
    expect(violations([{ from: "src/setup/mounts.ts", to: "src/spec/validate.ts", typeOnly: true }])).toHaveLength(1);
    expect(violations([{ from: "src/cli/run.ts", to: "ffi/libc.ts", typeOnly: false }])).toEqual([]);
  });

  // The bundler hoists a static import of a Node builtin to the top of the binary's one
  // bundle, so every myuts process would load it before its first line runs (node:stream and
  // node:zlib cost a container start about a millisecond): they load on first use (util/node.ts).
  test("no module imports a Node builtin's values statically", () => {
    const offenders = [...files("src"), ...files("ffi")].filter((f) => /^import\s+(?!type\b)[^;]*?\s+from\s+"node:/m.test(readFileSync(join(ROOT, f), "utf8")));
    expect(offenders).toEqual([]);
  });
});
