// `myuts run` and `myuts spec`. Kept free of citty at load time: `run` is the hot
// path, and citty is only needed to render --help.
import { idmapRequests } from "../lifecycle/idmap.ts";
import { idmapPlan } from "../lifecycle/idmap-mounts.ts";
import { fs } from "../util/node.ts";
import { nulEntries } from "../../ffi/bytes.ts";
import { checkName } from "../lifecycle/names.ts";
import { loadBundle } from "../spec/bundle.ts";
import { EXIT_NOT_FOUND, OsError, UserError } from "../util/errors.ts";
import { exists, readBytes } from "../../ffi/files.ts";
import { isatty } from "../../ffi/libc.ts";
import { windowSize } from "../../ffi/terminal.ts";
import { keyringName, planRun, runSpec } from "../lifecycle/run.ts";
import type { DetachedMeta } from "../lifecycle/detached.ts";
import type { PortMapping } from "../network/request.ts";
import { processStart } from "../util/process-start.ts";
import { type ImageRun, specFromRun } from "../spec/from-run.ts";
import type { Spec } from "../spec/types.ts";
import { validateSpec } from "../spec/validate.ts";
import { jsStart, Tracer } from "../util/trace.ts";
import { stderr, stdout } from "../util/output.ts";
import { fsError } from "../util/fs-errors.ts";
import { reportingDebug } from "./debug.ts";
import { defaultProfileAvailable } from "../lifecycle/apparmor.ts";
import { parseRunArgs, RUN_FLAGS, type RunOptions } from "./run-flags.ts";

function toSpec(o: RunOptions, env: Record<string, string | undefined>, image?: { rootfs: string; image: ImageRun }): Spec {
  const spec = specFromRun(image ? { ...o, rootfs: image.rootfs, image: image.image } : o, {
    env,
    cwd: process.cwd(),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    stdinIsTTY: isatty(0),
    apparmor: defaultProfileAvailable(process.getuid?.() ?? 0),
  });
  // -t: the container's terminal has the caller's size from the start, before the payload asks.
  const size = o.tty ? (windowSize(1) ?? windowSize(0)) : undefined;
  if (size) spec.process!.consoleSize = { height: size.rows, width: size.cols };
  return spec;
}

async function help(name: "run" | "spec"): Promise<number> {
  const { usage } = await import("./main.ts");
  stdout(`${await usage(name)}\n`);
  return 0;
}

/**
 * The caller's environment. A JS string turns bytes that aren't UTF-8 into U+FFFD; where
 * that happened, it is read again from /proc/self/environ with those bytes kept
 * (ffi/bytes.ts), for the container to inherit them as they were.
 */
function callerEnv(): Record<string, string | undefined> {
  if (!Object.values(process.env).some((v) => v?.includes("\uFFFD"))) return process.env;
  const env: Record<string, string> = {};
  for (const e of nulEntries(readBytes("/proc/self/environ"))) {
    const i = e.indexOf("=");
    if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
  }
  return env;
}

