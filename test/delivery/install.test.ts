// install.sh, for real: /bin/sh runs it against a release server on 127.0.0.1 laid
// out as GitHub's (latest/download/<asset>, download/v<version>/<asset>).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, normalize } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { cleanupTemps, hostArch, isRoot, ROOT, run, runAsync, tempDir, which } from "./util.ts";

const SUFFIXES = ["linux-x64", "linux-arm64", "linux-x64-musl", "linux-arm64-musl"] as const;
const REAL_BINARY = join(ROOT, "dist", "myuts");

let site = "";
let work = "";
let server: ReturnType<typeof Bun.serve> | undefined;
let base = "";
let script = "";

function fakeBinary(version: string, suffix: string): string {
  return `#!/bin/sh\necho "myuts ${version} (fake, ${suffix})"\n`;
}

async function sha256(data: string | Uint8Array): Promise<string> {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

/** One release directory: every asset and its SHA256SUMS; `corrupt` and `missing` spoil one asset. */
async function publish(dir: string, version: string, opts: { corrupt?: string; missing?: string } = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const lines: string[] = [];
  for (const s of SUFFIXES) {
    const name = `myuts-${version}-${s}`;
    const body = fakeBinary(version, s);
    lines.push(`${await sha256(body)}  ${name}`);
    if (opts.missing === s) continue;
    writeFileSync(join(dir, name), opts.corrupt === s ? body.replace("fake", "evil") : body, { mode: 0o755 });
  }
  writeFileSync(join(dir, "SHA256SUMS"), `${lines.join("\n")}\n`);
}

const hostSuffix = `linux-${hostArch}`;

beforeAll(async () => {
  site = tempDir("release-site");
  work = tempDir("install");
  chmodSync(work, 0o755);
  await publish(join(site, "latest", "download"), "9.9.9");
  await publish(join(site, "download", "v9.9.8"), "9.9.8");
  await publish(join(site, "download", "v6.6.6"), "6.6.6", { corrupt: hostSuffix });
  await publish(join(site, "download", "v4.0.4"), "4.0.4", { missing: hostSuffix });
  if (existsSync(REAL_BINARY)) {
    const dir = join(site, "download", `v${pkg.version}`);
    mkdirSync(dir, { recursive: true });
    const name = `myuts-${pkg.version}-${hostSuffix}`;
    copyFileSync(REAL_BINARY, join(dir, name));
    const h = new Bun.CryptoHasher("sha256");
    for await (const chunk of Bun.file(join(dir, name)).stream()) h.update(chunk);
    writeFileSync(join(dir, "SHA256SUMS"), `${h.digest("hex")}  ${name}\n`);
  }
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = normalize(decodeURIComponent(new URL(req.url).pathname));
      if (path.includes("..")) return new Response("bad path", { status: 400 });
      const file = Bun.file(join(site, path));
      return (await file.exists()) ? new Response(file) : new Response("not found", { status: 404 });
    },
  });
  base = `http://127.0.0.1:${server.port}`;
  // A copy outside the checkout, readable by the unprivileged user of one test.
  script = join(work, "install.sh");
  copyFileSync(join(ROOT, "install.sh"), script);
  chmodSync(script, 0o755);
});

afterAll(() => {
  server?.stop(true);
  cleanupTemps();
});

let tmpForRun = "";
afterEach(() => {
  // install.sh's own temp dir (under TMPDIR) must be gone after every run, success or not.
  if (tmpForRun) expect(readdirSync(tmpForRun)).toEqual([]);
  tmpForRun = "";
});

interface InstallRun {
  code: number;
  out: string;
  dir: string;
}

