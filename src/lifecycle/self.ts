// How to re-exec this program as the init stage. In the compiled binary that is
// /proc/self/exe itself; from source it is bun with the entry script.
function isCompiled(): boolean {
  return Bun.main.startsWith("/$bunfs/");
}

export function initCommand(specFd: number, statusFd: number): { path: string; argv: string[] } {
  const tail = ["init", String(specFd), String(statusFd)];
  if (isCompiled()) return { path: "/proc/self/exe", argv: ["myuts", ...tail] };
  return { path: "/proc/self/exe", argv: ["bun", Bun.main, ...tail] };
}
