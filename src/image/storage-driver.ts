// How an image root is made: an overlay of the store's layers (the default), or a
// copy of them ("vfs", podman's name for it). overlayfs mounts in a user namespace
// came with Linux 5.11, so a container with one falls back to the copy on an older
// kernel, with a warning. MYUTS_STORAGE_DRIVER chooses either, as STORAGE_DRIVER
// does for podman.
import { UserError } from "../util/errors.ts";
import { os } from "../util/node.ts";

export type StorageDriver = "overlay" | "vfs";

/** Whether this kernel mounts overlayfs inside a user namespace (Linux 5.11 and later). */
export function usernsOverlay(release = os().release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return true;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 5 || (major === 5 && minor >= 11);
}

export function storageDriver(requested: string | undefined, userns: boolean, warn: (msg: string) => void, release?: string): StorageDriver {
  if (requested !== undefined && requested !== "") {
    if (requested !== "overlay" && requested !== "vfs") throw new UserError(`MYUTS_STORAGE_DRIVER=${requested}: expected overlay or vfs`);
    return requested;
  }
  if (userns && !usernsOverlay(release)) {
    warn(
      "this kernel can't mount overlayfs in a user namespace (Linux 5.11 can): the image's layers are copied into the container, which is slower and takes disk space",
    );
    return "vfs";
  }
  return "overlay";
}
