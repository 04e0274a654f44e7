// Resolves a container path inside the root filesystem the way the container will
// see it: symlinks are followed relative to the root and can never climb above it.
// The rootfs is the container's content and so hostile input.
import { readlinkIfLink } from "../../ffi/files.ts";

const MAX_LINKS = 255;

export function secureJoin(root: string, unsafe: string): string {
  const parts = unsafe.split("/").filter((p) => p && p !== ".");
  const resolved: string[] = [];
  let links = 0;
  while (parts.length) {
    const part = parts.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const candidate = `${root}/${[...resolved, part].join("/")}`;
    // A missing component is created later by the caller, inside the root.
    const target = readlinkIfLink(candidate);
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw Object.assign(new Error(`too many symlinks under ${unsafe}`), { code: "ELOOP" });
    if (target.startsWith("/")) resolved.length = 0;
    parts.unshift(...target.split("/").filter((p) => p && p !== "."));
  }
  return resolved.length ? `${root === "/" ? "" : root}/${resolved.join("/")}` : root;
}
