// What `runSpec` attaches to every container: its entry in the state registry,
// its cgroup when the spec asks for limits, and its OOM score. The order matters
// for what a later start may clean up: the cgroup is planned, then recorded in the
// entry (under the registry's lock), and only then created, so a runtime killed at
// any point leaves an entry naming everything it made, and a sweep touches nothing
// but what a provably dead runtime recorded.
import { releaseCgroup } from "../cgroups/gc.ts";
import { ContainerCgroup } from "../cgroups/hooks.ts";
import { needsBarrier, wantsCgroup } from "../cgroups/policy.ts";
import type { Spec } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { stderr } from "../util/output.ts";
import { escapeControl } from "../util/text.ts";
import type { Tracer } from "../util/trace.ts";
import type { ContainerHooks } from "./run.ts";
import { lockStateDir, STATE_DIR, type StateLock } from "./state-dir.ts";
import { randomName } from "./names.ts";
import { setOomScoreAdj } from "./oom-score.ts";
import { claimName, removeState, saveState, selfRef, sweepStale, type ContainerState } from "./state.ts";

const warn = (msg: string) => stderr(`myuts: warning: ${escapeControl(msg)}\n`);

/**
 * The registry, locked. A run that must register fails on a directory it can't
 * trust; one that only sweeps warns and leaves it alone.
 */
function openRegistry(create: boolean): StateLock | undefined {
  try {
    return lockStateDir({ create });
  } catch (e) {
    if (create || !(e instanceof UserError)) throw e;
    warn(`${e.message}; stale containers not swept`);
    return undefined;
  }
}

export function containerHooks(spec: Spec, opts: { name?: string; register?: boolean; t: Tracer }): ContainerHooks {
  const { t } = opts;
  const name = opts.name ?? randomName();
  let state: ContainerState | undefined;
  let cgroup: ContainerCgroup | undefined;
  const oomScoreAdj = spec.process?.oomScoreAdj;

  const hooks: ContainerHooks = {
    prepare() {
      const wants = wantsCgroup(spec);
      const register = opts.register === true || wants;
      if (wants) cgroup = new ContainerCgroup(spec, name, t, warn);
      const lock = t.step("lock the registry", () => openRegistry(register));
      if (!lock) return;
      try {
        // A SIGKILLed runtime can't remove its entry or cgroup: every start with state
        // sweeps them (while the init sets the container up, off the start's critical path).
        t.step("remove stale registry entries", () => sweepStale(lock.dir, (s) => (s.cgroup ? releaseCgroup(s.cgroup) : []), warn));
        if (!register) return;
        const s: ContainerState = {
          name,
          status: "creating",
          owner: selfRef(),
          created: new Date().toISOString(),
          ...(spec.root?.path && spec.root.path !== "/" ? { rootfs: spec.root.path } : {}),
          ...(spec.linux?.resources ? { resources: spec.linux.resources } : {}),
          ...(spec.linux?.seccomp ? { seccomp: spec.linux.seccomp } : {}),
          ...(cgroup ? { cgroup: cgroup.plan.paths } : {}),
        };
        t.step(`register container ${name}`, () => claimName(s, lock.dir));
        state = s;
      } finally {
        lock.release();
      }
      if (cgroup && state) state.cgroup = cgroup.create();
    },
    started(pid: number) {
      if (!state) return;
      state.pid = pid;
      state.status = "running";
      saveState(state);
    },
    afterExit(status: number) {
      return cgroup?.afterExit(status);
    },
    cleanup() {
      const problems = cgroup?.destroy() ?? [];
      for (const p of problems) warn(`cgroup cleanup: ${p}`);
      // A cgroup that could not be removed keeps the entry: the next start finds this
      // runtime gone and tries again.
      if (!state || problems.length) return;
      let lock: StateLock | undefined;
      try {
        lock = lockStateDir({ create: false });
      } catch {
        // it was fine at the start; the entry is removed all the same
      }
      try {
        removeState(name, STATE_DIR);
        // Nothing of this user's left: don't leave an empty directory behind.
        lock?.removeIfEmpty();
      } finally {
        lock?.release();
      }
    },
  };
  if (needsBarrier(spec)) {
    hooks.beforeExec = (pid: number) => {
      cgroup?.join(pid);
      if (oomScoreAdj !== undefined) setOomScoreAdj(pid, oomScoreAdj);
    };
  }
  return hooks;
}