export function runCli(argv: readonly string[], origin: number, root?: string): Promise<number> {
  return reportingDebug(argv, RUN_FLAGS, false, async () => {
    const env = callerEnv();
    const o = parseRunArgs(argv, env);
    if (o.help) return help("run");
    if (o.bundle !== undefined) return runBundle(o, origin, root);
    if (o.detach && (o.pidFile !== undefined || o.consoleSocket !== undefined))
      throw new UserError("run: --pid-file and --console-socket go with --bundle --detach (myuts run -b DIR -d ID)");
    if (o.detach && o.preserveFds) throw new UserError("run: --preserve-fds: a detached container's descriptors are its log's; pass files with --volume");
    if (!o.detach && o.logMaxBytes !== undefined) throw new UserError("run: --log-max-size goes with --detach (a foreground run's output is the terminal's)");
    if (!o.detach && o.restart !== undefined) throw new UserError("run: --restart goes with --detach (a foreground run ends with its container)");
    const t = new Tracer(o.trace, origin, "run");
    // Bun sets its time origin a few ms into the process; a harness that timed the spawn finds where in its own time.
    if (t.enabled) t.note(`runtime: time origin, ${origin.toFixed(3)} ms after the epoch`, origin);
    t.note("runtime: JavaScript starts", jsStart);
    // An image is only ever named by --image: an operand is always the command (see README, "Images").
    const image =
      o.imageRef !== undefined
        ? await t.stepAsync(`image ${o.imageRef}`, async () => (await import("./image.ts")).imageRun(o.imageRef!, o.pull, o.insecure, o.userns !== undefined))
        : undefined;
    try {
      if (o.publishAll && image?.image.exposedPorts?.length)
        o.network = { ...o.network!, ports: [...o.network!.ports, ...publishAll(image.image.exposedPorts)] };
      const spec = t.step("flags → OCI spec", () => validateSpec(toSpec(o, env, image)));
      if (o.dryRun) return await dryRun(spec, keyring(o), o.init);
      if (o.detach) return await runDetached(spec, o, env, origin);
      // At a terminal, -t runs as docker's -it does: detached under its monitor and attached to at once, so ctrl-p ctrl-q can leave it running.
      if (o.tty && isatty(0) && o.network?.network !== "slirp4netns" && !o.preserveFds) return await runAttached(spec, o, env, origin);
      return await runSpec(spec, { trace: o.trace, origin, name: o.name, register: o.named, keyring: keyring(o), init: o.init, preserveFds: o.preserveFds });
    } catch (e) {
      throw bundleHint(e, o);
    } finally {
      // runSpec removed it already, unless the run failed before it started.
      image?.release();
    }
  });
}

/** docker's -P: each exposed tcp or udp port on a free host port (the kernel picks it; the runtime then holds it). */
function publishAll(exposed: readonly string[]): PortMapping[] {
  return exposed.flatMap((e) => {
    const [port, proto = "tcp"] = e.split("/");
    if (proto !== "tcp" && proto !== "udp") return [];
    const probe = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } });
    const hostPort = probe.port;
    probe.stop(true);
    return [{ hostPort, containerPort: Number(port), protocol: proto, hostIP: "" }];
  });
}

/**
 * `run -it` at a terminal: the container starts detached, its monitor bound to this runtime
 * (killed with it, as any foreground container), and this runtime attaches to its terminal.
 * Its end gives the exit code and removes it; ctrl-p ctrl-q leaves it running on its own.
 */
async function runAttached(spec: ReturnType<typeof validateSpec>, o: RunOptions, env: Record<string, string | undefined>, origin: number): Promise<number> {
  // Removed by this runtime when it ends attached; after a detach, --rm decides.
  const meta = { ...(await detachedMeta(spec, o)), autoRemove: false };
  meta.foreground = { pid: process.pid, start: processStart(process.pid) ?? "" };
  const [{ attachContainer, connectAttach }, containers, detached] = await Promise.all([
    import("../lifecycle/attach.ts"),
    import("../lifecycle/containers.ts"),
    import("../lifecycle/detached.ts"),
  ]);
  // Connected before the payload runs: nothing it writes is missed.
  let conn: ReturnType<typeof connectAttach> | undefined;
  const beforeStart = () => {
    conn = connectAttach(o.name);
  };
  await runSpec(spec, {
    trace: o.trace,
    origin,
    name: o.name,
    register: true,
    keyring: keyring(o),
    init: o.init,
    detach: { meta, env, owned: true, beforeStart },
  });
  const how = await attachContainer(o.name, conn);
  if (how === "detached") {
    // On its own now: --rm applies when it ends, as after docker's detach.
    detached.writeMeta({ ...meta, foreground: undefined, autoRemove: o.autoRemove });
    stderr(`\r\nmyuts: detached from ${o.name}, which goes on running (myuts attach ${o.name} comes back)\n`);
    return 0;
  }
  const code = await containers.exitCodeOf(o.name);
  const c = containers.findRunContainer(o.name);
  if (c) await containers.removeRunContainer(c, true);
  return code ?? 125;
}

