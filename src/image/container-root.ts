// A container's own part of an image root: a directory under the store's
// containers/ holding the overlay's upper and work dirs and the (empty) directory
// the setup program mounts the overlay on. The directory's name starts with the
// owning runtime's pid and start time: the runtime removes it when the container
// ends, however it ends; when the runtime itself was killed, the next image command
// finds the owner gone and removes it (sweepContainerRoots).
import type { RootOverlay } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs, path } from "../util/node.ts";
import { ownerIsDead, ownerTag, processStart } from "../util/process-start.ts";
import { copyLayers } from "./layer-copy.ts";
import { removeTree } from "./remove-tree.ts";
import { sweepDead } from "./store.ts";

export interface ReservedRoot {
  path: string;
  upperdir: string;
  workdir: string;
  /** Removes the directory and whatever is in it (nothing once the run removed it); never throws. */
  release(): void;
}

/**
 * Makes a new container's (empty) directory under `containersDir` and names its three
 * dirs. Made while the image's layers are held against `image prune`, it keeps them
 * from then on: prune leaves every layer alone while any container directory exists.
 */
export function reserveContainerRoot(containersDir: string): ReservedRoot {
  const dir = path().join(containersDir, `${ownerTag()}.${crypto.randomUUID().slice(0, 12)}`);
  try {
    fs().mkdirSync(dir, 0o700);
  } catch (e) {
    throw fsError(`container root ${dir}`, e, "mkdir");
  }
  return {
    path: path().join(dir, "merged"),
    upperdir: path().join(dir, "upper"),
    workdir: path().join(dir, "work"),
    release: () => {
      try {
        removeTree(dir);
      } catch {
        // left for the next command's sweep (this process will be gone by then)
      }
    },
  };
}

/**
 * Makes the upper, work and root dirs in the reserved directory (none may exist yet);
 * returns what removes the whole directory.
 */
export interface ContainerRoot {
  remove(): void;
  /**
   * A detached container's: renames the directory for the process that now owns it (the
   * monitor), once the overlay is mounted; returns its new path, which `removeContainerRoot` takes.
   */
  handTo(pid: number): string;
}

const OWNED = /^(\d{1,10}-\d{1,20})(\.[0-9a-f-]{1,36})$/;

/** The directory as a ContainerRoot: it can be removed, or handed to its next owner. */
function rootOf(start: string): ContainerRoot {
  let dir = start;
  return {
    remove: () => removeTree(dir),
    handTo: (pid: number) => {
      const m = OWNED.exec(path().basename(dir));
      const began = processStart(pid);
      if (!m || !began) return dir;
      const to = path().join(path().dirname(dir), `${pid}-${began}${m[2]}`);
      fs().renameSync(dir, to);
      dir = to;
      return to;
    },
  };
}

function checkOwnDir(dir: string): void {
  const st = fs().lstatSync(dir, { throwIfNoEntry: false });
  if (!st?.isDirectory() || st.uid !== (process.geteuid?.() ?? 0)) throw new UserError(`container root ${dir}: not a directory of this user's image store`);
}

/** A restarted detached container's directory, as its last run left it (its writes kept, as docker's restart keeps them). */
export function adoptContainerRoot(containersDir: string, dir: string): ContainerRoot {
  if (path().dirname(dir) !== containersDir || !OWNED.test(path().basename(dir))) throw new UserError(`container root ${dir}: not one of ${containersDir}`);
  checkOwnDir(dir);
  return rootOf(dir);
}

export function createContainerRoot(root: string, overlay: RootOverlay): ContainerRoot {
  const dir = path().dirname(root);
  checkOwnDir(dir);
  const { remove, handTo } = rootOf(dir);
  try {
    for (const p of overlay.copy ? [root] : [overlay.upperdir, overlay.workdir, root]) {
      if (path().dirname(p) !== dir) throw new Error(`${p} is not in ${dir}`);
      fs().mkdirSync(p, 0o755);
    }
  } catch (e) {
    remove();
    throw fsError(`container root ${dir}`, e, "mkdir");
  }
  try {
    if (overlay.copy) copyLayers(overlay.lowerdir, root, process.geteuid?.() === 0);
  } catch (e) {
    remove();
    throw e;
  }
  return { remove, handTo };
}

/**
 * Removes a detached container's directory, named in its (untrusted) description: only
 * a directory of the store's containers/ whose owner is gone.
 */
export function removeContainerRoot(containersDir: string, dir: string): void {
  if (path().dirname(dir) !== containersDir || !OWNED.test(path().basename(dir))) throw new UserError(`container root ${dir}: not one of ${containersDir}`);
  const owner = path().basename(dir).split(".")[0]!;
  // The monitor runs the cleanup as itself (its exit command): its own directory may go.
  if (owner !== ownerTag() && !ownerIsDead(owner)) throw new UserError(`container root ${dir}: its owner still runs`);
  if (fs().existsSync(dir)) removeTree(dir);
}

/** Removes container roots whose runtime is gone (killed before it could); how many. */
export function sweepContainerRoots(containersDir: string): number {
  return sweepDead(containersDir);
}
