// Runs test/vm/run.sh (also `bun run test:vm`): the cgroup and AppArmor checks inside
// a cgroup v2 VM under qemu, then the SELinux checks in a second boot. Skipped, with
// the reason, when qemu or a package is missing.
import { expect, test } from "bun:test";
import { resolve } from "node:path";

const script = resolve(import.meta.dir, "run.sh");
const isRoot = process.getuid?.() === 0;

test.skipIf(!isRoot)(
  "in a VM: cgroup v2 (limits, OOM, pids, cpu, cgroupns, subtree_control, cleanup), AppArmor and SELinux (default, named and denied labels, exec, OCI)",
  () => {
    const r = Bun.spawnSync(["bash", script], { stdout: "pipe", stderr: "pipe", timeout: 560_000 });
    const out = r.stdout.toString() + r.stderr.toString();
    if (r.exitCode === 77) {
      console.warn(`VM test skipped: ${out.trim()}`);
      return;
    }
    if (r.exitCode !== 0) console.error(out);
    expect(out).toContain("VM-DONE");
    expect(out).not.toMatch(/^FAIL /m);
    expect(r.exitCode).toBe(0);
  },
  600_000,
);
