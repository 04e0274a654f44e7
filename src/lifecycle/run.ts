// The engine: starts any (validated) OCI spec's process in its namespaces and
// waits for it. The spec is compiled into a setup program (src/setup) that the
// native init runs inside the namespaces (start.ts); the payload is its execve.
import { type IdmapPlan, prepareIdmappedMounts, type PreparedIdmaps } from "./idmap-mounts.ts";
import { ensureDefaultProfile } from "./apparmor.ts";
import { escapeControl } from "../util/text.ts";
import { hasHooks, runCreateHooks, runLaterHooks, type HookState } from "./hooks.ts";
import { CLONE } from "../../ffi/libc.ts";
import { waitExit } from "./wait-exit.ts";
import { loadNative } from "../../ffi/native.ts";
import { needsBarrier, wantsCgroup } from "../cgroups/policy.ts";
import { detectLayout } from "../cgroups/layout.ts";
import { compilePrelude, compileRun, type MonitorPlan } from "../setup/compile.ts";
import { hostArch } from "../setup/syscalls.ts";
import type { ValidSpec } from "../spec/types.ts";
import { Tracer } from "../util/trace.ts";
import { hostFacts } from "./facts.ts";
import { cloneFlagNames as flagNames } from "../setup/namespaces.ts";
import { cloneFlags, deferredCgroupns, timensOffsets } from "./namespaces.ts";
import { SignalRelay } from "./signals.ts";
import { sendListener } from "./seccomp-agent.ts";
import { launch, type Launch } from "./start.ts";
import { describeStatus, exitCode } from "../util/wait-status.ts";
import { planUserNamespace, writeUserNamespaceMaps } from "./userns.ts";
import { stderr } from "../util/output.ts";
import { nameFilesDir } from "../network/name-files.ts";
import { RunNetwork, withNetwork } from "./network.ts";
import { randomName } from "./names.ts";
import type { DetachedOutput } from "./detached-output.ts";
import type { TerminalRelay } from "./terminal-relay.ts";
import type { DetachedMeta } from "./detached.ts";
import type { ContainerRoot } from "../image/container-root.ts";
import { UserError } from "../util/errors.ts";
import { path } from "../util/node.ts";

export interface RunSettings {
  trace: boolean;
  origin: number;
  /** The container's name in the state registry; random when absent. */
  name?: string;
  /** Register the container even without a cgroup (it was named, so it can be addressed). */
  register?: boolean;
  /** The bundle (`run -b`), for the hooks' state. */
  bundle?: string;
  /** A new session keyring of this name (runc's default for bundles; a root filesystem container's). */
  keyring?: string;
  /** --init: the native init stays as PID 1. */
  init?: boolean;
  /** The container's stdin, stdout and stderr, when not the runtime's own. */
  stdio?: readonly [number, number, number];
  /** runc's --preserve-fds. */
  preserveFds?: number;
  /** `run -d`: the container outlives this runtime (detached.ts); runSpec returns 0 once its payload runs. */
  detach?: {
    meta: DetachedMeta;
    env: Record<string, string | undefined>;
    /** --restart: its directory exists, and so may its image root (`meta.imageRoot`). */
    restart?: boolean;
    /** A foreground run -t: the monitor dies with this runtime until the user detaches (attach.ts). */
    owned?: boolean;
    /** Called before the payload runs (its terminal is there to attach to, and shows nothing yet). */
    beforeStart?: () => void;
  };
}

/** What other parts of the lifecycle (cgroups, state) attach to a container's start. */
export interface ContainerHooks {
  /**
   * While the container's setup runs (claim the name, create the cgroup); before the
   * start, for a network the container joins. A failure still runs cleanup.
   */
  prepare?(): void | Promise<void>;
  /** The container is built and waits at its barrier; runs before the payload's execve. */
  beforeExec?(pid: number): void;
  /** The payload runs. */
  started?(pid: number): void;
  /** `run -d`, at the barrier: the monitor owns the entry from now on; the container (`pid`) runs. */
  adopt?(monitor: number, pid: number): void;
  /** After prepare, for a network: the path of the namespace the container joins. */
  networkNamespace?(): string | undefined;
  /** After prepare: a cgroup v2 directory the container's first process can be cloned into. */
  cgroupBirthDir?(): string | undefined;
  /** The payload exited: a line explaining why (out of memory), and the exit code to give. */
  afterExit?(status: number): ExitNote | undefined;
  /** After the payload exited (status) or the start failed (undefined). Always runs. */
  cleanup?(status: number | undefined): void;
}

