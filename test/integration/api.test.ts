// The TypeScript API (src/api.ts, the package's entry point): run() starts containers
// from this very test process, with no myuts child process, their output captured;
// create() and exec() drive detached containers through short myuts commands.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ContainerError, container, create, exec, run } from "../../src/api.ts";
import { loadNative } from "../../ffi/native.ts";
import { isRoot, MYUTS, processesWith, uniqueToken } from "../helpers/myuts.ts";
import { dockerSave, entriesOfDir, tarOf } from "../helpers/image-archive.ts";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

let fx: TestRootfs;

describe.skipIf(!isRoot)("the TypeScript API (needs root)", () => {
  beforeAll(async () => {
    await loadNative();
    fx = createTestRootfs();
  });
  afterAll(() => fx?.cleanup());

  test("run() returns the payload's exit code and output; the namespaces asked for are there", async () => {
    const r = await run({
      rootfs: fx.rootfs,
      args: ["sh", "-c", "echo $$; hostname; echo oops >&2; exit 4"],
      namespaces: ["pid", "mount", "net"],
      hostname: "from-ts",
      memory: "64m",
    });
    expect(r).toEqual({ exitCode: 4, stdout: "1\nfrom-ts\n", stderr: "oops\n" });
  });

  test("stdin is fed to the payload, beyond a pipe's buffer too", async () => {
    const big = "x".repeat(1 << 20);
    const r = await run({ rootfs: fx.rootfs, args: ["wc", "-c"], stdin: big });
    expect(r.stdout.trim()).toBe(String(big.length));
    expect((await run({ rootfs: fx.rootfs, args: ["cat"], stdin: "hello" })).stdout).toBe("hello");
    expect((await run({ rootfs: fx.rootfs, args: ["cat"] })).stdout).toBe("");
  });

  test("runs at once in one process keep their outputs apart; no myuts process is started", async () => {
    const token = uniqueToken();
    const all = await Promise.all(
      Array.from({ length: 10 }, (_, i) => run({ rootfs: fx.rootfs, args: ["sh", "-c", `echo ${i}; sleep 0.2`], env: { TOKEN: token } })),
    );
    expect(all.map((r) => [r.exitCode, r.stdout])).toEqual(Array.from({ length: 10 }, (_, i) => [0, `${i}\n`]));
    expect(processesWith(token)).toEqual([]);
  });

  test("a container that can't start throws a ContainerError with myuts's one line and exit code", async () => {
    let err: unknown;
    try {
      await run({ rootfs: `${fx.base}/no-such-root`, args: ["true"] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ContainerError);
    expect((err as ContainerError).exitCode).toBe(125);
    expect((err as ContainerError).message).toContain("no-such-root");
    expect((err as ContainerError).message).not.toContain("\n");
    const missing = await run({ rootfs: fx.rootfs, args: ["no-such-command"] }).catch((e: ContainerError) => e);
    expect(missing).toBeInstanceOf(ContainerError);
    expect((missing as ContainerError).exitCode).toBe(127);
  });

  test("create() starts a container that runs on its own: exec, logs, stop with its exit code, remove", async () => {
    const name = `api${uniqueToken()}`;
    try {
      const c = await create({ rootfs: fx.rootfs, name, args: ["sh", "-c", 'trap "exit 7" TERM; echo started; echo warn >&2; while :; do sleep 0.1; done'] });
      expect(c.name).toBe(name);
      const r = await exec(name, ["sh", "-c", "echo $FOO; cat; pwd"], { env: { FOO: "bar" }, stdin: "in\n", cwd: "/tmp" });
      expect(r).toEqual({ exitCode: 0, stdout: "bar\nin\n/tmp\n", stderr: "" });
      expect(await c.logs()).toEqual({ stdout: "started\n", stderr: "warn\n" });
      await c.stop(5);
      expect(((await c.inspect()).State as { ExitCode: number }).ExitCode).toBe(7);
      await c.remove();
      await expect(container(name).inspect()).rejects.toThrow(`container ${name}: no such container`);
    } finally {
      await container(name)
        .remove({ force: true })
        .catch(() => {});
    }
  });

  test("create() refuses a name in use, as a ContainerError with myuts's line and exit code", async () => {
    const name = `api${uniqueToken()}`;
    try {
      await create({ rootfs: fx.rootfs, name, args: ["sleep", "30"] });
      const e = await create({ rootfs: fx.rootfs, name, args: ["true"] }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ContainerError);
      expect((e as ContainerError).message).toBe(`--name ${name}: already in use by a running container`);
      expect((e as ContainerError).exitCode).toBe(125);
    } finally {
      await container(name)
        .remove({ force: true })
        .catch(() => {});
    }
  });

  test("run() and create() take an image from the store: its config gives the command", async () => {
    const store = mkdtempSync(join(tmpdir(), "myuts-api-store-"));
    const saved = process.env.MYUTS_STORE;
    process.env.MYUTS_STORE = store;
    const name = `api${uniqueToken()}`;
    try {
      const tar = join(store, "img.tar");
      writeFileSync(tar, await dockerSave({ layers: [await tarOf(entriesOfDir(fx.rootfs))], config: { Cmd: ["echo", "from-image"] }, name: "api/img:1" }));
      expect(Bun.spawnSync([MYUTS, "import", tar], { env: { ...process.env } }).exitCode).toBe(0);
      const r = await run({ image: "api/img:1", args: [], flags: ["--network", "none"] });
      expect(r).toEqual({ exitCode: 0, stdout: "from-image\n", stderr: "" });
      const c = await create({ image: "api/img:1", name, args: ["sh", "-c", "echo detached; sleep 30"], flags: ["--network", "none"] });
      await Bun.sleep(300);
      expect((await c.logs()).stdout).toBe("detached\n");
      await c.remove({ force: true });
      expect(readdirSync(join(store, "containers"))).toEqual([]);
    } finally {
      await container(name)
        .remove({ force: true })
        .catch(() => {});
      if (saved === undefined) delete process.env.MYUTS_STORE;
      else process.env.MYUTS_STORE = saved;
      rmSync(store, { recursive: true, force: true });
    }
  });
});
