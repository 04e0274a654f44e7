// Shared by the delivery tests: temp dirs that always go away, and tool lookups.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
export const isRoot = process.getuid?.() === 0;
export const hostArch = process.arch === "arm64" ? "arm64" : "x64";

const made: string[] = [];

/** A fresh directory removed by cleanupTemps() (called from afterAll/afterEach). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `myuts-${prefix}-`));
  made.push(d);
  return d;
}

export function cleanupTemps(): void {
  while (made.length) rmSync(made.pop()!, { recursive: true, force: true });
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Result {
  const p = Bun.spawnSync(cmd, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdout: "pipe", stderr: "pipe", timeout: opts.timeoutMs ?? 120_000 });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** Async variant, for commands whose output a server in this same process must answer. */
export async function runAsync(cmd: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<Result> {
  const p = Bun.spawn(cmd, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdout: "pipe", stderr: "pipe", timeout: opts.timeoutMs ?? 120_000 });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

export function which(tool: string): string | null {
  return Bun.which(tool);
}