async function detachedMeta(spec: ReturnType<typeof validateSpec>, o: RunOptions): Promise<DetachedMeta> {
  return {
    name: o.name,
    created: new Date().toISOString(),
    command: spec.process.args ?? [],
    ...(o.imageRef !== undefined ? { image: o.imageRef } : o.rootfs !== undefined ? { rootfs: spec.root.path } : {}),
    autoRemove: o.autoRemove,
    ...(o.restart ? { restart: { ...o.restart, count: 0 } } : {}),
    init: o.init,
    ...(o.tty ? { tty: true } : {}),
    newKeyring: keyring(o) !== undefined,
    logMaxBytes: o.logMaxBytes ?? (await import("../lifecycle/detached.ts")).DEFAULT_LOG_MAX,
  };
}

/** `run -d`: starts the container under its monitor, prints its name and returns (detached.ts). */
async function runDetached(spec: ReturnType<typeof validateSpec>, o: RunOptions, env: Record<string, string | undefined>, origin: number): Promise<number> {
  const meta = await detachedMeta(spec, o);
  await runSpec(spec, { trace: o.trace, origin, name: o.name, register: true, keyring: keyring(o), init: o.init, detach: { meta, env } });
  stdout(`${o.name}\n`);
  return 0;
}

/**
 * A command that wasn't found may have been meant otherwise: `myuts run ID` typed in a
 * bundle, runc-style (say how to run the bundle), or an image's name (`alpine:3.20`,
 * `docker.io/…`, `…@sha256:…`: say how to run the image). The operand stays a command.
 */
function bundleHint(e: unknown, o: RunOptions): unknown {
  if (!(e instanceof OsError) || e.exitCode !== EXIT_NOT_FOUND || o.imageRef !== undefined) return e;
  const op = o.args[0] ?? "";
  if (o.args.length === 1 && exists("config.json"))
    return new OsError(e.context, e.errno, { ...e.detail, hint: `this directory holds an OCI bundle: to run it, myuts run -b . ${op}` });
  if (o.rootfs === undefined && looksLikeImage(op))
    return new OsError(e.context, e.errno, { ...e.detail, hint: `to run the image ${op}, name it with --image: myuts run --image ${op}` });
  return e;
}

