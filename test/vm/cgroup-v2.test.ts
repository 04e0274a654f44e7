// Runs test/vm/run.sh (also `bun run test:vm`): the cgroup checks inside a cgroup v2
// VM under qemu. Skipped, with the reason, when qemu or the kernel package is missing.
import { expect, test } from "bun:test";
import { resolve } from "node:path";

const script = resolve(import.meta.dir, "run.sh");
const isRoot = process.getuid?.() === 0;

test.skipIf(!isRoot)(
  "in a VM: cgroup v2 (limits, OOM, pids, cpu, cgroupns, subtree_control, cleanup) and AppArmor (default and named profiles, exec, OCI)",
  () => {
    const r = Bun.spawnSync(["bash", script], { stdout: "pipe", stderr: "pipe", timeout: 300_000 });
    const out = r.stdout.toString() + r.stderr.toString();
    if (r.exitCode === 77) {
      console.warn(`cgroup v2 VM test skipped: ${out.trim()}`);
      return;
    }
    if (r.exitCode !== 0) console.error(out);
    expect(out).toContain("VM-DONE");
    expect(out).not.toMatch(/^FAIL /m);
    expect(r.exitCode).toBe(0);
  },
  300_000,
);
