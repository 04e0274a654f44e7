// `myuts exec [options] NAME|ID [--] COMMAND [ARGS...]`: a new process in a running
// container (an OCI container by id, or a named `run` container), in all of its
// namespaces and its cgroup, with its first process's ids and capabilities unless
// the options say otherwise. runc's options, and docker's short ones.
import { knownFilter } from "../spec/default-filter.ts";
import { checkProfileName } from "../lifecycle/apparmor.ts";
import { checkLabel } from "../lifecycle/selinux.ts";
import { execInContainer } from "../lifecycle/exec.ts";
import { PRESERVE_FDS, preserveFds } from "./preserve-fds.ts";
import type { Process } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { stdout } from "../util/output.ts";
import { MiB, readRegularFile, RefusedFile } from "../util/read-file.ts";
import { parseArgv, type FlagDef } from "./argv.ts";
import { reportingDebug } from "./debug.ts";
import { idArg } from "./ids.ts";

export const EXEC_FLAGS: readonly FlagDef[] = [
  { long: "env", short: "e", value: true, repeat: true, hint: "KEY=VAL", description: "set an environment variable (KEY alone copies the caller's)" },
  { long: "cwd", short: "w", value: true, hint: "DIR", description: "working directory inside (default: /)" },
  { long: "user", short: "u", value: true, hint: "UID[:GID]", description: "run as this user (default: the container's)" },
  { long: "process", short: "p", value: true, hint: "FILE", description: "an OCI process JSON (args, env, cwd, user, …) instead of the command line" },
  { long: "detach", short: "d", description: "return once the command runs, leaving it running" },
  { long: "apparmor", value: true, hint: "PROFILE", description: "the AppArmor profile to run under (default: the container's)" },
  { long: "process-label", value: true, hint: "LABEL", description: "the SELinux context to run in (default: the container's)" },
  { long: "pid-file", value: true, hint: "FILE", description: "write the command's pid here (no newline)" },
  { long: "interactive", short: "i", description: "keep stdin open (it always is: accepted for docker's exec -it)" },
  {
    long: "tty",
    short: "t",
    description: "a terminal of the command's own: its master goes to --console-socket, or is relayed to the caller's terminal (exec -it)",
  },
  { long: "console-socket", value: true, hint: "SOCKET", description: "the unix socket that receives the terminal's master end (as runc's)" },
  PRESERVE_FDS,
  { long: "trace", description: "print each setup step and its duration to stderr" },
  { long: "debug", description: "full traces on errors" },
  { long: "help", short: "h", description: "show this help" },
];

/** --process FILE: the caller's input, read as untrusted; validateSpec-like checks on what exec uses. */
function processFile(path: string): Partial<Process> {
  let raw: unknown;
  try {
    raw = JSON.parse(readRegularFile(path, MiB).toString("utf8"));
  } catch (e) {
    if (e instanceof RefusedFile) throw new UserError(`exec: --process ${path}: ${e.message}`);
    if (e instanceof SyntaxError) throw new UserError(`exec: --process ${path}: not valid JSON (${e.message})`);
    throw fsError(`exec: --process ${path}`, e, "open");
  }
  const p = raw as Partial<Process> | null;
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string" && !x.includes("\0"));
  if (typeof p !== "object" || p === null || Array.isArray(p)) throw new UserError(`exec: --process ${path}: not a JSON object`);
  if (p.args !== undefined && (!strings(p.args) || !p.args.length)) throw new UserError(`exec: --process ${path}: args must be a non-empty list of strings`);
  if (p.env !== undefined && !strings(p.env)) throw new UserError(`exec: --process ${path}: env must be a list of strings`);
  if (p.cwd !== undefined && (typeof p.cwd !== "string" || !p.cwd.startsWith("/")))
    throw new UserError(`exec: --process ${path}: cwd must be an absolute path`);
  if (p.user !== undefined) {
    const ids = [p.user?.uid, p.user?.gid, ...(p.user?.additionalGids ?? [])];
    if (!ids.every((id) => Number.isInteger(id) && (id as number) >= 0 && (id as number) <= 0xfffffffe)) {
      throw new UserError(`exec: --process ${path}: user has an invalid id`);
    }
  }
  if (p.apparmorProfile !== undefined && p.apparmorProfile !== "") checkProfileName(p.apparmorProfile, `exec: --process ${path}: apparmorProfile`);
  if (p.selinuxLabel !== undefined && p.selinuxLabel !== "") checkLabel(p.selinuxLabel, `exec: --process ${path}: selinuxLabel`);
  if (p.consoleSize !== undefined) {
    const ok = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff;
    if (!ok(p.consoleSize?.height) || !ok(p.consoleSize?.width))
      throw new UserError(`exec: --process ${path}: consoleSize needs height and width from 0 to 65535`);
  }
  return p;
}

export function execCli(argv: readonly string[], root: string | undefined, origin: number): Promise<number> {
  return reportingDebug(argv, EXEC_FLAGS, false, () => exec(argv, root, origin));
}

async function exec(argv: readonly string[], root: string | undefined, origin: number): Promise<number> {
  const p = parseArgv(argv, EXEC_FLAGS, "exec");
  if (p.bools.has("help")) {
    const { usage } = await import("./main.ts");
    stdout(`${await usage("exec")}\n`);
    return 0;
  }
  const one = (k: string) => p.flags.get(k)?.at(-1);
  const [name, ...rest] = p.operands;
  const args = rest[0] === "--" ? rest.slice(1) : rest;
  const file = one("process");
  const process = file !== undefined ? processFile(file) : undefined;
  if (!name || (!args.length && !process?.args)) throw new UserError("exec: usage: myuts exec [options] NAME [--] COMMAND [ARGS...] (see myuts exec --help)");
  const env = (p.flags.get("env") ?? []).flatMap((e) => {
    if (e.includes("=")) return [e];
    const v = globalThis.process.env[e];
    return v === undefined ? [] : [`${e}=${v}`];
  });
  const cwd = one("cwd");
  if (cwd !== undefined && !cwd.startsWith("/")) throw new UserError(`exec: --cwd ${cwd}: must be an absolute path`);
  const userArg = one("user");
  let user: { uid: number; gid: number } | undefined;
  if (userArg !== undefined) {
    const [u, g] = userArg.split(":");
    const uid = idArg("user", u ?? "");
    user = { uid, gid: g === undefined ? uid : idArg("user", g) };
  }
  const apparmor = one("apparmor");
  if (apparmor !== undefined) checkProfileName(apparmor, `exec: --apparmor ${apparmor}`);
  const label = one("process-label");
  if (label !== undefined) checkLabel(label, `exec: --process-label ${label}`);
  const terminal = p.bools.has("tty") || process?.terminal === true;
  const overrides: Partial<Process> = {
    ...(terminal ? { terminal: true } : {}),
    ...(apparmor !== undefined ? { apparmorProfile: apparmor } : {}),
    ...(label !== undefined ? { selinuxLabel: label } : {}),
  };
  if (one("console-socket") !== undefined && !terminal) throw new UserError("exec: --console-socket needs --tty (or terminal in --process)");
  return execInContainer({
    name,
    root,
    args,
    process: Object.keys(overrides).length ? { ...process, ...overrides } : process,
    env,
    cwd,
    user,
    detach: p.bools.has("detach"),
    pidFile: one("pid-file"),
    consoleSocket: one("console-socket"),
    preserveFds: preserveFds("exec", one("preserve-fds")),
    trace: p.bools.has("trace"),
    origin,
    knownFilter,
  });
}
