// `create`: builds an OCI container and leaves its first process waiting for `start`.
// Apart from the state operations (container.ts), so that `start`, `state`, `kill` and
// `delete` don't load the setup compiler and the rest of a start's code.
import { prepareIdmappedMounts, type PreparedIdmaps } from "./idmap-mounts.ts";
import { ensureDefaultProfile } from "./apparmor.ts";
import { networkRequest } from "./network.ts";
import { NETWORK_ANNOTATION } from "../network/request.ts";
import { close, kill as sendSignal } from "../../ffi/libc.ts";
import type { Pty } from "../../ffi/terminal.ts";
import { openConsole, sendConsole } from "./console.ts";
import type { ValidSpec } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { makeDir, removeTree, replaceFile } from "../../ffi/files.ts";
import { Tracer } from "../util/trace.ts";
import { keyringName, planRun } from "./run.ts";
import { sendListener } from "./seccomp-agent.ts";
import { launch } from "./start.ts";
import { STATE_DIR } from "./state-dir.ts";
import { planUserNamespace, writeUserNamespaceMaps } from "./userns.ts";
import { loadNative } from "../../ffi/native.ts";
import { Cgroup } from "../cgroups/cgroup.ts";
import { wantsCgroup } from "../cgroups/policy.ts";
import { joinTraced } from "../cgroups/hooks.ts";
import { setOomScoreAdj } from "./oom-score.ts";
import { hasHooks, runCreateHooks } from "./hooks.ts";
import { dirOf, hookState, locked, type Saved, warn, writeSaved } from "./container.ts";
import { processStart } from "../util/process-start.ts";

export interface CreateRequest {
  id: string;
  bundle: string;
  root?: string;
  pidFile?: string;
  /** runc's --console-socket: where the terminal's master end goes when process.terminal is set. */
  consoleSocket?: string;
  /** runc's --no-pivot: MS_MOVE and chroot instead of pivot_root. */
  noPivot?: boolean;
  /** A new session keyring (unless runc's --no-new-keyring). */
  newKeyring?: boolean;
  /** runc's --preserve-fds: descriptors 3 to 3+N-1 reach the payload. */
  preserveFds?: number;
  trace: boolean;
  origin: number;
}

/**
 * Builds the container and leaves its first process waiting for `start`, then returns.
 * A cgroup (limits, cgroupsPath) is recorded in the state before it is made, joined at
 * the first sync step, and removed by `delete`.
 */
export async function createContainer(spec: ValidSpec, r: CreateRequest): Promise<void> {
  const root = r.root ?? STATE_DIR;
  if (spec.process.terminal && r.consoleSocket === undefined) {
    throw new UserError("create: process.terminal needs --console-socket: the socket that receives the terminal's master end");
  }
  if (!spec.process.terminal && r.consoleSocket !== undefined) throw new UserError("create: --console-socket needs process.terminal in the spec");
  // Attaching and detaching need a runtime that lives as long as the container: only `run` has one.
  if (networkRequest(spec)) throw new UserError(`create: annotation ${NETWORK_ANNOTATION}: networks are attached by myuts run only`);
  const t = new Tracer(r.trace, r.origin, "create");
  if (spec.process.apparmorProfile) t.step("AppArmor: load the default profile if needed", () => ensureDefaultProfile(spec.process.apparmorProfile));
  const dir = dirOf(root, r.id);
  const cgroupPlan = wantsCgroup(spec) ? Cgroup.plan(spec, r.id) : undefined;
  const base: Saved = {
    id: r.id,
    status: "creating",
    pid: 0,
    pidStart: "",
    bundle: r.bundle,
    created: new Date().toISOString(),
    annotations: spec.annotations ?? {},
    ...(cgroupPlan ? { cgroup: cgroupPlan.paths } : {}),
    ...(hasHooks(spec.hooks, ["poststart", "poststop"]) ? { hooks: { poststart: spec.hooks?.poststart, poststop: spec.hooks?.poststop } } : {}),
    ...(spec.linux.seccomp ? { seccomp: spec.linux.seccomp } : {}),
  };
  locked(root, true, () => {
    try {
      makeDir(dir, 0o700);
    } catch (e) {
      if ((e as { code?: string }).code === "EEXIST") throw new UserError(`container ${r.id}: already exists`);
      throw fsError(`container ${r.id}: ${dir}`, e, "mkdir");
    }
    writeSaved(root, base);
  });
  let cgroup: Cgroup | undefined;
  let pty: Pty | undefined;
  let createdPid = 0;
  let idmaps: PreparedIdmaps | undefined;
  try {
    await t.stepAsync("load the native pieces", loadNative);
    // The namespaces that hold idmapped mounts' mappings; they end once the mounts exist.
    idmaps = await prepareIdmappedMounts(spec, t, r.preserveFds);
    if (cgroupPlan) cgroup = t.step("create the cgroup and apply its limits", () => Cgroup.fromPlan(cgroupPlan, warn));
    if (spec.process.terminal) pty = t.step("open the terminal", () => openConsole("create", spec.process));
    const plan = planRun(spec, {
      t,
      detached: true,
      terminal: pty?.slave,
      noPivot: r.noPivot,
      keyring: r.newKeyring ? keyringName(r.id) : undefined,
      preserveFds: r.preserveFds,
      hookState: (pid) => JSON.stringify(hookState(base, "created", pid)),
      cgroupDir: cgroup?.birthDir(),
      idmapped: idmaps,
    });
    const ids = plan.userns ? planUserNamespace(spec) : undefined;
    const oomScoreAdj = spec.process.oomScoreAdj;
    await launch(plan, t, {
      idMaps: (child) => ids && writeUserNamespaceMaps(child, ids),
      ready: (pid) => {
        if (cgroup) joinTraced(cgroup, pid, t, `join the cgroup (pid ${pid})`, "the container's process was born in its cgroup (CLONE_INTO_CGROUP)");
        if (oomScoreAdj !== undefined) setOomScoreAdj(pid, oomScoreAdj);
      },
      hooksStep: (pid) => t.step("createRuntime and createContainer hooks", () => runCreateHooks(spec.hooks, hookState(base, "creating", pid))),
      seccompListener: (pid, fd) =>
        sendListener(spec.linux.seccomp!, { id: r.id, bundle: r.bundle, status: "creating", annotations: spec.annotations }, pid, fd),
      created: (pid) => {
        createdPid = pid;
        const start = processStart(pid) ?? "";
        locked(root, false, () => writeSaved(root, { ...base, status: "created", pid, pidStart: start }));
        // runc's pid file: the number alone, no newline.
        if (r.pidFile) replaceFile(r.pidFile, Buffer.from(String(pid)), 0o666);
      },
    });
    if (pty) sendConsole("create", r.consoleSocket!, pty.master, createdPid);
  } catch (e) {
    // Created, but something after failed: it must not wait on.
    if (createdPid) sendSignal(createdPid, 9);
    for (const p of cgroup?.destroy() ?? []) warn(`cgroup cleanup: ${p}`);
    removeTree(dir);
    throw e;
  } finally {
    idmaps?.release();
    if (pty) close(pty.master);
  }
}
