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
