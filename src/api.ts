// The TypeScript API: start a container from a Bun program, in its own process, with
// no myuts child process and no shell. The options are `run`'s flags as typed data;
// they go through the same flag parser, spec builder and engine as `myuts run`, so
// both behave alike. The payload's stdout and stderr come back as text.
//
//   import { run } from "myuts";
//   const r = await run({ rootfs, args: ["sh", "-c", "echo hi"], namespaces: ["pid", "mount", "net"], memory: "64m" });
//
// create() starts a container that runs on its own (`myuts run -d`) and returns a handle
// for exec, logs, stop and remove; exec() runs a command in any running container:
//
//   const web = await create({ rootfs, args: ["httpd", "-f"], name: "web" });
//   const r = await web.exec(["cat", "/etc/hostname"]);
//   await web.stop(); await web.remove();
//
// Like `myuts run`, it needs root (or `user: true` for a user namespace), and a
// failure to start throws a ContainerError with myuts's one-line message and exit code.
import { close, pipe } from "../ffi/libc.ts";
import { describe } from "./cli/report.ts";
import { imageRun } from "./cli/image.ts";
import { parseRunArgs } from "./cli/run-flags.ts";
import { selfCommand } from "./util/self.ts";
import { keyringName, runSpec } from "./lifecycle/run.ts";
import { defaultProfileAvailable } from "./lifecycle/apparmor.ts";
import { specFromRun } from "./spec/from-run.ts";
import { validateSpec } from "./spec/validate.ts";
import { OsError, UserError } from "./util/errors.ts";

/** The OCI runtime spec's types (config.json), the model every myuts stage passes on: `OCI.Spec`, `OCI.Process`… */
export type * as OCI from "./spec/types.ts";

export type Namespace = "pid" | "mount" | "net" | "network" | "uts" | "ipc" | "cgroup" | "time" | "user";

export interface RunOptions {
  /** The payload and its arguments. */
  args: string[];
  /** A root filesystem: a whole container, with docker's namespaces and security defaults (see `myuts run --help`). */
  rootfs?: string;
  /** An image from the store (`myuts pull`/`import`; pulled when missing), instead of `rootfs`: its config gives the command's defaults. */
  image?: string;
  /** New namespaces, as run's switches (`user` maps the caller to root inside). */
  namespaces?: Namespace[];
  /** With a root filesystem: host namespaces to stay in (`--share`). */
  share?: Array<"pid" | "ipc" | "uts" | "net" | "cgroup">;
  hostname?: string;
  /** Environment entries (KEY=VAL), or an object of them. */
  env?: string[] | Record<string, string>;
  /** Working directory inside. */
  cwd?: string;
  /** A memory limit: bytes, or "64m" as --memory takes it. */
  memory?: string | number;
  /** CPUs, as --cpus (0.5 is half a core). */
  cpus?: number;
  /** A limit on the number of processes. */
  pids?: number;
  readOnly?: boolean;
  /** Bind mounts, "HOST:CONTAINER[:ro]". */
  volumes?: string[];
  /** The payload's user and group ids. */
  uid?: number;
  gid?: number;
  /** A tiny PID 1 that reaps zombies and forwards signals (--init). */
  init?: boolean;
  /** The container's name (for stats, update and exec); random otherwise. */
  name?: string;
  /** Fed to the payload's stdin (which is otherwise empty). */
  stdin?: string | Uint8Array;
  /** Extra `myuts run` flags, as on its command line. */
  flags?: string[];
  /** Each setup step and its duration on this process's stderr (--trace). */
  trace?: boolean;
}

export interface RunResult {
  /** The payload's exit code, 128+N after signal N, or myuts's own code. */
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A container that could not start: myuts's one-line message, and the exit code `myuts run` would give. */
export class ContainerError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "ContainerError";
  }
}

const NS_SWITCH: Record<Namespace, string> = {
  pid: "--pid",
  mount: "--mount",
  net: "--net",
  network: "--net",
  uts: "--uts",
  ipc: "--ipc",
  cgroup: "--cgroup",
  time: "--time",
  user: "--user",
};

