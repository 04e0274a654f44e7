// The release build, from a clean clone: four binaries and SHA256SUMS, each binary
// for the machine and C library it is named after, and each one working as far as
// this machine can run it (x64 natively, arm64 under qemu-user, musl up to libstdc++).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { cleanupTemps, isRoot, ROOT, run, tempDir, which } from "./util.ts";

const V = pkg.version;
const NAMES = ["linux-x64", "linux-arm64", "linux-x64-musl", "linux-arm64-musl"] as const;
type Name = (typeof NAMES)[number];

let clone = "";
let dist = "";
let commit = "";
let setupError = "";

beforeAll(() => {
  clone = tempDir("clone");
  // A clone carries exactly what is committed: no dist/, no ffi/native/build, no node_modules.
  const steps: [string, string[]][] = [
    ["git clone", ["git", "clone", "--quiet", "--no-hardlinks", ROOT, clone]],
    ["bun install", ["bun", "install", "--frozen-lockfile"]],
    ["bun run release", ["bun", "run", "release"]],
  ];
  for (const [label, cmd] of steps) {
    const started = performance.now();
    const r = run(cmd, { cwd: label === "git clone" ? ROOT : clone, timeoutMs: 300_000 });
    console.log(`${label}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (r.code !== 0) {
      setupError = `${label} failed (${r.code}):\n${r.stdout}${r.stderr}`;
      return;
    }
  }
  dist = join(clone, "dist");
  commit = run(["git", "rev-parse", "--short=12", "HEAD"], { cwd: clone }).stdout.trim();
}, 600_000);

afterAll(() => cleanupTemps());

function bin(name: Name): string {
  return join(dist, `myuts-${V}-${name}`);
}

/** e_machine and the program interpreter (PT_INTERP) of an ELF file. */
function elfInfo(path: string): { machine: number; interp: string } {
  const head = Buffer.alloc(1 << 16);
  const fd = openSync(path, "r");
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (head.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path} is not ELF`);
  const machine = head.readUInt16LE(18);
  const phoff = Number(head.readBigUInt64LE(32));
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (head.readUInt32LE(ph) === 3) {
      const off = Number(head.readBigUInt64LE(ph + 8));
      const size = Number(head.readBigUInt64LE(ph + 32));
      return { machine, interp: head.toString("utf8", off, off + size).replace(/\0+$/, "") };
    }
  }
  return { machine, interp: "" };
}

describe("release build from a clean clone", () => {
  test("produces the four binaries and SHA256SUMS, and the sums verify", () => {
    expect(setupError).toBe("");
    const files = readdirSync(dist)
      .filter((f) => f !== "myuts")
      .sort();
    expect(files).toEqual(["SHA256SUMS", ...NAMES.map((n) => `myuts-${V}-${n}`)].sort());
    const sums = readFileSync(join(dist, "SHA256SUMS"), "utf8").trim().split("\n");
    expect(sums.map((l) => l.split(/\s+/)[1]).sort()).toEqual(NAMES.map((n) => `myuts-${V}-${n}`).sort());
    const check = run(["sha256sum", "-c", "SHA256SUMS"], { cwd: dist });
    expect(check.stdout.trim().split("\n").sort()).toEqual(NAMES.map((n) => `myuts-${V}-${n}: OK`).sort());
    expect(check.code).toBe(0);
  });

  test("each binary is built for its machine and C library", () => {
    expect(setupError).toBe("");
    const EM_X86_64 = 62,
      EM_AARCH64 = 183;
    const want: Record<Name, { machine: number; interp: string }> = {
      "linux-x64": { machine: EM_X86_64, interp: "/lib64/ld-linux-x86-64.so.2" },
      "linux-arm64": { machine: EM_AARCH64, interp: "/lib/ld-linux-aarch64.so.1" },
      "linux-x64-musl": { machine: EM_X86_64, interp: "/lib/ld-musl-x86_64.so.1" },
      "linux-arm64-musl": { machine: EM_AARCH64, interp: "/lib/ld-musl-aarch64.so.1" },
    };
    for (const n of NAMES) expect({ n, ...elfInfo(bin(n)) }).toEqual({ n, ...want[n] });
  });

  test("each binary carries its own version line (version, commit, target)", () => {
    expect(setupError).toBe("");
    // The musl and arm64 builds can't all run here, so look for the defines the
    // minifier folded into the embedded source; the runnable ones are run below.
    for (const n of NAMES) {
      const text = readFileSync(bin(n)).toString("latin1");
      expect({ n, found: text.includes(`myuts ${V} (commit ${commit}, ${n})`) }).toEqual({ n, found: true });
    }
    const r = run([bin("linux-x64"), "--version"], { cwd: tempDir("cwd") });
    expect(r.stdout.trim()).toBe(`myuts ${V} (commit ${commit}, linux-x64)`);
  });

  test.skipIf(!isRoot)("the x64 binary runs a container from a temp dir with no checkout beside it", () => {
    expect(setupError).toBe("");
    const alone = tempDir("alone");
    chmodSync(alone, 0o755);
    const copy = join(alone, "myuts");
    copyFileSync(bin("linux-x64"), copy);
    chmodSync(copy, 0o755);
    const r = run([copy, "run", "--uts", "--hostname", "x", "--", "hostname"], { cwd: alone, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("x\n");
    expect(r.code).toBe(0);
  });

  test("the arm64 binary answers --version, spec and the state directory's checks under qemu-user", () => {
    expect(setupError).toBe("");
    const qemu = which("qemu-aarch64") ?? which("qemu-aarch64-static");
    const sysroot = "/usr/aarch64-linux-gnu";
    if (!qemu || !existsSync(join(sysroot, "lib", "ld-linux-aarch64.so.1"))) {
      console.warn("skip: needs qemu-user (qemu-aarch64) and the arm64 glibc in /usr/aarch64-linux-gnu (libc6-arm64-cross)");
      return;
    }
    const env = { PATH: process.env.PATH, QEMU_LD_PREFIX: sysroot };
    const v = run([qemu, bin("linux-arm64"), "--version"], { env, cwd: tempDir("cwd") });
    expect(v.stdout.trim()).toBe(`myuts ${V} (commit ${commit}, linux-arm64)`);
    const s = run([qemu, bin("linux-arm64"), "spec", "--hostname", "arm", "--", "/bin/true"], { env, cwd: tempDir("cwd") });
    expect(s.code).toBe(0);
    const spec = JSON.parse(s.stdout) as { hostname?: string; process?: { args?: string[] } };
    expect(spec.hostname).toBe("arm");
    expect(spec.process?.args).toEqual(["/bin/true"]);
    // The state directory's checks read struct stat, whose layout differs from x64's: a
    // private directory passes them (the container is then missing), an open one doesn't.
    const root = tempDir("arm-state");
    chmodSync(root, 0o700);
    const st = run([qemu, bin("linux-arm64"), "--root", root, "start", "none"], { env, cwd: tempDir("cwd") });
    expect(st.stderr.trim()).toBe("myuts: container none: does not exist");
    chmodSync(root, 0o755);
    const open = run([qemu, bin("linux-arm64"), "--root", root, "start", "none"], { env, cwd: tempDir("cwd") });
    expect(open.stderr).toContain("has mode 0755, open to other users");
  });

  test("the x64 musl binary resolves every libc symbol from musl and needs only libstdc++ besides", () => {
    expect(setupError).toBe("");
    const loader = "/lib/ld-musl-x86_64.so.1";
    if (!existsSync(loader)) {
      console.warn("skip: needs the musl loader (apt-get install musl)");
      return;
    }
    // musl's loader run as ldd: lists what resolves and every symbol that doesn't.
    const r = run([loader, "--list", bin("linux-x64-musl")]);
    const out = r.stdout + r.stderr;
    expect(out).toContain("libc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1");
    const missingLibs = [...out.matchAll(/Error loading shared library ([^:]+):/g)].map((m) => m[1]);
    const missingSyms = [...out.matchAll(/Error relocating [^:]+: ([^:]+): symbol not found/g)].map((m) => m[1]!);
    if (missingLibs.length === 0) {
      // A musl libstdc++ is installed (Alpine): the binary must then really run.
      expect(r.code).toBe(0);
      const v = run([bin("linux-x64-musl"), "--version"], { cwd: tempDir("cwd") });
      expect(v.stdout.trim()).toBe(`myuts ${V} (commit ${commit}, linux-x64-musl)`);
      return;
    }
    expect(missingLibs).toEqual(["libstdc++.so.6"]);
    // Every unresolved symbol is a C++ runtime one (mangled, or the C++ ABI's own):
    // musl itself provides all the rest.
    const notCxx = missingSyms.filter((s) => !/^(_Z|__cxa_|__dynamic_cast$|__once_proxy$|__gxx_)/.test(s));
    expect(notCxx).toEqual([]);
    console.warn(
      "note: libstdc++.so.6 for musl is not available from Debian; the musl binaries run on Alpine with `apk add libstdc++` (checked in GitHub Actions)",
    );
  });

  test.skipIf(!isRoot)("the x64 musl binary runs a container in a musl-only root (chroot)", () => {
    expect(setupError).toBe("");
    const lib = (f: string) => run(["gcc", `-print-file-name=${f}`]).stdout.trim();
    const loaderSrc = "/lib/ld-musl-x86_64.so.1";
    const parts = ["libstdc++.a", "crtbeginS.o", "crtendS.o", "libgcc_eh.a", "libgcc.a"].map(lib);
    if (process.arch !== "x64" || !which("musl-gcc") || !existsSync(loaderSrc) || parts.some((p) => !p.startsWith("/")) || !existsSync("/bin/busybox")) {
      console.warn("skip: needs x86_64, musl-gcc (musl-tools), g++'s libstdc++.a and busybox-static");
      return;
    }
    // No distribution ships a libstdc++ for musl here, so link one from gcc's static
    // libstdc++ against musl: the root then holds musl and nothing from glibc.
    const root = tempDir("muslroot");
    const build = tempDir("muslshim");
    for (const d of ["lib", "bin", "proc", "dev", "tmp"]) mkdirSync(join(root, d));
    const [cxx, crtb, crte, eh, gcc] = parts as [string, string, string, string, string];
    const cc = run(["musl-gcc", "-c", "-fPIC", "-O2", "-o", join(build, "shim.o"), join(ROOT, "test/delivery/musl-cxx-shim.c")]);
    expect(cc.stderr).toBe("");
    const ld = run([
      "gcc",
      "-shared",
      "-nostdlib",
      "-Wl,-soname,libstdc++.so.6",
      "-o",
      join(root, "lib/libstdc++.so.6"),
      crtb,
      "-Wl,--whole-archive",
      cxx,
      "-Wl,--no-whole-archive",
      join(build, "shim.o"),
      eh,
      gcc,
      "-L/usr/lib/x86_64-linux-musl",
      "-lc",
      crte,
    ]);
    expect(ld.stderr).toBe("");
    copyFileSync(loaderSrc, join(root, "lib/ld-musl-x86_64.so.1"));
    symlinkSync("ld-musl-x86_64.so.1", join(root, "lib/libc.musl-x86_64.so.1"));
    symlinkSync("ld-musl-x86_64.so.1", join(root, "lib/libc.so"));
    copyFileSync("/bin/busybox", join(root, "bin/busybox"));
    symlinkSync("busybox", join(root, "bin/hostname"));
    copyFileSync(bin("linux-x64-musl"), join(root, "myuts"));
    chmodSync(join(root, "myuts"), 0o755);
    expect(run(["mount", "-t", "proc", "proc", join(root, "proc")]).code).toBe(0);
    try {
      const env = { PATH: "/bin" };
      const chroot = which("chroot") ?? "/usr/sbin/chroot";
      const v = run([chroot, root, "/myuts", "--version"], { env });
      expect(v.stderr).toBe("");
      expect(v.stdout.trim()).toBe(`myuts ${V} (commit ${commit}, linux-x64-musl)`);
      const c = run([chroot, root, "/myuts", "run", "--uts", "--hostname", "muslbox", "--", "/bin/hostname"], { env });
      expect(c.stderr).toBe("");
      expect(c.stdout).toBe("muslbox\n");
      expect(c.code).toBe(0);
    } finally {
      run(["umount", "-l", join(root, "proc")]);
    }
  });
});
