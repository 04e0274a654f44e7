// A /run of the test's own. Other runtimes on the machine sweep the shared
// registry in /run/myuts at every start; a test that leaves a dead runtime's entry
// on purpose and then checks what the next start does must keep them out.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PrivateRun {
  /** Prefix for a myuts command line: a private mount namespace with `dir` over /run. */
  wrap: string[];
  /** Where those commands' registry is, seen from here. */
  stateDir: string;
  cleanup(): void;
}

export function privateRun(): PrivateRun {
  const dir = mkdtempSync(join(tmpdir(), "myuts-private-run-"));
  return {
    wrap: ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", `mount --bind ${dir} /run && exec "$@"`, "sh"],
    stateDir: join(dir, "myuts"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
