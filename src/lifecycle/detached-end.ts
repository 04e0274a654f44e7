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
import { readMeta, removeDetached } from "./detached.ts";
import { forgetPeer, releaseEnded } from "./registry-hooks.ts";
import { lockStateDir } from "./state-dir.ts";
import { isLive, readState, type ContainerState } from "./state.ts";

const warn = (msg: string) => stderr(`myuts: warning: ${escapeControl(msg)}\n`);

/**
 * Frees what the container held. `self`: this process is its monitor (the exit command).
 * The runtime hands the registry entry to the monitor just before the payload runs, so a
 * payload that ends at once may find the entry still its runtime's: that is waited for.
 */
export async function endDetached(name: string, opts: { self: boolean; keepContainer?: boolean }): Promise<string[]> {
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
  if (meta?.imageRoot) {
    try {
      removeContainerRoot(path().join(defaultStoreRoot(), "containers"), meta.imageRoot);
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
  }
  if (meta?.autoRemove && !opts.keepContainer && !problems.length) removeDetached(name);
  return problems;
}
