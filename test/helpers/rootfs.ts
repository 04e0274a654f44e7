// Small root filesystems built from a statically linked busybox, with no network.
// Each test file builds its own under a fresh temporary directory and removes it.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, closeSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { isRoot } from "./myuts.ts";
import { mountsUnder } from "./mounts.ts";

const BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"];

/** True when the ELF file has no PT_INTERP header, i.e. needs no dynamic loader. */
export function isStaticElf(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const header = Buffer.alloc(64);
    if (readSync(fd, header, 0, 64, 0) < 64 || header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) return false;
    const phoff = Number(header.readBigUInt64LE(32));
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    closeSync(fd);
  }
}

function findStaticBusybox(): string | undefined {
  return BUSYBOX_CANDIDATES.find((p) => existsSync(p) && isStaticElf(p));
}

/** A static busybox from Debian's busybox-static, installed with apt when missing (root only). */
export function staticBusybox(): string {
  let found = findStaticBusybox();
  if (!found && isRoot) {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    let r = Bun.spawnSync(["apt-get", "install", "-y", "busybox-static"], { env, stdout: "ignore", stderr: "pipe" });
    if (r.exitCode !== 0) {
      Bun.spawnSync(["apt-get", "update"], { env, stdout: "ignore", stderr: "ignore" });
      r = Bun.spawnSync(["apt-get", "install", "-y", "busybox-static"], { env, stdout: "ignore", stderr: "pipe" });
    }
    found = findStaticBusybox();
  }
  if (!found) throw new Error("no statically linked busybox: install it with `apt-get install -y busybox-static`");
  return found;
}

function applets(busybox: string): string[] {
  const r = Bun.spawnSync([busybox, "--list-full"], { stdout: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${busybox} --list-full failed`);
  return r.stdout.toString().split("\n").filter(Boolean);
}

export interface TestRootfs {
  /** The temporary directory holding everything below. */
  base: string;
  /** busybox with every applet, /etc/passwd and /etc/group, and the exec fixtures below. */
  rootfs: string;
  /** busybox with only `true` and `echo`: no /bin/sh. */
  noShell: string;
  /** In `rootfs`: a regular file without the execute bit. */
  notExecutable: string;
  /** In `rootfs`: an executable script whose `#!` interpreter does not exist. */
  missingInterpreter: string;
  /** In `rootfs`: an executable file that is neither ELF nor a script. */
  notAProgram: string;
  /** A fresh directory under `base` (for volumes, env files...). */
  scratch(name: string): string;
  cleanup(): void;
}

function populate(dir: string, busybox: string, names: readonly string[]): void {
  mkdirSync(join(dir, "bin"), { recursive: true });
  copyFileSync(busybox, join(dir, "bin", "busybox"));
  chmodSync(join(dir, "bin", "busybox"), 0o755);
  for (const full of names) {
    const link = join(dir, full);
    if (existsSync(link) || full === "bin/busybox") continue;
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync("/bin/busybox", link);
  }
}

export function createTestRootfs(): TestRootfs {
  const busybox = staticBusybox();
  const base = mkdtempSync(join(tmpdir(), "myuts-test-"));
  const rootfs = join(base, "rootfs");
  const noShell = join(base, "rootfs-nosh");

  populate(rootfs, busybox, applets(busybox));
  for (const d of ["etc", "tmp", "root", "proc", "sys", "dev"]) mkdirSync(join(rootfs, d), { recursive: true });
  chmodSync(join(rootfs, "tmp"), 0o1777);
  writeFileSync(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
  writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n");
  writeFileSync(join(rootfs, "etc", "myuts-test-rootfs"), "inside\n");

  const notExecutable = "/not-executable";
  writeFileSync(join(rootfs, notExecutable), "#!/bin/sh\necho should not run\n", { mode: 0o644 });
  const missingInterpreter = "/missing-interpreter.sh";
  writeFileSync(join(rootfs, missingInterpreter), "#!/no/such/interpreter\necho should not run\n", { mode: 0o755 });
  const notAProgram = "/not-a-program";
  writeFileSync(join(rootfs, notAProgram), Buffer.from([0x00, 0x01, 0x02, 0x03, 0xff, 0xfe]), { mode: 0o755 });

  populate(noShell, busybox, ["bin/true", "bin/echo"]);

  let n = 0;
  return {
    base,
    rootfs,
    noShell,
    notExecutable,
    missingInterpreter,
    notAProgram,
    scratch(name: string): string {
      const dir = join(base, `scratch-${++n}-${name}`);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    cleanup(): void {
      removeTree(base);
    },
  };
}

/**
 * Removes a test directory. If a faulty run left mounts below it, they are detached
 * first: a recursive delete through a bind mount would delete the mount's source.
 */
export function removeTree(dir: string): void {
  const mounted = mountsUnder(dir)
    .map((m) => m.mountPoint)
    .sort((a, b) => b.length - a.length);
  for (const m of mounted) Bun.spawnSync(["umount", "-l", m], { stdout: "ignore", stderr: "ignore" });
  if (mountsUnder(dir).length) throw new Error(`refusing to delete ${dir}: mounts remain below it`);
  rmSync(dir, { recursive: true, force: true });
}
