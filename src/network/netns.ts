// A container's network namespace as a file: made by the runtime before the container
// exists, so the CNI plugins always have it to configure and, at the end, to clean
// up, whatever became of the container's processes. The container joins it by path.
import { bindNewNetns, detachMount } from "../../ffi/libc.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs, path } from "../util/node.ts";

/** Makes the namespace and binds it on `file` (which must not exist yet). */
export function createNetns(file: string): void {
  const f = fs();
  try {
    f.mkdirSync(path().dirname(file), { recursive: true, mode: 0o700 });
    f.closeSync(f.openSync(file, f.constants.O_WRONLY | f.constants.O_CREAT | f.constants.O_EXCL | f.constants.O_NOFOLLOW, 0o444));
  } catch (e) {
    throw fsError(`network namespace ${file}`, e, "open");
  }
  const back = f.openSync("/proc/thread-self/ns/net", "r");
  try {
    bindNewNetns(file, back);
  } catch (e) {
    f.rmSync(file, { force: true });
    throw fsError(`network namespace ${file}`, e);
  } finally {
    f.closeSync(back);
  }
}

/** Unbinds and removes the file; the namespace ends once nothing else holds it. What went wrong. */
export function removeNetns(file: string): string[] {
  detachMount(file);
  try {
    fs().rmSync(file, { force: true });
    return [];
  } catch (e) {
    return [`network namespace ${file}: ${(e as Error).message}`];
  }
}