/** Whether a command that wasn't found reads as an image reference: a tag, a digest or a registry part, and no leading / or . */
function looksLikeImage(op: string): boolean {
  if (!/^[a-z0-9]/.test(op) || !/[:@]|^[a-z0-9-]+\.[a-z0-9.-]+(:\d+)?\//.test(op)) return false;
  return /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/.test(op);
}

/** `run -b DIR ID`: the bundle's spec as it is, the container named ID, as runc run. */
async function runBundle(o: RunOptions, origin: number, root: string | undefined): Promise<number> {
  if (o.args.length !== 1) throw new UserError("run: with --bundle, give the container id alone: myuts run -b DIR ID");
  const id = checkName(o.args[0]!, "container id");
  const { dir, spec } = loadBundle(o.bundle!);
  const valid = validateSpec(spec);
  const ring = o.noNewKeyring ? undefined : keyringName(id);
  if (o.dryRun) return dryRun(valid, ring);
  if (o.detach) {
    // runc run -d: create and start, leaving an OCI container under --root for state, kill and delete.
    const [{ createContainer }, { startContainer }] = await Promise.all([import("../lifecycle/create.ts"), import("../lifecycle/container.ts")]);
    await createContainer(valid, {
      id,
      bundle: dir,
      root,
      pidFile: o.pidFile,
      consoleSocket: o.consoleSocket,
      newKeyring: !o.noNewKeyring,
      preserveFds: o.preserveFds,
      trace: o.trace,
      origin,
    });
    startContainer(id, root);
    return 0;
  }
  if (o.pidFile !== undefined || o.consoleSocket !== undefined)
    throw new UserError("run: --pid-file and --console-socket go with --detach (myuts run -b DIR -d ID)");
  return runSpec(valid, { trace: o.trace, origin, name: id, register: true, bundle: dir, keyring: ring, preserveFds: o.preserveFds });
}

/** A container (a bundle or a root filesystem) gets its own session keyring, as with runc; unshare's form keeps the caller's. */
function keyring(o: RunOptions): string | undefined {
  return (o.rootfs !== undefined || o.imageRef !== undefined) && !o.noNewKeyring ? keyringName(o.name) : undefined;
}

async function dryRun(spec: ReturnType<typeof validateSpec>, keyring: string | undefined, init = false): Promise<number> {
  const { describeProgram } = await import("../setup/describe.ts");
  // The mappings' namespaces exist only in a real start: the dry run names their holder "PID".
  const idmapped = idmapPlan(idmapRequests(spec), () => "PID");
  const plan = planRun(spec, { keyring, init, idmapped });
  const lines = ['spawn → execveat(sealed memfd "myuts-init")'];
  if (plan.prelude) {
    lines.push("the init's first program:", describeProgram(plan.prelude));
    if (plan.userns) lines.push("  (the runtime writes uid_map and gid_map while the container's first process waits)");
    lines.push("the setup program, run by the container's first process:");
  }
  lines.push(describeProgram(plan.program()));
  stdout(`${lines.join("\n")}\n`);
  return 0;
}

/** runc spec's own options (a bundle folder, --rootless), or undefined when `argv` holds run's. */
function runcSpecForm(argv: readonly string[]): { bundle: string; rootless: boolean } | undefined {
  const form = { bundle: ".", rootless: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--rootless") form.rootless = true;
    else if ((a === "-b" || a === "--bundle") && argv[i + 1] !== undefined) form.bundle = argv[++i]!;
    else if (a.startsWith("--bundle=")) form.bundle = a.slice(9);
    else return undefined;
  }
  return form;
}

/**
 * As `runc spec`: a starting config.json in the bundle folder, for a root filesystem
 * in its "rootfs" folder, running sh; an existing file is left alone.
 */
function writeDefaultSpec(form: { bundle: string; rootless: boolean }, env: Record<string, string | undefined>): number {
  const args = ["--pid", "--net", "--ipc", "--uts", "--mount", "--rootfs", "/rootfs", "--read-only", "--hostname", "myuts"];
  const o = parseRunArgs([...args, ...(form.rootless ? ["--map-root-user"] : []), "--", "sh"], env);
  const spec = toSpec(o, env);
  spec.root = { path: "rootfs", readonly: true };
  const file = `${form.bundle.replace(/\/+$/, "") || "/"}/config.json`;
  try {
    fs().writeFileSync(file, `${JSON.stringify(spec, null, 2)}\n`, { flag: "wx", mode: 0o644 });
  } catch (e) {
    if ((e as { code?: string }).code === "EEXIST") throw new UserError(`spec: ${file} exists; remove it first`);
    throw fsError(`spec: ${file}`, e, "open");
  }
  return 0;
}

export function specCli(argv: readonly string[]): Promise<number> {
  return reportingDebug(argv, RUN_FLAGS, false, async () => {
    const env = callerEnv();
    const runc = runcSpecForm(argv);
    if (runc) return writeDefaultSpec(runc, env);
    const o = parseRunArgs(argv, env);
    if (o.help) return help("spec");
    // An image's root exists only for a run (its overlay's dirs are made and removed by it).
    if (o.imageRef !== undefined) throw new UserError("spec: --image is for run only; a bundle's root is a directory (--rootfs)");
    stdout(`${JSON.stringify(toSpec(o, env), null, 2)}\n`);
    return 0;
  });
}
