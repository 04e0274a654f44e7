// The end of a detached container: what its monitor's exit command (`myuts cleanup
// NAME`, run as the monitor's own process once the container is gone) does, and
// what `rm` does for one whose monitor was killed. Frees its cgroup and network,
// removes its registry entry and image directory, and with --rm the container.
import { removeContainerRoot } from "../image/container-root.ts";
import { defaultStoreRoot } from "../image/store.ts";
import { UserError } from "../util/errors.ts";
import { path } from "../util/node.ts";
import { stderr } from "../util/output.ts";
import { escapeControl } from "../util/text.ts";
import { type DetachedMeta, exitOf, readMeta, removeDetached, wasStopped, writeMeta } from "./detached.ts";
import { keyringName, runSpec } from "./run.ts";
import type { ValidSpec } from "../spec/types.ts";
import { forgetPeer, releaseEnded } from "./registry-hooks.ts";
import { lockStateDir } from "./state-dir.ts";
import { isLive, readState, type ContainerState } from "./state.ts";

const warn = (msg: string) => stderr(`myuts: warning: ${escapeControl(msg)}\n`);

/**
 * Frees what the container held. `self`: this process is its monitor (the exit command).
 * The runtime hands the registry entry to the monitor just before the payload runs, so a
 * payload that ends at once may find the entry still its runtime's: that is waited for.
 */
export async function endDetached(name: string, opts: { self: boolean; keepContainer?: boolean }): Promise<{ problems: string[]; restart?: DetachedMeta }> {
  const meta = readMeta(name);
  let released: ContainerState | undefined;
  const problems: string[] = [];
  for (let attempt = 0; ; attempt++) {
    const lock = lockStateDir({ create: false });
    if (!lock) break;
    let wait = false;
    try {
      const s = readState(name, lock.dir, warn);
      if (s && isLive(s) && !(opts.self && s.owner.pid === process.pid)) {
        if (attempt >= 100) throw new UserError(`container ${name}: still running (its monitor is pid ${s.owner.pid})`);
        wait = true;
      } else if (s) {
        problems.push(...releaseEnded(s, lock.dir));
        released = s;
      }
    } finally {
      lock.release();
    }
    if (!wait) break;
    await Bun.sleep(50);
  }
  if (released) forgetPeer(released);
  // --restart on-failure: its image root (its writes) stays for the next run, as does the container.
  const restart = opts.self && !problems.length && meta && !wasStopped(name) && restartDue(meta, exitOf(name)?.code) ? meta : undefined;
  if (restart) return { problems, restart };
  if (meta?.imageRoot) {
    try {
      removeContainerRoot(path().join(defaultStoreRoot(), "containers"), meta.imageRoot);
    } catch (e) {
      // Left for the store's own sweep (or refused as not the store's): the container still goes.
      warn(e instanceof Error ? e.message : String(e));
    }
  }
  if (meta?.autoRemove && !opts.keepContainer && !problems.length) removeDetached(name);
  return { problems };
}

function restartDue(meta: DetachedMeta, code: number | undefined): boolean {
  const r = meta.restart;
  return r !== undefined && code !== undefined && code !== 0 && (r.max === undefined || r.count < r.max);
}

/**
 * Starts a detached container again, as its last run's cleanup (the monitor's exit
 * command): after a pause that doubles with each restart, as docker's does; the spec is
 * the one it was started with, validated again by the caller.
 */
export async function restartDetached(spec: ValidSpec, meta: DetachedMeta): Promise<void> {
  const count = meta.restart?.count ?? 0;
  await Bun.sleep(Math.min(100 * 2 ** count, 10_000));
  const next: DetachedMeta = { ...meta, restart: { ...meta.restart, count: count + 1 } };
  writeMeta(next);
  // An image root moved with each owner: the spec names it where its first run had it.
  const kept = meta.imageRoot;
  const overlay = spec.root.overlay;
  const was = path().dirname(spec.root.path);
  const moved: ValidSpec =
    kept && overlay
      ? {
          ...spec,
          // The image's anonymous volumes live in the same directory.
          mounts: (spec.mounts ?? []).map((m) => (m.source?.startsWith(`${was}/`) ? { ...m, source: path().join(kept, m.source.slice(was.length + 1)) } : m)),
          root: {
            ...spec.root,
            path: path().join(kept, path().basename(spec.root.path)),
            overlay: {
              ...overlay,
              upperdir: path().join(kept, path().basename(overlay.upperdir)),
              workdir: path().join(kept, path().basename(overlay.workdir)),
            },
          },
        }
      : spec;
  await runSpec(moved, {
    trace: false,
    origin: performance.timeOrigin,
    name: meta.name,
    register: true,
    keyring: meta.newKeyring ? keyringName(meta.name) : undefined,
    init: meta.init,
    detach: { meta: next, env: process.env, restart: true },
  });
}
