// The last step of the init stage: become the payload's user, enter its working
// directory and execve it. Nothing of myuts survives the exec.
import { accessible, exists, isDirectory, mkdirAll, readText, X_OK } from "../../ffi/files.ts";
import { EACCES, ENOENT, ENOEXEC, SyscallError } from "../../ffi/errno.ts";
import { chdir, cloexecFrom, execve, prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_SET_NO_NEW_PRIVS, resetSignals, PR_SET_PDEATHSIG, setgroupsThread, setresgidThread, setresuidThread, umask } from "../../ffi/libc.ts";
import { DEFAULT_PATH } from "../spec/defaults.ts";
import type { Process } from "../spec/types.ts";
import { EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, UserError } from "../util/errors.ts";
import type { Tracer } from "../util/trace.ts";
import { applyCapabilities, limitBoundingSet } from "./capabilities.ts";
import { inContext } from "./context.ts";

const SIGKILL = 9;

export function execPayload(proc: Process, t: Tracer, makeCwd: boolean, barrier: () => void): never {
  const env = proc.env ?? [];
  const argv = proc.args;
  if (!argv.length || !argv[0]) throw new UserError("process.args is empty: nothing to run");

  if (makeCwd) {
    try {
      mkdirAll(proc.cwd);
    } catch {
      // chdir below reports the real problem
    }
  }
  // The runtime joins the cgroup here; the cgroup namespace that follows needs
  // CAP_SYS_ADMIN, so this comes before the user and capabilities change.
  barrier();
  const { uid, gid } = proc.user;
  const caps = proc.capabilities;
  if (caps) t.step("limit the capability bounding set", () => limitBoundingSet(caps));
  t.step(`set user ${uid}:${gid}${proc.user.additionalGids?.length ? ` groups ${proc.user.additionalGids.join(",")}` : ""}`, () =>
    inContext(`user ${uid}:${gid}`, () => {
      const groups = proc.user.additionalGids ?? [];
      // A user namespace with setgroups denied refuses even an empty list.
      if (groups.length || !setgroupsDenied()) setgroupsThread(groups);
      setresgidThread(gid);
      setresuidThread(uid);
    }),
  );
  if (caps) t.step(`capabilities: ${caps.effective?.length ?? 0} effective`, () => applyCapabilities(caps));
  // A uid change clears the parent-death signal; the payload must still die with its parent.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (proc.noNewPrivileges) prctl(PR_SET_NO_NEW_PRIVS, 1);
  umask(proc.user.umask ?? 0o022);
  inContext(`workdir ${proc.cwd}`, () => chdir(proc.cwd));

  const path = t.step(`look up ${argv[0]}`, () => lookPath(argv[0]!, env));
  cloexecFrom(3);
  // Capabilities carried across the init stage's own exec (user namespaces) stop
  // here, unless the spec's ambient set (applied above) asks for some.
  if (!caps) {
    try {
      prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
    } catch {
      // kernels before 4.3 have no ambient set, so nothing to clear
    }
  }
  t.note(`execve ${path}`);
  resetSignals();
  try {
    execve(path, argv, env);
  } catch (e) {
    throw execError(argv[0]!, e);
  }
}

function setgroupsDenied(): boolean {
  try {
    return readText("/proc/self/setgroups").trim() === "deny";
  } catch {
    return false;
  }
}

function pathOf(env: readonly string[]): string {
  const p = env.findLast((e) => e.startsWith("PATH="));
  return p === undefined ? DEFAULT_PATH : p.slice(5);
}

/** execvp's search, done here so "not found" (127) and "not executable" (126) differ. */
export function lookPath(cmd: string, env: readonly string[]): string {
  if (cmd.includes("/")) return cmd;
  let denied: string | undefined;
  for (const dir of pathOf(env).split(":")) {
    const candidate = `${dir || "."}/${cmd}`;
    if (!exists(candidate) || isDirectory(candidate)) continue;
    if (accessible(candidate, X_OK)) return candidate;
    denied ??= candidate;
  }
  if (denied) throw new UserError(`exec ${cmd}: ${denied}: permission denied`, EXIT_CANNOT_EXEC);
  throw new UserError(`exec ${cmd}: command not found in PATH`, EXIT_NOT_FOUND);
}

function execError(cmd: string, e: unknown): UserError {
  if (!(e instanceof SyscallError)) return e instanceof UserError ? e : new UserError(String(e), EXIT_CANNOT_EXEC);
  if (e.errno === ENOENT) {
    // ENOENT for a file that exists means its interpreter or loader is missing.
    return new UserError(
      exists(e.target ?? cmd) ? `exec ${cmd}: its interpreter or dynamic loader is missing: ${e.code}` : `exec ${cmd}: no such file: ${e.code}`,
      EXIT_NOT_FOUND,
    );
  }
  if (e.errno === EACCES || e.errno === ENOEXEC) return new UserError(`exec ${cmd}: cannot execute: ${e.code}`, EXIT_CANNOT_EXEC);
  return new UserError(`exec ${cmd}: ${e.message}`, EXIT_CANNOT_EXEC);
}
