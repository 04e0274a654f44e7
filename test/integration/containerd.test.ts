// containerd with myuts as its runc (`ctr run --runc-binary dist/myuts`): the runc v2
// shim drives create, start, state, exec, kill and delete with runc's global --root,
// --log and --log-format. A private containerd (its own root, state and socket) runs
// for these tests and stops after them; what it makes outside its folders is removed.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isRoot, MYUTS, requireBinary, uniqueToken, waitFor } from "../helpers/myuts.ts";
import { cgroupDirs, removeCgroup } from "../helpers/cgroups.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

setDefaultTimeout(60_000);

const daemon = Bun.which("containerd");
const ctrPath = Bun.which("ctr");
/** What containerd and its shim make outside the folders given to them: removed afterwards unless it was there before. */
const SIDE_PATHS = ["/run/containerd"];
let sideBefore: string[] = [];
let cgroupsBefore = new Set<string>();
let fx: TestRootfs;
let dir = "";
let proc: ReturnType<typeof Bun.spawn> | undefined;
const image = "localhost/myuts-test:latest";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function ctr(...args: string[]): Result {
  const r = Bun.spawnSync([ctrPath!, "--address", join(dir, "containerd.sock"), ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore", timeout: 60_000 });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const runtime = () => ["--runc-binary", MYUTS, "--runc-root", join(dir, "runc-root")];

function blob(layout: string, data: Buffer | string): { digest: string; size: number } {
  const bytes = Buffer.from(data);
  const hex = createHash("sha256").update(bytes).digest("hex");
  writeFileSync(join(layout, "blobs", "sha256", hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

/** An OCI image archive of the test root filesystem, built by hand: one uncompressed layer. */
function imageArchive(): string {
  const layout = join(dir, "layout");
  mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
  const layerTar = join(dir, "layer.tar");
  expect(Bun.spawnSync(["tar", "-C", fx.rootfs, "-cf", layerTar, "."]).exitCode).toBe(0);
  const layer = blob(layout, readFileSync(layerTar));
  const config = blob(
    layout,
    JSON.stringify({
      architecture: process.arch === "arm64" ? "arm64" : "amd64",
      os: "linux",
      config: { Env: ["PATH=/bin:/sbin:/usr/bin"] },
      rootfs: { type: "layers", diff_ids: [layer.digest] },
    }),
  );
  const manifest = blob(
    layout,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
    }),
  );
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest, annotations: { "org.opencontainers.image.ref.name": "latest" } }],
    }),
  );
  const archive = join(dir, "image.tar");
  expect(Bun.spawnSync(["tar", "-C", layout, "-cf", archive, "."]).exitCode).toBe(0);
  return archive;
}

describe.skipIf(!isRoot || !daemon || !ctrPath)("containerd with --runc-binary myuts (needs root and containerd)", () => {
  beforeAll(async () => {
    requireBinary();
    sideBefore = SIDE_PATHS.filter((p) => existsSync(p));
    cgroupsBefore = new Set(cgroupDirs("default", "/sys/fs/cgroup", 4));
    fx = createTestRootfs();
    dir = fx.scratch("containerd");
    writeFileSync(
      join(dir, "config.toml"),
      [
        "version = 2",
        `root = "${join(dir, "root")}"`,
        `state = "${join(dir, "state")}"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        "[grpc]",
        `  address = "${join(dir, "containerd.sock")}"`,
        "[ttrpc]",
        `  address = "${join(dir, "containerd.sock.ttrpc")}"`,
      ].join("\n"),
    );
    proc = Bun.spawn([daemon!, "--config", join(dir, "config.toml")], { stdout: "ignore", stderr: Bun.file(join(dir, "containerd.log")), stdin: "ignore" });
    await waitFor(() => existsSync(join(dir, "containerd.sock")) && ctr("version").code === 0, 20_000, "containerd to listen");
    const imported = ctr("images", "import", "--base-name", "localhost/myuts-test", imageArchive());
    expect(imported.code).toBe(0);
  });
  afterAll(async () => {
    if (!fx) return;
    for (const id of ctr("tasks", "ls", "-q").stdout.split("\n").filter(Boolean)) ctr("tasks", "kill", "-s", "KILL", id);
    for (const id of ctr("containers", "ls", "-q").stdout.split("\n").filter(Boolean)) {
      ctr("tasks", "rm", "-f", id);
      ctr("containers", "rm", id);
    }
    ctr("images", "rm", image);
    proc?.kill("SIGTERM");
    await proc?.exited;
    for (const p of SIDE_PATHS) if (!sideBefore.includes(p)) rmSync(p, { recursive: true, force: true });
    // containerd's cgroup parent for its "default" namespace
    for (const d of cgroupDirs("default", "/sys/fs/cgroup", 4)
      .filter((d) => !cgroupsBefore.has(d))
      .sort((a, b) => b.length - a.length))
      removeCgroup(d);
    fx.cleanup();
  });

  test("run --rm: the payload's output and exit status", () => {
    const r = ctr("run", "--rm", ...runtime(), image, `t-${uniqueToken()}`, "echo", "hello");
    expect(r.stderr).toBe("");
    expect([r.code, r.stdout]).toEqual([0, "hello\n"]);
    const failed = ctr("run", "--rm", ...runtime(), image, `t-${uniqueToken()}`, "sh", "-c", "exit 3");
    expect(failed.code).toBe(3);
  });

  test("--env and --cwd reach the container", () => {
    const r = ctr("run", "--rm", ...runtime(), "--env", "FOO=bar", "--cwd", "/etc", image, `t-${uniqueToken()}`, "sh", "-c", "echo $FOO; pwd");
    expect(r.stderr).toBe("");
    expect([r.code, r.stdout]).toEqual([0, "bar\n/etc\n"]);
  });

  test("detached: task exec, kill, and removal leave no state, process or cgroup of it", async () => {
    const id = `t-${uniqueToken()}`;
    const started = ctr("run", "-d", ...runtime(), "--memory-limit", "67108864", image, id, "sleep", "1000");
    expect(started.code).toBe(0);
    // the limit, as the host's cgroup files show it
    const limits = cgroupDirs(id).flatMap((d) => ["memory.limit_in_bytes", "memory.max"].map((f) => join(d, f)).filter((f) => existsSync(f)));
    expect(limits.map((f) => readFileSync(f, "utf8").trim())).toEqual(["67108864"]);
    const exec = ctr("tasks", "exec", "--exec-id", "e1", id, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '");
    expect([exec.code, exec.stdout]).toEqual([0, "sleep 1000 "]);
    const pid = Number(
      /\d+/.exec(
        ctr("tasks", "ls")
          .stdout.split("\n")
          .find((l) => l.startsWith(id)) ?? "",
      )?.[0],
    );
    expect(pid).toBeGreaterThan(0);
    expect(ctr("tasks", "kill", "-s", "KILL", id).code).toBe(0);
    await waitFor(
      () =>
        /STOPPED/.test(
          ctr("tasks", "ls")
            .stdout.split("\n")
            .find((l) => l.startsWith(id)) ?? "",
        ),
      5000,
      "the task to stop",
    );
    expect(ctr("tasks", "rm", id).code).toBe(0);
    expect(ctr("containers", "rm", id).code).toBe(0);
    expect(existsSync(`/proc/${pid}/status`)).toBe(false);
    expect(existsSync(join(dir, "runc-root", "default", id))).toBe(false);
    expect(cgroupDirs(id)).toEqual([]);
  });
});