/** Runs install.sh as root (prefix under a temp dir) unless `home` is given. */
async function install(env: Record<string, string>, opts: { prefix?: string; pathDir?: string; asNobody?: string } = {}): Promise<InstallRun> {
  const dir = opts.prefix ?? tempDir("prefix");
  tmpForRun = tempDir("tmp");
  chmodSync(tmpForRun, 0o777);
  const path = opts.pathDir ? `${opts.pathDir}:${process.env.PATH}` : (process.env.PATH ?? "/usr/bin:/bin");
  const fullEnv: Record<string, string> = { PATH: path, HOME: tempDir("home"), TMPDIR: tmpForRun, MYUTS_BASE_URL: base, ...env };
  if (isRoot && !opts.asNobody) fullEnv.MYUTS_PREFIX = dir;
  const cmd = opts.asNobody ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", script] : ["/bin/sh", script];
  if (opts.asNobody) fullEnv.HOME = opts.asNobody;
  const r = await runAsync(cmd, { env: fullEnv, cwd: work, timeoutMs: 60_000 });
  return { code: r.code, out: r.stdout + r.stderr, dir: opts.asNobody ? join(opts.asNobody, ".local", "bin") : join(dir, "bin") };
}

/** A directory of stand-in commands put first in PATH. */
function fakeTools(tools: Record<string, string>): string {
  const d = tempDir("fakebin");
  chmodSync(d, 0o755);
  for (const [name, body] of Object.entries(tools)) writeFileSync(join(d, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return d;
}

const glibcLdd = fakeTools({ ldd: 'echo "ldd (Debian GLIBC 2.36-9) 2.36"' });

describe("install.sh", () => {
  test("is clean under shellcheck", () => {
    if (!which("shellcheck")) {
      console.warn("skip: shellcheck not installed (apt-get install shellcheck)");
      return;
    }
    const r = run(["shellcheck", "-s", "sh", "install.sh"]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test.skipIf(!isRoot)("installs the latest release into <prefix>/bin as root, verified", async () => {
    const r = await install({}, { pathDir: glibcLdd });
    expect(r.out).toContain(`myuts 9.9.9 (fake, ${hostSuffix})`);
    expect(r.code).toBe(0);
    expect(readFileSync(join(r.dir, "myuts"), "utf8")).toBe(fakeBinary("9.9.9", hostSuffix));
    expect(readdirSync(r.dir)).toEqual(["myuts"]);
  });

  test("installs into ~/.local/bin without root", async () => {
    const home = tempDir("nobody-home");
    if (isRoot) chownSync(home, 65534, 65534);
    const r = isRoot ? await install({}, { pathDir: glibcLdd, asNobody: home }) : await install({ HOME: home }, { pathDir: glibcLdd });
    const dir = isRoot ? r.dir : join(home, ".local", "bin");
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "myuts"), "utf8")).toBe(fakeBinary("9.9.9", hostSuffix));
    expect(r.out).toContain(`installed ${dir}/myuts`);
  });

  test("honours a pinned MYUTS_VERSION, with or without the v", async () => {
    for (const v of ["9.9.8", "v9.9.8"]) {
      const r = await install({ MYUTS_VERSION: v, ...(isRoot ? {} : { MYUTS_INSTALL_DIR: tempDir("dir") }) }, { pathDir: glibcLdd });
      expect(r.code).toBe(0);
      expect(r.out).toContain(`myuts 9.9.8 (fake, ${hostSuffix})`);
    }
  });

  test("picks the musl asset where ldd is musl's, and the glibc one where it is glibc's", async () => {
    const muslLdd = fakeTools({ ldd: 'echo "musl libc (x86_64)" >&2; echo "Version 1.2.5" >&2; exit 1' });
    const dir = tempDir("musl-dir");
    const musl = await install({ MYUTS_INSTALL_DIR: dir }, { pathDir: muslLdd });
    expect(musl.code).toBe(0);
    expect(readFileSync(join(dir, "myuts"), "utf8")).toBe(fakeBinary("9.9.9", `${hostSuffix}-musl`));
    const forced = await install({ MYUTS_INSTALL_DIR: dir, MYUTS_LIBC: "glibc" }, { pathDir: muslLdd });
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, "myuts"), "utf8")).toBe(fakeBinary("9.9.9", hostSuffix));
  });

  test("refuses a corrupted asset and keeps the installed binary as it was", async () => {
    const dir = tempDir("corrupt-dir");
    writeFileSync(join(dir, "myuts"), "old\n", { mode: 0o755 });
    const r = await install({ MYUTS_VERSION: "6.6.6", MYUTS_INSTALL_DIR: dir }, { pathDir: glibcLdd });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(`checksum mismatch for myuts-6.6.6-${hostSuffix}`);
    expect(readdirSync(dir)).toEqual(["myuts"]);
    expect(readFileSync(join(dir, "myuts"), "utf8")).toBe("old\n");
  });

  test("fails clearly on a missing asset (404) and on an unknown version", async () => {
    const dir = tempDir("404-dir");
    const missing = await install({ MYUTS_VERSION: "4.0.4", MYUTS_INSTALL_DIR: dir }, { pathDir: glibcLdd });
    expect(missing.code).not.toBe(0);
    expect(missing.out).toContain(`download failed: ${base}/download/v4.0.4/myuts-4.0.4-${hostSuffix}`);
    const unknown = await install({ MYUTS_VERSION: "1.2.3", MYUTS_INSTALL_DIR: dir }, { pathDir: glibcLdd });
    expect(unknown.code).not.toBe(0);
    expect(unknown.out).toContain(`download failed: ${base}/download/v1.2.3/SHA256SUMS`);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("fails clearly on an unreachable server", async () => {
    const dir = tempDir("down-dir");
    // A port nothing listens on: bind one, then close it.
    const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = s.port;
    s.stop(true);
    const r = await install({ MYUTS_INSTALL_DIR: dir, MYUTS_BASE_URL: `http://127.0.0.1:${port}` }, { pathDir: glibcLdd });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("download failed");
    expect(readdirSync(dir)).toEqual([]);
  });

  test("refuses an unsupported architecture or system before downloading", async () => {
    const dir = tempDir("arch-dir");
    const riscv = fakeTools({ uname: 'case "$1" in -m) echo riscv64 ;; *) echo Linux ;; esac' });
    const r = await install({ MYUTS_INSTALL_DIR: dir }, { pathDir: riscv });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("unsupported architecture riscv64");
    const darwin = fakeTools({ uname: 'case "$1" in -m) echo arm64 ;; *) echo Darwin ;; esac' });
    const d = await install({ MYUTS_INSTALL_DIR: dir }, { pathDir: darwin });
    expect(d.code).not.toBe(0);
    expect(d.out).toContain("unsupported system Darwin");
    expect(readdirSync(dir)).toEqual([]);
  });

  test("works with wget when curl is absent", async () => {
    if (!which("wget")) {
      console.warn("skip: wget not installed");
      return;
    }
    // A PATH holding only what the script needs, minus curl.
    const bin = tempDir("nocurl");
    chmodSync(bin, 0o755);
    for (const t of ["sh", "uname", "awk", "mktemp", "sha256sum", "cut", "cp", "chmod", "mv", "mkdir", "rm", "id", "wget", "cat"]) {
      const p = which(t);
      if (p) symlinkSync(p, join(bin, t));
    }
    writeFileSync(join(bin, "ldd"), '#!/bin/sh\necho "ldd (GNU libc) 2.36"\n', { mode: 0o755 });
    const dir = tempDir("wget-dir");
    tmpForRun = tempDir("tmp");
    const r = await runAsync(["/bin/sh", script], {
      env: { PATH: bin, HOME: tempDir("home"), TMPDIR: tmpForRun, MYUTS_BASE_URL: base, MYUTS_INSTALL_DIR: dir },
      cwd: work,
    });
    expect(r.stderr).toContain(`myuts 9.9.9 (fake, ${hostSuffix})`);
    expect(r.code).toBe(0);
  });

  test.skipIf(!existsSync(REAL_BINARY))("installs a real binary that then runs", async () => {
    const dir = tempDir("real-dir");
    const r = await install({ MYUTS_VERSION: pkg.version, MYUTS_INSTALL_DIR: dir }, { pathDir: glibcLdd });
    expect(r.code).toBe(0);
    const v = run([join(dir, "myuts"), "--version"], { cwd: dir });
    expect(v.stdout).toContain(`myuts ${pkg.version}`);
    expect(r.out).toContain(v.stdout.trim());
  });
});
