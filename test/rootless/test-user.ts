// An unprivileged account for the rootless tests, with its own subordinate id
// ranges, created for the run and removed afterwards (with its subuid/subgid lines).
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  subStart: number;
  subCount: number;
  remove(): void;
}

const SUB_FILES = ["/etc/subuid", "/etc/subgid"];

function sh(argv: string[]): { code: number; out: string } {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}

function dropLines(file: string, owner: string): void {
  if (!existsSync(file)) return;
  const kept = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l && !l.startsWith(`${owner}:`));
  writeFileSync(file, kept.length ? `${kept.join("\n")}\n` : "");
}

export function createTestUser(subStart = 400000, subCount = 65536): TestUser {
  const name = `rl${process.pid % 100000}`;
  const created = sh(["useradd", "--no-create-home", "--shell", "/bin/sh", "--no-user-group", "--gid", "nogroup", name]);
  if (created.code !== 0) throw new Error(`useradd ${name}: ${created.out}`);
  const id = sh(["id", "-u", name]);
  const uid = Number(id.out.trim());
  const gid = Number(sh(["id", "-g", name]).out.trim());
  // useradd may have added ranges of its own; the tests use exactly one, known range.
  for (const f of SUB_FILES) {
    dropLines(f, name);
    writeFileSync(f, `${existsSync(f) ? readFileSync(f, "utf8") : ""}${name}:${subStart}:${subCount}\n`);
  }
  return {
    name,
    uid,
    gid,
    subStart,
    subCount,
    remove() {
      for (const f of SUB_FILES) dropLines(f, name);
      sh(["userdel", name]);
    },
  };
}

/** A copy of the binary the test user can execute, whatever the checkout's permissions. */
export function reachableBinary(source: string, dir: string): string {
  const bin = join(dir, "myuts");
  copyFileSync(source, bin);
  chmodSync(bin, 0o755);
  chmodSync(dir, 0o755);
  return bin;
}