export interface ExitNote {
  message: string;
  exitCode?: number;
}

/**
 * What a start does, decided before anything exists (also what `--dry-run` prints).
 * The setup program compiles on demand: `launch` does it while the init clones.
 */
/**
 * Whether the init clones (or forks) the container's first process: for a namespace to make
 * or join, or a monitor. Without one, the init is that process itself.
 */
function clonesFirstProcess(spec: ValidSpec, monitor: boolean): boolean {
  return cloneFlags(spec).clone !== 0 || spec.linux.namespaces.some((n) => n.path) || monitor;
}

/** How a container is started, beyond its spec: the runtime's own choices and runc's flags. */
export interface PlanOptions {
  /** Stop before the payload until the runtime's go-ahead (default: when the spec needs it). */
  barrier?: boolean;
  t?: Tracer;
  /** Outlives the runtime and waits for `start` (`create`). */
  detached?: boolean;
  /** The pty slave for process.terminal. */
  terminal?: string;
  /** runc's --no-pivot. */
  noPivot?: boolean;
  /** A new session keyring named for the container (runc's default; --no-new-keyring opts out). */
  keyring?: string;
  /** --init: the native init stays as PID 1, reaping and forwarding signals. */
  init?: boolean;
  /** The container's stdin, stdout and stderr, when not the runtime's own (the TypeScript API's pipes). */
  stdio?: readonly [number, number, number];
  /** runc's --preserve-fds: descriptors 3 to 3+N-1 reach the payload. */
  preserveFds?: number;
  /** `run -d`: a monitor (the container's parent) logs its output, records its exit and runs the exit command. */
  monitor?: MonitorPlan;
  /** The state the spec's startContainer hooks get, given the container's pid. */
  hookState?: (pid: number) => string;
  /** With `monitor`: it dies with this runtime (parent-death signal) until told otherwise. */
  monitorOwned?: boolean;
  /** A cgroup v2 directory that exists already: the container's first process is cloned into it. */
  cgroupDir?: string;
  /** Idmapped mounts, whose mappings' namespaces exist: the prelude makes them. */
  idmapped?: IdmapPlan;
}

/**
 * The session keyring's name: the container's, and a random part, since joining an
 * existing keyring of the same name (another root's container) would share its keys.
 */
export function keyringName(container: string): string {
  return `_ses.${container}.${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16).padStart(8, "0")}`;
}

export function planRun(spec: ValidSpec, o: PlanOptions = {}): Launch {
  const {
    barrier = needsBarrier(spec),
    t = new Tracer(false),
    detached = false,
    terminal,
    noPivot = false,
    keyring,
    init,
    stdio,
    preserveFds,
    monitor,
    hookState,
    monitorOwned,
    cgroupDir,
    idmapped,
  } = o;
  const startHooks = (spec.hooks?.startContainer?.length ?? 0) > 0;
  const { clone, unshare } = cloneFlags(spec);
  const describe = flagNames(clone) || "no new namespaces";
  const joins = spec.linux.namespaces.flatMap((n) => (n.path ? [{ type: n.type, path: n.path }] : []));
  return {
    prelude: clonesFirstProcess(spec, monitor !== undefined)
      ? compilePrelude(clone, describe, joins, hostArch(), monitor, cgroupDir, idmapped?.mounts)
      : undefined,
    program: (pid?: number) => {
      const facts = t.step("host facts", () => hostFacts());
      return compileRun(spec, facts, {
        barrier,
        cgroupnsAfterBarrier: deferredCgroupns(spec),
        detached,
        newTime: unshare !== 0,
        timensOffsets: timensOffsets(spec),
        terminal,
        hooks: hasHooks(spec.hooks, ["prestart", "createRuntime", "createContainer"]),
        noPivot,
        keyring,
        init,
        preserveFds,
        hookState: startHooks && pid !== undefined ? hookState?.(pid) : undefined,
        idmapped: idmapped?.byIndex,
      });
    },
    needsPid: startHooks,
    describe,
    userns: (clone & CLONE.NEWUSER) !== 0,
    detached: detached || (monitor !== undefined && !monitorOwned),
    stdio,
    preserveFds,
  };
}

