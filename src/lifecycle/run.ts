// The engine: starts any (validated) OCI spec's process in its namespaces and
// waits for it. The spec is compiled into a setup program (src/setup) that the
// native init runs inside the namespaces (start.ts); the payload is its execve.
import { escapeControl } from "../util/text.ts";
import { hasHooks, runCreateHooks, runLaterHooks, type HookState } from "./hooks.ts";
import { CLONE, waitNoHang } from "../../ffi/libc.ts";
import { loadNative } from "../../ffi/native.ts";
import { needsBarrier } from "../cgroups/policy.ts";
import { compilePrelude, compileRun } from "../setup/compile.ts";
import { hostArch } from "../setup/syscalls.ts";
import type { ValidSpec } from "../spec/types.ts";
import { Tracer } from "../util/trace.ts";
import { hostFacts } from "./facts.ts";
import { cloneFlagNames as flagNames } from "../setup/namespaces.ts";
import { cloneFlags, deferredCgroupns, timensOffsets } from "./namespaces.ts";
import { SignalRelay } from "./signals.ts";
import { launch, type Launch } from "./start.ts";
import { describeStatus, exitCode } from "../util/wait-status.ts";
import { planUserNamespace, writeUserNamespaceMaps } from "./userns.ts";
import { stderr } from "../util/output.ts";

export interface RunSettings {
  trace: boolean;
  origin: number;
  /** The container's name in the state registry; random when absent. */
  name?: string;
  /** Register the container even without a cgroup (it was named, so it can be addressed). */
  register?: boolean;
  /** The bundle (`run -b`), for the hooks' state. */
  bundle?: string;
}

/** What other parts of the lifecycle (cgroups, state) attach to a container's start. */
export interface ContainerHooks {
  /** While the container's setup runs (claim the name, create the cgroup). A failure still runs cleanup. */
  prepare?(): void;
  /** The container is built and waits at its barrier; runs before the payload's execve. */
  beforeExec?(pid: number): void;
  /** The payload runs. */
  started?(pid: number): void;
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
export function planRun(spec: ValidSpec, barrier = needsBarrier(spec), t = new Tracer(false), detached = false, terminal?: string, noPivot = false): Launch {
  const { clone, unshare } = cloneFlags(spec);
  const describe = flagNames(clone) || "no new namespaces";
  const joins = spec.linux.namespaces.flatMap((n) => (n.path ? [{ type: n.type, path: n.path }] : []));
  return {
    // Without a namespace to clone into or to join, the init is the container's first process itself.
    prelude: clone || joins.length ? compilePrelude(clone, describe, joins, hostArch()) : undefined,
    program: () => {
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
      });
    },
    describe,
    userns: (clone & CLONE.NEWUSER) !== 0,
    detached,
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
  const relay = new SignalRelay();
  let imageRoot: { remove(): void } | undefined;
  try {
    if (spec.root.overlay) {
      const { createContainerRoot } = await import("../image/container-root.ts");
      const overlay = spec.root.overlay;
      imageRoot = t.step("create the image root's upper and work dirs", () => createContainerRoot(spec.root.path, overlay));
    }
    await t.stepAsync("load the native pieces", loadNative);
    // A named container is registered before its payload runs: it waits for the runtime too.
    const plan = planRun(spec, needsBarrier(spec) || s.register === true, t);
    const ids = plan.userns ? t.step("plan the user namespace's id maps", () => planUserNamespace(spec)) : undefined;
    const pid = await launch(plan, t, {
      idMaps: (child) => ids && t.step("write uid_map and gid_map", () => writeUserNamespaceMaps(child, ids)),
      // The registry and cgroup code loads while the init builds the container, off the start path.
      // A container with no name, limits or OOM score has no state: nothing to load or sweep.
      booting: async () => {
        if (!s.register && !needsBarrier(spec)) return;
        const { containerHooks } = await import("./registry-hooks.ts");
        hooks = containerHooks(spec, { name: s.name, register: s.register, t });
        hooks.prepare?.();
      },
      ready: (child) => hooks.beforeExec?.(child),
      hooksStep: (child) => t.step("createRuntime and createContainer hooks", () => runCreateHooks(spec.hooks, hookState("creating", child))),
    });
    relay.attach(pid);
    hooks.started?.(pid);
    if (spec.hooks?.poststart) runLaterHooks("poststart", spec.hooks, hookState("running", pid), warnLine);
    status = await waitExit(pid);
    t.note(`payload exited: ${describeStatus(status)}`);
    note = hooks.afterExit?.(status);
  } finally {
    relay.close();
    hooks.cleanup?.(status);
    // The overlay itself went with the container's mount namespace; its upper and work dirs go now
    // (or, should that fail, with the next image command's sweep).
    try {
      imageRoot?.remove();
    } catch (e) {
      warnLine(e instanceof Error ? e.message : String(e));
    }
    if (spec.hooks?.poststop) runLaterHooks("poststop", spec.hooks, hookState("stopped", 0), warnLine);
  }
  if (note) stderr(`myuts: ${note.message}\n`);
  return note?.exitCode ?? exitCode(status!);
}

/** Waits without blocking the event loop, so forwarded signals keep flowing. */
export function waitExit(pid: number): Promise<number> {
  return new Promise((resolve) => {
    // SIGCHLD handlers don't keep Bun's event loop alive; this timer does, and
    // doubles as a fallback poll.
    const keepAlive = setInterval(() => check(), 250);
    const check = () => {
      const r = waitNoHang(pid);
      if (!r) return;
      clearInterval(keepAlive);
      process.off("SIGCHLD", check);
      resolve(r.status);
    };
    process.on("SIGCHLD", check);
    check(); // it may have exited before the handler existed
  });
}
