// OCI hooks: programs the runtime runs at points of a container's life, with the
// container's state as JSON on their stdin. The spec's hook env is the whole
// environment (nothing of the runtime's leaks in); a hook that fails or outlives its
// timeout fails a create, and only warns after the start or the delete.
import type { Hook, Hooks } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";

export type HookKind = keyof Hooks;

export interface HookState {
  ociVersion: string;
  id: string;
  status: string;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

/** Runs each hook of `kinds` in order; returns what went wrong (empty: all ran and exited 0). */
function runAll(kinds: readonly HookKind[], hooks: Hooks | undefined, state: HookState, stopAtFirst: boolean): string[] {
  const problems: string[] = [];
  const input = Buffer.from(JSON.stringify(state));
  for (const kind of kinds) {
    for (const [i, h] of (hooks?.[kind] ?? []).entries()) {
      const problem = runOne(h, input);
      if (problem) problems.push(`hooks.${kind}[${i}] ${h.path}: ${problem}`);
      if (problem && stopAtFirst) return problems;
    }
  }
  return problems;
}

/** "KEY=VALUE" as a pair; an entry without "=" is a key with an empty value. */
function keyValue(e: string): [string, string] {
  const i = e.indexOf("=");
  return i < 0 ? [e, ""] : [e.slice(0, i), e.slice(i + 1)];
}

function runOne(h: Hook, input: Buffer): string | undefined {
  const args = h.args?.length ? h.args : [h.path];
  let r: ReturnType<typeof Bun.spawnSync>;
  try {
    r = Bun.spawnSync([h.path, ...args.slice(1)], {
      argv0: args[0],
      env: Object.fromEntries((h.env ?? []).map(keyValue)),
      stdin: input,
      stdout: "ignore",
      stderr: "pipe",
      timeout: h.timeout ? h.timeout * 1000 : undefined,
      killSignal: "SIGKILL",
    });
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  if (r.exitedDueToTimeout) return `did not finish within ${h.timeout} s`;
  if (r.signalCode) return `killed by ${r.signalCode}`;
  if (r.exitCode !== 0) {
    const said = r.stderr?.toString().trim().split("\n").at(-1);
    return `exited with ${r.exitCode}${said ? ` (${said})` : ""}`;
  }
  return undefined;
}

/** createRuntime, createContainer (and the deprecated prestart): a failure fails the create. */
export function runCreateHooks(hooks: Hooks | undefined, state: HookState): void {
  const problems = runAll(["prestart", "createRuntime", "createContainer"], hooks, state, true);
  if (problems.length) throw new UserError(problems[0]!);
}

/** poststart and poststop: the container's life goes on (or is over); failures are warnings. */
export function runLaterHooks(kind: "poststart" | "poststop", hooks: Hooks | undefined, state: HookState, warn: (msg: string) => void): void {
  for (const p of runAll([kind], hooks, state, false)) warn(p);
}

const HOOK_KINDS = new Set(["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]);

/**
 * What is wrong with a spec's hooks (or the ones a state file recorded), or undefined:
 * absolute paths, string lists, whole-second timeouts, known kinds.
 */
export function hooksProblem(hooks: unknown): string | undefined {
  if (hooks === undefined || hooks === null) return undefined;
  if (typeof hooks !== "object" || Array.isArray(hooks)) return "hooks must be an object";
  const strings = (v: unknown) => v === undefined || (Array.isArray(v) && v.every((x) => typeof x === "string" && !x.includes("\0")));
  for (const [kind, list] of Object.entries(hooks)) {
    if (!HOOK_KINDS.has(kind)) return `hooks.${kind}: unknown hook kind (known: ${[...HOOK_KINDS].join(", ")})`;
    if (!Array.isArray(list)) return `hooks.${kind} must be a list`;
    for (const [i, h] of (list as Array<Record<string, unknown> | null>).entries()) {
      const at = `hooks.${kind}[${i}]`;
      if (typeof h?.path !== "string" || !h.path.startsWith("/") || h.path.includes("\0")) return `${at}: path must be an absolute path`;
      if (!strings(h.args) || !strings(h.env)) return `${at}: args and env must be lists of strings`;
      if (h.timeout !== undefined && (!Number.isInteger(h.timeout) || (h.timeout as number) <= 0))
        return `${at}: timeout must be a whole number of seconds above 0`;
    }
  }
  return undefined;
}

export const hasHooks = (hooks: Hooks | undefined, kinds: readonly HookKind[]): boolean => kinds.some((k) => (hooks?.[k]?.length ?? 0) > 0);
