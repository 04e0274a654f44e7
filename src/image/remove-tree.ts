// Removing a directory tree the store made, including what overlayfs made in it.
import { fsError } from "../util/fs-errors.ts";
import { fs, path } from "../util/node.ts";

/**
 * Removes a directory tree. overlayfs leaves a mode-000 directory in the work
 * dir (work/work), which a non-root owner can't descend into: on EACCES every
 * directory of the tree is made 0700 (never following a link) and the removal retried.
 */
export function removeTree(dir: string): void {
  try {
    fs().rmSync(dir, { recursive: true, force: true });
    return;
  } catch (e) {
    if ((e as { code?: string }).code !== "EACCES") throw fsError(`remove ${dir}`, e, "unlink");
  }
  const open = (d: string): void => {
    fs().chmodSync(d, 0o700);
    for (const e of fs().readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) open(path().join(d, e.name));
  };
  try {
    open(dir);
    fs().rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    throw fsError(`remove ${dir}`, e, "unlink");
  }
}
