// A container's own part of an image root: a directory under the store's
// containers/ holding the overlay's upper and work dirs and the (empty) directory
// the setup program mounts the overlay on. The directory's name starts with the
// owning runtime's pid and start time: the runtime removes it when the container
// ends, however it ends; when the runtime itself was killed, the next image command
// finds the owner gone and removes it (sweepContainerRoots).
import type { RootOverlay } from "../spec/types.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs, path } from "../util/node.ts";
import { ownerTag } from "../util/process-start.ts";
import { removeTree } from "./remove-tree.ts";
import { sweepDead } from "./store.ts";

/** Paths for a new container under `containersDir` (nothing is created yet). */
export function planContainerRoot(containersDir: string): { path: string; upperdir: string; workdir: string } {
  const dir = path().join(containersDir, `${ownerTag()}.${crypto.randomUUID().slice(0, 12)}`);
  return { path: path().join(dir, "merged"), upperdir: path().join(dir, "upper"), workdir: path().join(dir, "work") };
}

/**
 * Makes the container's directory and its three dirs; returns what removes them. The
 * directory must not exist yet, so removal only ever takes what this call made.
 */
export function createContainerRoot(root: string, overlay: RootOverlay): { remove(): void } {
  const dir = path().dirname(root);
  try {
    fs().mkdirSync(dir, 0o700);
  } catch (e) {
    throw fsError(`container root ${dir}`, e, "mkdir");
  }
  const remove = () => removeTree(dir);
  try {
    for (const p of [overlay.upperdir, overlay.workdir, root]) {
      if (path().dirname(p) !== dir) throw new Error(`${p} is not in ${dir}`);
      fs().mkdirSync(p, 0o755);
    }
  } catch (e) {
    remove();
    throw fsError(`container root ${dir}`, e, "mkdir");
  }
  return { remove };
}

/** Removes container roots whose runtime is gone (killed before it could); how many. */
export function sweepContainerRoots(containersDir: string): number {
  return sweepDead(containersDir);
}
