// Runs the compiled binary the way a user does and collects what it leaves behind.
// Every run starts in its own session (setsid), so the runtime, its init and
// the payload all carry that session id: whatever still carries it after the run
// is a leak, whatever namespace it lives in.
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
export const MYUTS = join(REPO_ROOT, "dist", "myuts");
export const isRoot = process.getuid?.() === 0;

/** Fails loudly rather than skipping: a missing binary is a broken setup, not a reason to pass. */
export function requireBinary(): void {
  if (!existsSync(MYUTS)) {
    throw new Error(`${MYUTS} does not exist: build it with \`bun run build\` before running the integration tests`);
  }
}

export interface RunOptions {
  /** Milliseconds before the whole session is killed; the result then has timedOut set. */
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
  stdin?: string;
  /** A command that execs the rest of the argv (privateRun's wrap): myuts still runs under the returned pid. */
  wrap?: readonly string[];
}

export interface RunResult {
  /** Exit code, or null when the runtime itself was killed by a signal. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Processes of the run's session still alive after it ended (they have been killed since). */
  leftovers: ProcessInfo[];
}

export interface ProcessInfo {
  pid: number;
  cmdline: string;
}

const DEFAULT_TIMEOUT = 20_000;

/** An environment that does not depend on whoever runs the tests. */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C", ...extra };
}

export class MyutsProcess {
  readonly proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
  readonly pid: number;
  private out = "";
  private err = "";
  private readonly drained: Promise<void>;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timedOut = false;

  constructor(args: readonly string[], opts: RunOptions = {}) {
    requireBinary();
    this.proc = Bun.spawn([...(opts.wrap ?? []), MYUTS, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: opts.env ?? baseEnv(),
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
    this.pid = this.proc.pid;
    if (opts.stdin !== undefined) this.proc.stdin.write(opts.stdin);
    this.proc.stdin.end();
    this.drained = Promise.all([this.collect(this.proc.stdout, "out"), this.collect(this.proc.stderr, "err")]).then(() => undefined);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      killSession(this.pid);
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT);
  }

  private async collect(stream: ReadableStream<Uint8Array>, which: "out" | "err"): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      if (which === "out") this.out += text;
      else this.err += text;
    }
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** Resolves once stdout contains `text`; rejects at the deadline or if the run ends first. */
  async waitForStdout(text: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      () => {
        if (this.out.includes(text)) return true;
        if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
          throw new Error(`myuts exited before printing ${JSON.stringify(text)}; stdout=${JSON.stringify(this.out)} stderr=${JSON.stringify(this.err)}`);
        }
        return false;
      },
      timeoutMs,
      `stdout to contain ${JSON.stringify(text)}`,
    );
  }

  kill(signal: NodeJS.Signals | number): void {
    process.kill(this.pid, signal);
  }

  async result(): Promise<RunResult> {
    try {
      await this.proc.exited;
      await this.drained;
    } finally {
      clearTimeout(this.timer);
    }
    const leftovers = await settleSession(this.pid);
    return {
      code: this.proc.exitCode,
      signal: this.proc.signalCode === null ? null : String(this.proc.signalCode),
      stdout: this.out,
      stderr: this.err,
      timedOut: this.timedOut,
      leftovers,
    };
  }

  /** For afterEach: makes sure nothing of this run survives a failed assertion. */
  async dispose(): Promise<void> {
    killSession(this.pid);
    await this.result().catch(() => undefined);
  }
}

export function startMyuts(args: readonly string[], opts: RunOptions = {}): MyutsProcess {
  return new MyutsProcess(args, opts);
}

export async function runMyuts(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return startMyuts(args, opts).result();
}

/** Polls `check` until it returns true; throws naming `what` at the deadline. */
export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0) but is gone for every practical purpose.
  return statFields(pid)?.state !== "Z";
}

interface StatFields {
  state: string;
  ppid: number;
  session: number;
}

function statFields(pid: number): StatFields | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may itself contain spaces or parentheses.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: rest[0] ?? "", ppid: Number(rest[1]), session: Number(rest[3]) };
}

export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

function allPids(): number[] {
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** Live (non-zombie) processes in session `sid`, seen from the host's PID namespace. */
export function sessionMembers(sid: number): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const pid of allPids()) {
    const s = statFields(pid);
    if (s && s.session === sid && s.state !== "Z") out.push({ pid, cmdline: cmdlineOf(pid) });
  }
  return out;
}

/** Host processes whose command line contains `token` (a unique marker put in a payload's argv). */
export function processesWith(token: string): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const pid of allPids()) {
    if (pid === process.pid) continue;
    const cmdline = cmdlineOf(pid);
    if (cmdline.includes(token) && statFields(pid)?.state !== "Z") out.push({ pid, cmdline });
  }
  return out;
}

export function killSession(sid: number): void {
  try {
    process.kill(-sid, "SIGKILL");
  } catch {
    // already gone
  }
  for (const p of sessionMembers(sid)) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // raced with its exit
    }
  }
}

/**
 * Waits briefly for the session to empty (a dying PID namespace takes a moment to
 * reap), then kills and returns whatever is still there.
 */
async function settleSession(sid: number): Promise<ProcessInfo[]> {
  const deadline = Date.now() + 2_000;
  let left = sessionMembers(sid);
  while (left.length && Date.now() < deadline) {
    await Bun.sleep(20);
    left = sessionMembers(sid);
  }
  if (left.length) killSession(sid);
  return left;
}

/** The inode of one of a process's namespaces, e.g. nsInode("self", "uts"). */
export function nsInode(pid: number | "self", type: string): number {
  const link = readlinkSync(`/proc/${pid}/ns/${type}`);
  const m = /\[(\d+)\]$/.exec(link);
  if (!m) throw new Error(`unexpected namespace link ${link}`);
  return Number(m[1]);
}

/**
 * A number unlikely to appear in any other process's command line; small enough to
 * be a valid `sleep` argument, so a payload like `sleep TOKEN` can be found on the host.
 */
export function uniqueToken(): string {
  return String(100_000_000 + Math.floor(Math.random() * 900_000_000));
}