/** The options as `myuts run`'s argv: one parser and one engine for both. */
export function runArgv(o: RunOptions): string[] {
  const argv: string[] = [];
  const add = (flag: string, v: string | number | undefined) => {
    if (v !== undefined) argv.push(flag, String(v));
  };
  for (const ns of o.namespaces ?? []) {
    if (!Object.hasOwn(NS_SWITCH, ns)) throw new ContainerError(`run: namespaces: unknown namespace ${JSON.stringify(ns)}`, 125);
    argv.push(NS_SWITCH[ns]);
  }
  if (o.namespaces?.includes("user")) argv.push("--map-root-user");
  add("--rootfs", o.rootfs);
  add("--image", o.image);
  if (o.share?.length) add("--share", o.share.join(","));
  add("--hostname", o.hostname);
  const env = Array.isArray(o.env) ? o.env : Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of env) add("--env", e);
  add("--workdir", o.cwd);
  add("--memory", o.memory);
  add("--cpus", o.cpus);
  add("--pids-limit", o.pids);
  if (o.readOnly) argv.push("--read-only");
  for (const v of o.volumes ?? []) add("--volume", v);
  add("--setuid", o.uid);
  add("--setgid", o.gid);
  if (o.init) argv.push("--init");
  add("--name", o.name);
  argv.push(...(o.flags ?? []), "--", ...o.args);
  return argv;
}

/**
 * Reads a pipe's read end to its end. Bun polls a pipe on its event loop; a thread-pool
 * read would block a pool thread for the container's whole life, and enough of them
 * starve the module loader the runtime's lazy imports go through.
 */
async function drain(fd: number): Promise<string> {
  try {
    return await new Response(Bun.file(fd).stream()).text();
  } finally {
    close(fd);
  }
}

/** Runs a container to completion and returns its exit code and output. */
export async function run(o: RunOptions): Promise<RunResult> {
  if (!Array.isArray(o.args) || (o.args.length === 0 && o.image === undefined)) throw new ContainerError("run: args: nothing to run", 125);
  let opts: ReturnType<typeof parseRunArgs>;
  try {
    opts = parseRunArgs(runArgv(o), process.env);
  } catch (e) {
    throw asContainerError(e);
  }
  const [inR, inW] = pipe();
  const [outR, outW] = pipe();
  const [errR, errW] = pipe();
  const output = Promise.all([drain(outR), drain(errR)]);
  // Polled like the output: more than a pipe's buffer waits for the payload to read.
  const input = feed(inW, o.stdin);
  let exitCode: number;
  let image: Awaited<ReturnType<typeof imageRun>> | undefined;
  try {
    image = opts.imageRef !== undefined ? await imageRun(opts.imageRef, opts.pull, opts.insecure, opts.userns !== undefined) : undefined;
    const request = image ? { ...opts, rootfs: image.rootfs, image: image.image } : opts;
    const spec = validateSpec(
      specFromRun(request, {
        env: process.env,
        cwd: process.cwd(),
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        stdinIsTTY: false,
        apparmor: defaultProfileAvailable(process.getuid?.() ?? 0),
      }),
    );
    exitCode = await runSpec(spec, {
      trace: o.trace === true,
      origin: performance.timeOrigin,
      name: opts.name,
      register: opts.named,
      keyring: opts.rootfs !== undefined || opts.imageRef !== undefined ? keyringName(opts.name) : undefined,
      init: opts.init,
      stdio: [inR, outW, errW],
    });
  } catch (e) {
    throw asContainerError(e);
  } finally {
    // The container holds its own copies: the reads end when it does.
    for (const fd of [inR, outW, errW]) close(fd);
    // What the run removed already, unless it failed before it started.
    image?.release();
  }
  const [stdout, stderr] = await output;
  await input;
  return { exitCode, stdout, stderr };
}

async function feed(fd: number, data: string | Uint8Array | undefined): Promise<void> {
  try {
    if (data?.length) await Bun.write(Bun.file(fd), data);
  } catch {
    // a payload that never reads its stdin closes the pipe: nothing to report
  } finally {
    close(fd);
  }
}

