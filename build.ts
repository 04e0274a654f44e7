// bun run build: compiles the native pieces (ffi/native: the clone helper and the
// init) and the single executable dist/myuts for this machine.
// bun run release (or bun run build --release): every release target, named
// myuts-<version>-linux-<arch>[-musl], plus SHA256SUMS, in dist/.
import { $ } from "bun";
import { mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import pkg from "./package.json" with { type: "json" };

// Both pieces are freestanding (raw syscalls, no libc), so one build serves glibc and musl.
const COMMON = ["-O2", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-fno-builtin", "-Wall", "-Werror", "-s"];
const PIECES = [
  // the clone helper, loaded into the runtime with dlopen
  { src: "ffi/native/spawn.c", out: (arch: string) => `ffi/native/build/spawn-${arch}.so`, flags: ["-fPIC", "-shared"] },
  // the init, a static executable run from a sealed memfd
  {
    src: "ffi/native/init.c",
    out: (arch: string) => `ffi/native/build/init-${arch}.elf`,
    flags: ["-static", "-nostartfiles", "-fno-pie", "-no-pie", "-fno-asynchronous-unwind-tables", "-Wl,--build-id=none", "-Wl,-z,max-page-size=4096"],
  },
];
const NATIVE = [
  { arch: "x64", cc: ["x86_64-linux-gnu-gcc", "gcc"] },
  { arch: "arm64", cc: ["aarch64-linux-gnu-gcc"] },
] as const;

export const hostArch = (): "x64" | "arm64" => (process.arch === "arm64" ? "arm64" : "x64");

/**
 * Builds the native pieces for this machine's architecture, or for every one with
 * `all` (a release). The binary embeds both architectures' files, so a development
 * build leaves an empty stand-in for the other one (that binary can't start containers).
 */
export async function buildNative(opts: { all?: boolean } = {}): Promise<void> {
  mkdirSync("ffi/native/build", { recursive: true });
  for (const { arch, cc } of NATIVE) {
    const wanted = opts.all || arch === hostArch();
    const compiler = cc.find((c) => Bun.which(c));
    for (const piece of PIECES) {
      const out = piece.out(arch);
      if (!wanted) {
        if (!(await Bun.file(out).exists())) await Bun.write(out, "");
        continue;
      }
      if (!compiler) throw new Error(`no C compiler for ${arch} (install ${arch === "arm64" ? "gcc-aarch64-linux-gnu" : "gcc"})`);
      await $`${compiler} ${COMMON} ${piece.flags} -o ${out} ${piece.src}`;
    }
  }
}

export interface Target {
  bunTarget: string;
  name: string;
  libc: "glibc" | "musl";
}

/** What a release ships. `name` is both the asset suffix and what `--version` prints. */
export const RELEASE_TARGETS: readonly Target[] = [
  { bunTarget: "bun-linux-x64", name: "linux-x64", libc: "glibc" },
  { bunTarget: "bun-linux-arm64", name: "linux-arm64", libc: "glibc" },
  { bunTarget: "bun-linux-x64-musl", name: "linux-x64-musl", libc: "musl" },
  { bunTarget: "bun-linux-arm64-musl", name: "linux-arm64-musl", libc: "musl" },
];

export function assetName(version: string, t: Target): string {
  return `myuts-${version}-${t.name}`;
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
  // their .env, bunfig.toml, tsconfig.json or package.json. --bytecode works for every cross target (checked with
  // Bun 1.4.5: the bytecode is embedded and the arm64 build runs under qemu).
  // A container start is a few milliseconds of run-once code: tiering it up to the JIT
  // costs more CPU and memory (about 3.5 MB of peak RSS) than it saves.
  // The source maps are embedded, so --debug traces name src/ files and lines; the copies
  // Bun also writes next to the binary are not needed at run time.
  // ES modules split into chunks: a command loads the bytecode of the modules it imports,
  // not the whole program's (a start is mostly Bun loading code it runs once; see
  // docs/benchmarks.md). Bun writes the chunks' maps beside the output, so it builds in a
  // folder of its own (beside the output, so the move is a rename) and only the executable moves out.
  mkdirSync(dirname(outfile), { recursive: true });
  const tmp = mkdtempSync(join(dirname(outfile), ".build-"));
  try {
    const built = join(tmp, "myuts");
    const r =
      await $`bun build --compile --minify --bytecode --splitting --format=esm --sourcemap=linked --compile-jit-policy=1000 --target=${t.bunTarget} --no-compile-autoload-dotenv --no-compile-autoload-bunfig --no-compile-autoload-tsconfig --no-compile-autoload-package-json ${defs} --outfile ${built} src/main.ts`
        .quiet()
        .nothrow();
    if (r.exitCode !== 0) throw new Error(`bun build for ${t.name} failed:\n${r.stderr.toString()}${r.stdout.toString()}`);
    await disableBunSwitches(built, t.name);
    renameSync(built, outfile);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Bun's environment switches that run code other than myuts's, read by the Bun runtime
 * before any of myuts's code runs: extra options such as --preload (BUN_OPTIONS), the
 * whole bun CLI instead of myuts (BUN_BE_BUN), and a debugger that evaluates what it is
 * sent or a script it preloads (BUN_INSPECT*). A root-run runtime must not obey whoever
 * set its environment. (Tuning switches, such as the garbage collector's, run no code.)
 */
export const BUN_SWITCHES = ["BUN_OPTIONS", "BUN_BE_BUN", "BUN_INSPECT", "BUN_INSPECT_CONNECT_TO", "BUN_INSPECT_NOTIFY", "BUN_INSPECT_PRELOAD"] as const;

/**
 * Overwrites every copy of those names in the executable with NUL bytes. An environment
 * variable's name can't contain NUL, so no lookup of them can match any more, whether
 * Bun looks them up with getenv (an empty name finds nothing) or compares names itself.
 * A Bun without one of the names fails the build, to be checked again by hand.
 */
async function disableBunSwitches(file: string, target: string): Promise<void> {
  const bin = Buffer.from(await Bun.file(file).arrayBuffer());
  for (const name of BUN_SWITCHES) {
    const key = Buffer.from(name);
    let found = 0;
    for (let at = bin.indexOf(key); at !== -1; at = bin.indexOf(key, at + key.length)) {
      bin.fill(0, at, at + key.length);
      found++;
    }
    // BUN_INSPECT's copies are also the start of the longer names, already cleared with it.
    if (!found && !name.startsWith("BUN_INSPECT_")) throw new Error(`${target}: ${name} not found in Bun's runtime: check how this Bun reads its switches`);
  }
  await Bun.write(file, bin);
}

export async function commitId(): Promise<string> {
  const r = await $`git rev-parse --short=12 HEAD`.nothrow().quiet();
  if (r.exitCode !== 0) return "unknown";
  const dirty = (await $`git status --porcelain --untracked-files=no`.nothrow().quiet()).stdout.length > 0;
  return r.stdout.toString().trim() + (dirty ? "-dirty" : "");
}

export async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) h.update(chunk);
  return h.digest("hex");
}

/** Writes every release target and SHA256SUMS (sha256sum's format, so `sha256sum -c` reads it). */
export async function release(outDir = "dist", version = pkg.version): Promise<string[]> {
  await buildNative({ all: true });
  const commit = await commitId();
  mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  // One at a time: each compile mostly copies a ~100 MB runtime (about half a second
  // once Bun has cached it), so running them in parallel would gain little.
  for (const t of RELEASE_TARGETS) {
    const out = join(outDir, assetName(version, t));
    rmSync(out, { force: true });
    const started = performance.now();
    await compile(t, out, version, commit);
    console.log(`built ${out} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    files.push(out);
  }
  const lines: string[] = [];
  for (const f of files) lines.push(`${await sha256File(f)}  ${basename(f)}`);
  await Bun.write(join(outDir, "SHA256SUMS"), `${lines.join("\n")}\n`);
  console.log(`wrote ${join(outDir, "SHA256SUMS")} (${version}, ${commit})`);
  return files;
}

if (import.meta.main) {
  if (process.argv.includes("--release")) {
    await release();
  } else {
    await buildNative();
    const arch = hostArch();
    const commit = await commitId();
    await compile({ bunTarget: `bun-linux-${arch}`, name: `linux-${arch}`, libc: "glibc" }, "dist/myuts", pkg.version, commit);
    console.log(`built dist/myuts (${pkg.version}, ${commit})`);
  }
}
