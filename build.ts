// bun run build: compiles the native spawn helper for each architecture and the
// single executable dist/myuts.
import { $ } from "bun";
import { mkdirSync } from "node:fs";
import pkg from "./package.json" with { type: "json" };

const CFLAGS = ["-O2", "-fPIC", "-shared", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-fno-builtin", "-Wall", "-Werror", "-s"];
const NATIVE = [
  { arch: "x64", cc: ["x86_64-linux-gnu-gcc", "gcc"] },
  { arch: "arm64", cc: ["aarch64-linux-gnu-gcc"] },
] as const;

async function buildNative(): Promise<void> {
  mkdirSync("ffi/native/build", { recursive: true });
  for (const { arch, cc } of NATIVE) {
    const out = `ffi/native/build/spawn-${arch}.so`;
    const compiler = cc.find((c) => Bun.which(c));
    const hostArch = process.arch === "arm64" ? "arm64" : "x64";
    if (!compiler) {
      if (arch === hostArch) throw new Error(`no C compiler for ${arch} (install gcc)`);
      if (!(await Bun.file(out).exists())) await Bun.write(out, ""); // placeholder: that target can't spawn
      console.warn(`build: no ${cc[0]}; the ${arch} binary will lack the spawn helper`);
      continue;
    }
    await $`${compiler} ${CFLAGS} -o ${out} ffi/native/spawn.c`;
  }
}

export interface Target {
  bunTarget: string;
  name: string;
  libc: "glibc" | "musl";
}

export async function compile(t: Target, outfile: string, version: string, commit: string): Promise<void> {
  const define = {
    MYUTS_VERSION: JSON.stringify(version),
    MYUTS_COMMIT: JSON.stringify(commit),
    MYUTS_TARGET: JSON.stringify(t.name),
    MYUTS_LIBC: JSON.stringify(t.libc),
  };
  const defs = Object.entries(define).flatMap(([k, v]) => ["--define", `${k}=${v}`]);
  // A root-run binary started from directories it doesn't control must not pick up
  // their .env or bunfig.toml.
  await $`bun build --compile --minify --bytecode --target=${t.bunTarget} --no-compile-autoload-dotenv --no-compile-autoload-bunfig ${defs} --outfile ${outfile} src/main.ts`.quiet();
}

async function commitId(): Promise<string> {
  const r = await $`git rev-parse --short=12 HEAD`.nothrow().quiet();
  if (r.exitCode !== 0) return "unknown";
  const dirty = (await $`git status --porcelain --untracked-files=no`.nothrow().quiet()).stdout.length > 0;
  return r.stdout.toString().trim() + (dirty ? "-dirty" : "");
}

if (import.meta.main) {
  await buildNative();
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  const commit = await commitId();
  await compile({ bunTarget: `bun-linux-${arch}`, name: `linux-${arch}`, libc: "glibc" }, "dist/myuts", pkg.version, commit);
  console.log(`built dist/myuts (${pkg.version}, ${commit})`);
}