function asContainerError(e: unknown): ContainerError {
  if (e instanceof ContainerError) return e;
  const code = e instanceof UserError || e instanceof OsError ? e.exitCode : 125;
  return new ContainerError(describe(e), code);
}

/** exec's options: the command's environment, working directory and user. */
export interface ExecOptions {
  env?: string[] | Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Fed to the command's stdin. */
  stdin?: string | Uint8Array;
}

/** A container that runs on its own (`myuts run -d`), by name. */
export interface Container {
  readonly name: string;
  /** Runs a command in it (its namespaces, cgroup and security settings) and returns its exit code and output. */
  exec(args: string[], o?: ExecOptions): Promise<RunResult>;
  /** Its output so far, stdout and stderr apart. */
  logs(): Promise<{ stdout: string; stderr: string }>;
  /** SIGTERM, then SIGKILL after `timeoutSec` (default 10); resolves once it has ended. */
  stop(timeoutSec?: number): Promise<void>;
  /** Removes it, with its log (`force`: a running one is killed first). */
  remove(o?: { force?: boolean }): Promise<void>;
  /** What `myuts inspect` says of it: State.Status, State.ExitCode, LogPath… */
  inspect(): Promise<Record<string, unknown>>;
}

async function cli(args: string[], stdin?: string | Uint8Array): Promise<RunResult> {
  // The environment as it is now (MYUTS_STORE, XDG_RUNTIME_DIR… may have been set since the start).
  const p = Bun.spawn([...selfCommand(), ...args], { stdin: stdin === undefined ? "ignore" : "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env } });
  if (stdin !== undefined && p.stdin) {
    p.stdin.write(stdin);
    await p.stdin.end();
  }
  const [stdout, stderr, exitCode] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { exitCode, stdout, stderr };
}

/** A myuts command that must succeed: its one-line error becomes a ContainerError. */
async function must(args: string[]): Promise<string> {
  const r = await cli(args);
  if (r.exitCode !== 0) throw new ContainerError(r.stderr.trim().replace(/^myuts: /, "") || `myuts ${args[0]} exited ${r.exitCode}`, r.exitCode);
  return r.stdout;
}

/** Starts a container that runs on its own (`myuts run -d`); `autoRemove` is --rm. */
export async function create(o: RunOptions & { autoRemove?: boolean }): Promise<Container> {
  if (!Array.isArray(o.args) || (o.args.length === 0 && o.image === undefined)) throw new ContainerError("run: args: nothing to run", 125);
  const argv = runArgv(o);
  const name = (await must(["run", "-d", ...(o.autoRemove ? ["--rm"] : []), ...argv])).trim();
  return container(name);
}

/** Runs a command in a running container (`myuts exec`). */
export async function exec(name: string, args: string[], o: ExecOptions = {}): Promise<RunResult> {
  const flags: string[] = [];
  const env = Array.isArray(o.env) ? o.env : Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of env) flags.push("--env", e);
  if (o.cwd !== undefined) flags.push("--cwd", o.cwd);
  if (o.uid !== undefined) flags.push("--user", o.gid !== undefined ? `${o.uid}:${o.gid}` : String(o.uid));
  return cli(["exec", ...flags, name, "--", ...args], o.stdin);
}

/** A handle on an existing container, by name. */
export function container(name: string): Container {
  return {
    name,
    exec: (args, o) => exec(name, args, o),
    logs: async () => {
      const r = await cli(["logs", name]);
      if (r.exitCode !== 0) throw new ContainerError(r.stderr.trim().replace(/^myuts: /, ""), r.exitCode);
      return { stdout: r.stdout, stderr: r.stderr };
    },
    stop: async (timeoutSec = 10) => {
      await must(["stop", "-t", String(timeoutSec), name]);
    },
    remove: async (o = {}) => {
      await must(["rm", ...(o.force ? ["-f"] : []), name]);
    },
    inspect: async () => (JSON.parse(await must(["inspect", name])) as Record<string, unknown>[])[0]!,
  };
}
