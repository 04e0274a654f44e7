// The benchmark's private world: a busybox root filesystem, a runc bundle around the
// same tree, state directories for runc and crun, and a frozen copy of the myuts
// binary. Everything lives under one temporary directory that cleanup() removes.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";

/** crun's own state root, which it creates even for --version. */
const CRUN_RUN_DIR = "/run/crun";

export const BUSYBOX = "/bin/busybox";
export const SLEEP_PAYLOAD = ["/bin/sleep", "0.4"];

export interface Fixture {
  dir: string;
  rootfs: string;
  bundle: string;
  /** The same bundle with a payload that lives long enough to read /proc/<runc>/status. */
  bundleSleep: string;
  /** runc's --root: its container state stays inside the fixture. */
  runcState: string;
  crunState: string;
  /** Whether /run/crun was there before: crun makes it even for --version, and it goes again if it was not. */
  crunRunDirExisted: boolean;
  myuts: string;
  /** A compiled Bun program that runs no code of its own (Bun's own start and exit), or undefined when it can't be built. */
  bunFloor?: string;
}

function run(argv: string[], cwd?: string): string {
  const r = Bun.spawnSync(argv, { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: exit ${r.exitCode}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

/** Whether an ELF64 executable names a dynamic loader (a PT_INTERP program header). */
function hasInterpreter(path: string): boolean {
  const elf = readFileSync(path);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) throw new Error(`${path}: not an ELF64 executable`);
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (elf.readUInt32LE(phoff + i * phentsize) === 3) return true;
  return false;
}

/** Debian's busybox-static, with every applet linked where busybox --list-full puts it. */
function buildRootfs(rootfs: string): void {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing (apt-get install busybox-static)`);
  // A dynamic busybox would need the host's libc inside the root filesystem.
  if (hasInterpreter(BUSYBOX)) throw new Error(`${BUSYBOX} is dynamically linked (install busybox-static)`);
  for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "etc", "root"])
    mkdirSync(join(rootfs, d), { recursive: true, mode: 0o755 });
  chmodSync(join(rootfs, "tmp"), 0o1777);
  copyFileSync(BUSYBOX, join(rootfs, "bin/busybox"));
  chmodSync(join(rootfs, "bin/busybox"), 0o755);
  for (const rel of run([BUSYBOX, "--list-full"]).split("\n")) {
    if (!rel || rel.endsWith("/busybox")) continue;
    const link = join(rootfs, rel);
    if (existsSync(link)) continue;
    mkdirSync(dirname(link), { recursive: true });
    // Relative links resolve the same on the host and after pivot_root.
    symlinkSync(relative(dirname(link), join(rootfs, "bin/busybox")), link);
  }
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\n");
}

interface RuncConfig {
  process: { terminal?: boolean; args: string[] };
  root: { path: string; readonly?: boolean };
}

/** `runc spec`'s defaults, changed only where a non-interactive /bin/true needs it. */
function buildBundle(bundle: string, rootfs: string, args: string[]): void {
  mkdirSync(bundle, { recursive: true });
  run(["runc", "spec", "--bundle", bundle]);
  const path = join(bundle, "config.json");
  const config = JSON.parse(readFileSync(path, "utf8")) as RuncConfig;
  config.process.terminal = false;
  config.process.args = args;
  config.root.path = rootfs;
  writeFileSync(path, JSON.stringify(config, null, 2));
}

export function createFixture(myutsBinary: string): Fixture {
  const dir = mkdtempSync(join(tmpdir(), "myuts-bench-"));
  // The rootless rows run as nobody, which must reach the rootfs and the binary.
  chmodSync(dir, 0o755);
  const f: Fixture = {
    dir,
    rootfs: join(dir, "rootfs"),
    bundle: join(dir, "bundle"),
    bundleSleep: join(dir, "bundle-sleep"),
    runcState: join(dir, "runc-state"),
    crunState: join(dir, "crun-state"),
    myuts: join(dir, "myuts"),
    crunRunDirExisted: existsSync(CRUN_RUN_DIR),
  };
  try {
    buildRootfs(f.rootfs);
    if (Bun.which("runc")) {
      buildBundle(f.bundle, f.rootfs, ["/bin/true"]);
      buildBundle(f.bundleSleep, f.rootfs, SLEEP_PAYLOAD);
    }
    mkdirSync(f.runcState, { mode: 0o700 });
    mkdirSync(f.crunState, { mode: 0o700 });
    // A frozen copy: a rebuild of dist/myuts during the run must not change what is measured.
    copyFileSync(myutsBinary, f.myuts);
    chmodSync(f.myuts, 0o755);
    f.bunFloor = buildBunFloor(dir);
  } catch (e) {
    cleanupFixture(f);
    throw e;
  }
  return f;
}

/**
 * The least a runtime that is one Bun process can cost: a program compiled as myuts is
 * (bun build --compile --minify --bytecode) that runs no code. Built with the Bun that
 * runs the benchmark, which is the one that builds myuts.
 */
function buildBunFloor(dir: string): string | undefined {
  const src = join(dir, "floor.ts");
  const out = join(dir, "bun-floor");
  writeFileSync(src, "export {};\n");
  const r = Bun.spawnSync([process.execPath, "build", "--compile", "--minify", "--bytecode", "--outfile", out, src], {
    cwd: dir,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  return r.exitCode === 0 ? out : undefined;
}

/**
 * Drops a file's pages from the page cache, as if it had not been read since a boot.
 * A just-written binary's pages come from the write, and the kernel maps more of them per
 * page fault than it does for pages read from disk: the same process then shows several
 * MiB more resident (docs/benchmarks.md, "Peak memory").
 */
export function dropCachedPages(file: string): boolean {
  const sync = Bun.spawnSync(["sync", file], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  const dd = Bun.spawnSync(["dd", `if=${file}`, "iflag=nocache", "count=0", "status=none"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  return sync.exitCode === 0 && dd.exitCode === 0;
}

/** Force-deletes whatever a runtime left in its state directory (a failed or interrupted run). */
export function deleteLeftovers(runtime: "runc" | "crun", state: string): string[] {
  if (!existsSync(state) || !Bun.which(runtime)) return [];
  const ids = readdirSync(state);
  for (const id of ids) Bun.spawnSync([runtime, "--root", state, "delete", "-f", id], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  return ids;
}

/** Mount points at or below dir in this mount namespace (none are expected). */
function mountsUnder(dir: string): string[] {
  const decode = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => decode(l.split(" ")[4] ?? ""))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

export function cleanupFixture(f: Fixture): void {
  deleteLeftovers("runc", f.runcState);
  deleteLeftovers("crun", f.crunState);
  const mounts = mountsUnder(f.dir);
  // Never recurse through a mount: it could reach the host's files.
  if (mounts.length) throw new Error(`not removing ${f.dir}: still mounted: ${mounts.join(", ")}`);
  rmSync(f.dir, { recursive: true, force: true });
  if (!f.crunRunDirExisted) {
    try {
      rmdirSync(CRUN_RUN_DIR);
    } catch {
      // not there, or not empty (then it is not only ours)
    }
  }
}
