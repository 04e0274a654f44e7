// How this myuts runs itself again (a detached container's cleanup, the TypeScript
// API's short commands): the compiled binary as itself, the source stages under Bun.
import { path } from "./node.ts";

export function selfCommand(): string[] {
  // The compiled binary's entry is under /$bunfs; from source, main.ts is beside util/.
  const compiled = Bun.main.startsWith("/$bunfs/");
  return compiled ? [process.execPath] : [process.execPath, path().join(import.meta.dir, "..", "main.ts")];
}
