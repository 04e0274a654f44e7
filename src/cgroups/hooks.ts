// What `runSpec` attaches to every container: its entry in the state registry and,
// when the spec asks for limits, its cgroup. The cgroup is made before the clone and
// joined at the pre-exec barrier, so the init stage's own memory is not charged to
// the container and no payload instruction runs unlimited.
import { fs } from "../util/node.ts";
import type { ContainerHooks } from "../lifecycle/run.ts";
import { claimName, randomName, removeState, saveState, selfRef, sweepStale, type ContainerState } from "../lifecycle/state.ts";
import type { Spec } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { describeFsError } from "../util/fs-errors.ts";
import type { Tracer } from "../util/trace.ts";
import { Cgroup } from "./cgroup.ts";
import { collectGarbage, removeStaleCgroups } from "./gc.ts";
import { needsBarrier, wantsCgroup } from "./policy.ts";
import { formatBytes } from "./units.ts";

const SIGKILL = 9;
const warn = (msg: string) => void process.stderr.write(`myuts: warning: ${msg}\n`);

export function containerHooks(spec: Spec, opts: { name?: string; register?: boolean; t: Tracer }): ContainerHooks {
  const { t } = opts;
  const name = opts.name ?? randomName();
  let state: ContainerState | undefined;
  let cg: Cgroup | undefined;
  const oomScoreAdj = spec.process?.oomScoreAdj;

  const hooks: ContainerHooks = {
    prepare() {
      // A SIGKILLed runtime can't remove its entry or cgroup: every start sweeps them
      // (this runs while the init stage boots, off the start's critical path).
      removeStaleCgroups(t.step("remove stale registry entries", () => sweepStale()));
      if (!opts.register && !wantsCgroup(spec)) return;
      const s: ContainerState = {
        name,
        status: "creating",
        owner: selfRef(),
        created: new Date().toISOString(),
        ...(spec.root?.path && spec.root.path !== "/" ? { rootfs: spec.root.path } : {}),
        ...(spec.linux?.resources ? { resources: spec.linux.resources } : {}),
      };
      t.step(`register container ${name}`, () => claimName(s));
      state = s;
      if (!wantsCgroup(spec)) return;
      cg = t.step("create the cgroup and apply its limits", () => Cgroup.create(spec, name, warn));
      s.cgroup = cg.paths;
      const leaves = Object.values(cg.paths.dirs);
      t.step("remove stale myuts cgroups", () => collectGarbage(leaves));
    },
    started(pid: number) {
      if (!state) return;
      state.pid = pid;
      state.status = "running";
      saveState(state);
    },
    afterExit(status: number) {
      if (!cg) return undefined;
      const killed = (status & 0x7f) === SIGKILL || (status & 0x7f) === 0 && ((status >> 8) & 0xff) === 128 + SIGKILL;
      if (!killed || cg.oomKills() === 0) return undefined;
      const limit = cg.memoryLimit();
      return { message: `the container was killed: out of memory${limit !== undefined ? ` (limit ${formatBytes(limit)})` : ""}`, exitCode: 128 + SIGKILL };
    },
    cleanup() {
      if (cg) for (const p of t.step("remove the cgroup", () => cg!.destroy())) warn(`cgroup cleanup: ${p}`);
      if (state) removeState(name);
    },
  };
  if (needsBarrier(spec)) {
    hooks.beforeExec = (pid: number) => {
      if (cg) t.step(`join the cgroup (pid ${pid})`, () => cg!.join(pid));
      if (oomScoreAdj !== undefined) {
        try {
          fs().writeFileSync(`/proc/${pid}/oom_score_adj`, String(oomScoreAdj));
        } catch (e) {
          throw new UserError(`--oom-score-adj ${oomScoreAdj}: write /proc/${pid}/oom_score_adj: ${describeFsError(e)}`);
        }
      }
    };
  }
  return hooks;
}

/** Runs several hook sets as one: setup in order, teardown in reverse, every cleanup even if one throws. */
export function combineHooks(...sets: ContainerHooks[]): ContainerHooks {
  const out: ContainerHooks = {
    prepare: () => sets.forEach((h) => h.prepare?.()),
    started: (pid) => sets.forEach((h) => h.started?.(pid)),
    afterExit: (status) => {
      for (const h of sets) {
        const n = h.afterExit?.(status);
        if (n) return n;
      }
      return undefined;
    },
    cleanup: (status) => {
      let first: unknown;
      for (const h of [...sets].reverse()) {
        try {
          h.cleanup?.(status);
        } catch (e) {
          first ??= e;
        }
      }
      if (first !== undefined) throw first;
    },
  };
  // The barrier costs a round trip: only when some set needs it.
  if (sets.some((h) => h.beforeExec)) out.beforeExec = (pid) => sets.forEach((h) => h.beforeExec?.(pid));
  return out;
}
