/** An absolute, normalised path (`.`, `..` and repeated slashes folded), without node:path. */
export function absolute(p: string, cwd: string = process.cwd()): string {
  const parts: string[] = [];
  for (const seg of (p.startsWith("/") ? p : `${cwd}/${p}`).split("/")) {
    if (!seg || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return `/${parts.join("/")}`;
}

/** node:path's join for an absolute first part: joined and normalised, without node:path. */
export function joinPath(first: string, ...rest: string[]): string {
  return absolute([first, ...rest].join("/"));
}

/** The parent of an absolute, normalised path ("/" for a top-level one and for "/"). */
export function parentPath(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}
