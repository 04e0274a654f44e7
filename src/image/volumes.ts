// An image's VOLUME paths (docker's anonymous volumes): a directory of the container's
// own for each, outside the overlay, bound over the path, and seeded with what the
// image holds there, as docker does. They live in the container's directory in the
// store, so they go with it.
import { fs, path } from "../util/node.ts";

/**
 * Copies the image's content at `dest` (an absolute path in the image) into `target`:
 * from the topmost layer that has it as a directory (a path whose parts are all real
 * directories there; a symlink on the way is not followed out of the layer). Owners are
 * kept when this process may set them. Whiteouts and device nodes are not copied.
 */
export function seedVolume(lowerdirs: readonly string[], dest: string, target: string): void {
  fs().mkdirSync(target, { recursive: true, mode: 0o755 });
  const parts = dest.split("/").filter(Boolean);
  for (const layer of lowerdirs) {
    let p = layer;
    let ok = true;
    for (const [i, part] of parts.entries()) {
      p = path().join(p, part);
      const st = fs().lstatSync(p, { throwIfNoEntry: false });
      // Something else there (a whiteout, a file) hides the lower layers' directory: nothing to seed.
      if (st && !st.isDirectory() && i === parts.length - 1) return;
      if (!st?.isDirectory()) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    copyTree(p, target);
    return;
  }
}

const mayChown = (process.geteuid?.() ?? 0) === 0;

function copyTree(src: string, dst: string): void {
  const st = fs().lstatSync(src);
  fs().chmodSync(dst, st.mode & 0o7777);
  if (mayChown) fs().lchownSync(dst, st.uid, st.gid);
  for (const e of fs().readdirSync(src, { withFileTypes: true })) {
    const from = path().join(src, e.name);
    const to = path().join(dst, e.name);
    const s = fs().lstatSync(from);
    if (e.isDirectory()) {
      fs().mkdirSync(to, 0o700);
      copyTree(from, to);
    } else if (e.isFile()) {
      fs().copyFileSync(from, to);
      if (mayChown) fs().lchownSync(to, s.uid, s.gid);
      fs().chmodSync(to, s.mode & 0o7777);
    } else if (e.isSymbolicLink()) {
      fs().symlinkSync(fs().readlinkSync(from), to);
      if (mayChown) fs().lchownSync(to, s.uid, s.gid);
    }
    // A whiteout (a 0/0 device), a FIFO or a device node: not a volume's seed.
  }
}
