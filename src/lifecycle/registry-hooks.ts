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
import { processStart } from "../util/process-start.ts";
import { sweepAbandoned } from "./detached.ts";
import { Attachment, planNetwork, refreshPeers, releaseNetwork } from "../network/attach.ts";
import type { NetworkRequest } from "../network/request.ts";
import { claimName, isLive, listStates, removeState, saveState, selfRef, sweepStale, type ContainerState } from "./state.ts";

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

/** Frees what a dead runtime's container held: its cgroup (killing what still runs there), then its network (DEL). */
function releaseStale(s: ContainerState): string[] {
  return [...(s.cgroup ? releaseCgroup(s.cgroup) : []), ...(s.network ? releaseNetwork(s.network, s.name) : [])];
}

/**
 * A detached container's end (its monitor's exit command): frees what its entry names and
 * removes the entry. Call with the registry locked. Returns what could not be freed.
 */
export function releaseEnded(s: ContainerState, dir: string): string[] {
  const problems = releaseStale(s);
  if (!problems.length) removeState(s.name, dir);
  return problems;
}

/** After `releaseEnded`, without the lock: the other containers on its network forget its name. */
export function forgetPeer(s: ContainerState): void {
  if (s.network) updatePeers(s.network.network, s.name);
}

/** Sweeps the registry of dead runtimes' containers (`network ls` and `rm` do, so a killed run's network goes). */
export function sweepRegistry(): void {
  const lock = openRegistry(false);
  if (!lock) return;
  try {
    sweepStale(lock.dir, releaseStale, warn);
    sweepAbandoned(lock.dir, warn);
    // Nothing of this user's left: no empty directory stays behind either.
    if (lock.dir === STATE_DIR) lock.removeIfEmpty();
  } finally {
    lock.release();
  }
}

/** Brings the name lists of the network's live containers up to date, `leaving` left out. */
function updatePeers(network: string, leaving?: string): void {
  let lock: StateLock | undefined;
  try {
    lock = lockStateDir({ create: false });
    if (!lock) return;
    const members = listStates(lock.dir, warn).flatMap((s) =>
      s.network?.network === network && s.name !== leaving && isLive(s) ? [{ name: s.name, record: s.network }] : [],
    );
    refreshPeers(members);
  } catch (e) {
    warn(`network ${network}: other containers' names: ${(e as Error).message}`);
  } finally {
    lock?.release();
  }
}

export function containerHooks(
  spec: Spec,
  opts: { name?: string; register?: boolean; network?: NetworkRequest; t: Tracer; detached?: boolean },
): ContainerHooks {
  const { t } = opts;
  const name = opts.name ?? randomName();
  let state: ContainerState | undefined;
  let cgroup: ContainerCgroup | undefined;
  let network: Attachment | undefined;
  const oomScoreAdj = spec.process?.oomScoreAdj;

  const hooks: ContainerHooks = {
    async prepare() {
      const wants = wantsCgroup(spec);
      // Checked before anything exists: an unknown network or a missing plugin leaves nothing behind.
      const plan = opts.network && t.step("plan the network", () => planNetwork(opts.network!));
      const register = opts.register === true || wants || plan !== undefined;
      if (wants) cgroup = new ContainerCgroup(spec, name, t, warn);
      const lock = t.step("lock the registry", () => openRegistry(register));
      if (!lock) return;
      try {
        // A SIGKILLed runtime can't remove its entry, cgroup or network: every start with
        // state sweeps them (while the init sets the container up, off the start's critical path).
        t.step("remove stale registry entries", () => {
          sweepStale(lock.dir, releaseStale, warn);
          sweepAbandoned(lock.dir, warn);
        });
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
          ...(plan ? { network: plan } : {}),
        };
        t.step(`register container ${name}`, () => claimName(s, lock.dir, opts.detached));
        state = s;
      } finally {
        lock.release();
      }
      if (cgroup && state) state.cgroup = cgroup.create();
      if (plan && state && opts.network) {
        const s = state;
        network = new Attachment(opts.network, plan, name, () => saveState(s));
        const names = [spec.hostname, name].filter((n): n is string => !!n);
        await t.stepAsync(`network ${plan.network}: set up`, () => network!.setUp(names));
        t.step(`network ${plan.network}: names of the other containers`, () => updatePeers(plan.network));
      }
    },
    networkNamespace: () => network?.netnsPath,
    cgroupBirthDir: () => cgroup?.birthDir(),
    adopt(monitor: number, pid: number) {
      if (!state) return;
      // From now on the entry lives as long as the monitor: a monitor killed with its
      // container leaves an entry the next sweep releases, as a killed runtime's. Under the
      // lock: a sweep that read the entry naming this runtime must judge it while it lives.
      const lock = openRegistry(true);
      try {
        state.owner = { ...state.owner, pid: monitor, start: processStart(monitor) ?? "" };
        state.pid = pid;
        state.status = "running";
        saveState(state);
      } finally {
        lock?.release();
      }
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
      // After the cgroup: its processes are gone, nothing uses the namespace any more.
      if (network?.record.stage === "added") updatePeers(network.record.network, name);
      const netProblems = network ? t.step(`network ${network.record.network}: tear down`, () => network!.tearDown()) : [];
      for (const p of netProblems) warn(`network cleanup: ${p}`);
      problems.push(...netProblems);
      // A cgroup or network that could not be removed keeps the entry: the next start
      // finds this runtime gone and tries again.
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