/** Runs the container to completion; resolves to the exit code docker would give. */
export async function runSpec(spec: ValidSpec, s: RunSettings): Promise<number> {
  const hookState = (status: string, pid: number): HookState => ({
    ociVersion: "1.2.0",
    id: s.name ?? "",
    status,
    pid,
    bundle: s.bundle ?? "",
    ...(spec.annotations && Object.keys(spec.annotations).length ? { annotations: spec.annotations } : {}),
  });
  const warnLine = (msg: string) => stderr(`myuts: warning: ${escapeControl(msg)}\n`);
  const t = new Tracer(s.trace, s.origin, "run");
  let hooks: ContainerHooks = {};
  let status: number | undefined;
  let note: ExitNote | undefined;
  const net = new RunNetwork(spec, t);
  const relay = new SignalRelay();
  const detach = s.detach;
  const name = detach?.meta.name ?? s.name ?? (net.cni ? randomName() : undefined);
  let built = spec;
  const prepare = async () => {
    const { containerHooks } = await import("./registry-hooks.ts");
    hooks = containerHooks(spec, { name, register: s.register || detach !== undefined, network: net.cni, t, detached: detach !== undefined });
    await hooks.prepare?.();
  };
  let imageRoot: ContainerRoot | undefined;
  let idmaps: PreparedIdmaps | undefined;
  let logs: DetachedOutput | undefined;
  let terminal: TerminalRelay | undefined;
  let handedOver = false;
  let reserved = false;
  // Loaded for `run -d` only: the start path of every other run stays as it was.
  const detached = detach ? await import("./detached.ts") : undefined;
  try {
    if (detach && detached) {
      if (net.userMode) throw new UserError("run: --detach with --network slirp4netns is not supported yet (slirp4netns would end with this command)");
      if (!detach.restart) {
        t.step(`reserve the name ${detach.meta.name}`, () => detached.reserveDetached(detach.meta, spec));
        reserved = true;
      }
    }
    if (spec.root.overlay) {
      const { adoptContainerRoot, createContainerRoot } = await import("../image/container-root.ts");
      const overlay = spec.root.overlay;
      const kept = detach?.restart ? detach.meta.imageRoot : undefined;
      imageRoot = kept
        ? adoptContainerRoot(path().join((await import("../image/store.ts")).defaultStoreRoot(), "containers"), kept)
        : t.step(overlay.copy ? "copy the image's layers into its root" : "create the image root's upper and work dirs", () =>
            createContainerRoot(spec.root.path, overlay),
          );
    }
    if (spec.process.apparmorProfile) t.step("AppArmor: load the default profile if needed", () => ensureDefaultProfile(spec.process.apparmorProfile));
    await t.stepAsync("load the native pieces", loadNative);
    if (spec.process.terminal) {
      const { openConsole } = await import("./console.ts");
      const pty = t.step("open the container's terminal", () => openConsole("run", spec.process));
      // Detached, the monitor holds its master (myuts attach reaches it); else this runtime relays it.
      if (detach) logs = new (await import("./detached-output.ts")).DetachedOutput(detach.meta, detach.env, pty);
      else terminal = new (await import("./terminal-relay.ts")).TerminalRelay(pty);
    } else if (detach) {
      logs = new (await import("./detached-output.ts")).DetachedOutput(detach.meta, detach.env);
    }
    // On cgroup v2 the container's first process can be cloned into its cgroup (no attach
    // at the barrier, whose write waits out an RCU grace period): the cgroup is made first.
    // Only where the init clones it; else the init is that process.
    const bornInCgroup = clonesFirstProcess(spec, detach !== undefined) && wantsCgroup(spec) && detectLayout().mode === "v2";
    if (net.cni || bornInCgroup) await prepare();
    if (net.cni) {
      // The namespace of a CNI network is the runtime's, made and configured before the container joins it.
      built = withNetwork(spec, hooks.networkNamespace!()!, nameFilesDir(name!));
    } else {
      built = net.withNameFiles(
        spec,
        [spec.hostname, s.name].filter((n): n is string => !!n),
      );
    }
    // The namespaces that hold idmapped mounts' mappings; they end once the mounts exist.
    idmaps = await prepareIdmappedMounts(built, t, s.preserveFds);
    // A named container is registered before its payload runs: it waits for the runtime too.
    const plan = planRun(built, {
      barrier: needsBarrier(built) || s.register === true || detach !== undefined,
      t,
      keyring: s.keyring,
      init: s.init,
      stdio: logs?.stdio ?? s.stdio,
      preserveFds: s.preserveFds,
      monitor: logs?.plan,
      terminal: terminal?.pty.slave ?? logs?.plan.terminal,
      hookState: (pid) => JSON.stringify(hookState("created", pid)),
      monitorOwned: detach?.owned,
      cgroupDir: bornInCgroup ? hooks.cgroupBirthDir?.() : undefined,
      idmapped: idmaps,
    });
    if (logs) plan.logPipes = logs.readEnds;
    const ids = plan.userns ? t.step("plan the user namespace's id maps", () => planUserNamespace(built)) : undefined;
    let monitor = 0;
    const pid = await launch(plan, t, {
      idMaps: (child) => ids && t.step("write uid_map and gid_map", () => writeUserNamespaceMaps(child, ids)),
      monitored: (m) => {
        monitor = m;
      },
      cloned: net.cloned,
      // The registry and cgroup code loads while the init builds the container, off the start path.
      // A container with no name, limits or OOM score has no state: nothing to load or sweep.
      booting: async () => {
        if (net.cni || bornInCgroup || (!s.register && !detach && !needsBarrier(built))) return;
        await prepare();
      },
      ready: (child) => {
        hooks.beforeExec?.(child);
        if (!detach) return;
        // Before the payload runs, whose end the monitor's exit command cleans up after.
        hooks.adopt?.(monitor, child);
        if (imageRoot) detach.meta.imageRoot = imageRoot.handTo(monitor);
        detached?.writeMeta(detach.meta);
        detach.beforeStart?.();
      },
      hooksStep: (child) => t.step("createRuntime and createContainer hooks", () => runCreateHooks(built.hooks, hookState("creating", child))),
      seccompListener: (child, fd) =>
        sendListener(built.linux.seccomp!, { id: s.name ?? "", bundle: s.bundle ?? "", status: "creating", annotations: built.annotations }, child, fd),
    });
    idmaps?.release();
    if (detach) {
      handedOver = true;
      net.started();
      if (spec.hooks?.poststart) runLaterHooks("poststart", spec.hooks, hookState("running", pid), warnLine);
      return 0;
    }
    relay.attach(pid);
    terminal?.start();
    net.started();
    hooks.started?.(pid);
    if (spec.hooks?.poststart) runLaterHooks("poststart", spec.hooks, hookState("running", pid), warnLine);
    status = await waitExit(pid);
    await terminal?.finish();
    t.note(`payload exited: ${describeStatus(status)}`);
    note = hooks.afterExit?.(status);
  } finally {
    idmaps?.release();
    relay.close();
    logs?.close();
    terminal?.restore();
    if (!handedOver) {
      net.stop();
      hooks.cleanup?.(status);
      // The overlay itself went with the container's mount namespace; its upper and work dirs go now
      // (or, should that fail, with the next image command's sweep).
      try {
        imageRoot?.remove();
      } catch (e) {
        warnLine(e instanceof Error ? e.message : String(e));
      }
      // The name this start reserved, not one another container holds.
      if (detach && reserved) detached?.removeDetached(detach.meta.name);
      if (spec.hooks?.poststop) runLaterHooks("poststop", spec.hooks, hookState("stopped", 0), warnLine);
    }
  }
  if (note) stderr(`myuts: ${note.message}\n`);
  return note?.exitCode ?? exitCode(status!);
}
