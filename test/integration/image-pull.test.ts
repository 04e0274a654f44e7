// Pulls from a real registry on 127.0.0.1: Debian's docker-registry with a temporary
// config, images pushed into it by skopeo from OCI layouts built here. A small
// token server in front of it (the registry's token-auth protocol, spoken by this
// test) checks the bearer-token path. Nothing leaves this machine.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { entriesOfDir, ociLayoutDir, ociMultiArchDir, tarOf } from "../helpers/image-archive.ts";
import { baseEnv, isRoot, MYUTS, requireBinary, runMyuts, waitFor } from "../helpers/myuts.ts";
import { createTestRootfs } from "../helpers/rootfs.ts";

const tools = ["docker-registry", "skopeo", "script"].every((t) => Bun.which(t));

describe.skipIf(!isRoot || !tools)("pull from a local registry", () => {
  let dir: string;
  let registry: Bun.Subprocess | undefined;
  let proxy: ReturnType<typeof Bun.serve> | undefined;
  let storage: ReturnType<typeof Bun.serve> | undefined;
  let port = 0;
  let tokenRequests = 0;
  const host = () => `127.0.0.1:${port}`;
  const store = (name: string) => join(dir, name);
  const my = (args: string[], s = "store") => runMyuts(args, { env: baseEnv({ MYUTS_STORE: store(s) }), timeoutMs: 60_000 });
  const push = (layout: string, ref: string, all = false) => {
    const args = ["skopeo", "copy", "--quiet", ...(all ? ["--all"] : []), "--dest-tls-verify=false", `oci:${layout}`, `docker://${host()}/${ref}`];
    const r = Bun.spawnSync(args, { stderr: "pipe", stdout: "pipe" });
    if (r.exitCode !== 0) throw new Error(`skopeo: ${r.stderr.toString()}`);
  };

  beforeAll(async () => {
    requireBinary();
    dir = mkdtempSync(join(tmpdir(), "myuts-pull-"));
    port = 20000 + Math.floor(Math.random() * 20000);
    writeFileSync(
      join(dir, "config.yml"),
      `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/registry\nhttp:\n  addr: 127.0.0.1:${port}\n`,
    );
    registry = Bun.spawn(["docker-registry", "serve", join(dir, "config.yml")], { stdout: "ignore", stderr: "ignore" });
    let up = false;
    await waitFor(
      () => {
        fetch(`http://${host()}/v2/`).then(
          (r) => (up = r.ok),
          () => {},
        );
        return up;
      },
      10_000,
      "the registry to answer",
    );
    const fs = createTestRootfs();
    const base = await tarOf(entriesOfDir(fs.rootfs));
    fs.cleanup();
    const top = await tarOf([{ name: "etc/motd", content: "pulled\n" }, { name: "etc/.wh.group" }]);
    ociLayoutDir({ layers: [base, top], compression: ["gzip", "zstd"], config: { Cmd: ["cat", "/etc/motd"] }, name: "1" }, join(dir, "one"));
    push(join(dir, "one:1"), "test/bb:1");
    // docker archives can't hold zstd layers: a gzip-only twin for skopeo's docker-archive.
    ociLayoutDir({ layers: [base, top], compression: ["gzip", "gzip"], config: { Cmd: ["cat", "/etc/motd"] }, name: "1" }, join(dir, "gz"));
    const arch = process.arch === "arm64" ? "arm64" : "amd64";
    const motd = (text: string) => tarOf([{ name: "etc/motd", content: text }]);
    ociMultiArchDir(
      [
        {
          spec: { layers: [base, await motd("s390x\n")], compression: ["gzip", "gzip"], config: { Cmd: ["cat", "/etc/motd"] } },
          platform: { os: "linux", architecture: "s390x" },
        },
        {
          spec: { layers: [base, await motd("native\n")], compression: ["gzip", "gzip"], config: { Cmd: ["cat", "/etc/motd"] } },
          platform: { os: "linux", architecture: arch },
        },
      ],
      "multi",
      join(dir, "multi"),
    );
    push(join(dir, "multi:multi"), "test/multi:1", true);
  });
  afterAll(() => {
    registry?.kill();
    proxy?.stop(true);
    storage?.stop(true);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("by tag, then run; by digest; a second pull finds every layer present", async () => {
    const r = await my(["pull", "--insecure", `${host()}/test/bb:1`]);
    expect(r.code).toBe(0);
    const digest = r.stdout.trim().split(" ")[1]!;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await my(["run", "--pid", "--image", `${host()}/test/bb:1`])).stdout).toBe("pulled\n");
    const again = await my(["pull", "--insecure", `${host()}/test/bb@${digest}`]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already present/);
    expect((await my(["run", "--image", `${host()}/test/bb@${digest}`, "ls", "/etc/group"])).code).not.toBe(0);
  });

  test("run --image pulls what is missing (--pull missing, the default), or every time with --pull always", async () => {
    const ref = `${host()}/test/bb:1`;
    const r = await my(["run", "--insecure", "--image", ref], "store-run");
    expect([r.code, r.stdout]).toEqual([0, "pulled\n"]);
    expect(r.stderr).toMatch(/layer [0-9a-f]{12}: /);
    const again = await my(["run", "--insecure", "--image", ref], "store-run");
    expect([again.code, again.stdout, again.stderr]).toEqual([0, "pulled\n", ""]);
    const always = await my(["run", "--insecure", "--pull", "always", "--image", ref], "store-run");
    expect(always.stderr).toMatch(/already present/);
    const never = await my(["run", "--pull", "never", "--image", `${host()}/test/other:1`], "store-run");
    expect(never.stderr).toMatch(/not in the store/);
    const missing = await my(["run", "--insecure", "--image", `${host()}/test/other:1`], "store-run");
    expect(missing.stderr).toMatch(/not in the store .*, and pulling it failed: .*not found/);
  });

  test("on a terminal, a bar per layer with bytes and speed, redrawn in place", () => {
    const r = Bun.spawnSync(["script", "-qefc", `${MYUTS} pull --insecure ${host()}/test/bb:1`, "/dev/null"], {
      env: baseEnv({ MYUTS_STORE: store("store-tty") }),
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = r.stdout.toString();
    expect(r.exitCode).toBe(0);
    expect(out).toMatch(/[0-9a-f]{12} {2}\[#{24}\] {2}\d+\.\d\/\d+\.\d MB {2}\d+\.\d MB\/s {2}done/);
    expect(out).toContain("\x1b[2K");
  });

  test("imports docker-archive and oci-archive tarballs made by skopeo", async () => {
    const copy = (dest: string) => {
      const r = Bun.spawnSync(["skopeo", "copy", "--quiet", `oci:${join(dir, "gz")}:1`, dest], { stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(r.stderr.toString());
    };
    copy(`docker-archive:${join(dir, "sk-docker.tar")}:sk/docker:1`);
    copy(`oci-archive:${join(dir, "sk-oci.tar")}:1`);
    expect((await my(["import", join(dir, "sk-docker.tar")], "store-skopeo")).stdout).toMatch(/^sk\/docker:1 sha256:/);
    // An oci-archive's ref name here is a bare tag: the image is named on the command line.
    expect((await my(["import", join(dir, "sk-oci.tar"), "sk/oci:1"], "store-skopeo")).code).toBe(0);
    for (const ref of ["sk/docker:1", "sk/oci:1"]) expect((await my(["run", "--pull", "never", "--image", ref], "store-skopeo")).stdout).toBe("pulled\n");
  });

  test("a multi-arch index resolves to this host's platform, or --platform's", async () => {
    expect((await my(["pull", "--insecure", `${host()}/test/multi:1`])).code).toBe(0);
    expect((await my(["run", "--image", `${host()}/test/multi:1`])).stdout).toBe("native\n");
    const other = await my(["pull", "--insecure", "--platform", "linux/ppc64le", `${host()}/test/multi:1`]);
    expect(other.code).toBe(125);
    expect(other.stderr).toMatch(/no image for linux\/ppc64le \(it has: linux\/s390x, linux\//);
  });

  test("errors: unknown image, plain HTTP without --insecure", async () => {
    const nf = await my(["pull", "--insecure", `${host()}/test/nope:1`]);
    expect([nf.code, nf.stderr.trim().split("\n").length]).toEqual([125, 1]);
    expect(nf.stderr).toMatch(/not found/);
    const tls = await my(["pull", `${host()}/test/bb:1`], "store-tls");
    expect(tls.code).toBe(125);
    expect(tls.stderr).toMatch(/--insecure/);
  });

  test("a full disk: one line naming ENOSPC, exit 125, no name and no temporary file left", async () => {
    const full = store("store-full");
    mkdirSync(full);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", full]).exitCode).toBe(0);
    try {
      const r = await my(["pull", "-q", "--insecure", `${host()}/test/bb:1`], "store-full");
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/^myuts: [^\n]*ENOSPC \(No space left on device\)\n$/);
      expect(existsSync(join(full, "images.json"))).toBe(false);
      expect(readdirSync(join(full, "tmp"))).toEqual([]);
    } finally {
      Bun.spawnSync(["umount", full]);
    }
  });

  test("20 concurrent pulls of one image into one store", async () => {
    const rs = await Promise.all(Array.from({ length: 20 }, () => my(["pull", "-q", "--insecure", `${host()}/test/bb:1`], "store-conc")));
    for (const r of rs) expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(readdirSync(join(store("store-conc"), "layers/sha256")).length).toBe(2);
    expect(readdirSync(join(store("store-conc"), "tmp"))).toEqual([]);
  });

  test("bearer tokens from the registry's token service; blob redirects get no credentials", async () => {
    // Blob storage elsewhere (another origin), as registries redirect to: it must never see the token.
    let storageHits = 0;
    let storageSawToken = false;
    storage = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        storageHits++;
        if (req.headers.get("authorization")) storageSawToken = true;
        const up = await fetch(`http://${host()}${new URL(req.url).pathname}`);
        return new Response(up.body, { status: up.status, headers: up.headers });
      },
    });
    proxy = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const url = new URL(req.url);
        if (url.pathname === "/token") {
          tokenRequests++;
          expect(url.searchParams.get("scope")).toBe("repository:test/bb:pull");
          return Response.json({ token: "t0ken" });
        }
        if (req.headers.get("authorization") !== "Bearer t0ken") {
          const realm = `http://127.0.0.1:${proxy!.port}/token`;
          return new Response("", { status: 401, headers: { "www-authenticate": `Bearer realm="${realm}",service="test",scope="repository:test/bb:pull"` } });
        }
        if (url.pathname.includes("/blobs/")) return Response.redirect(`http://127.0.0.1:${storage!.port}${url.pathname}`, 307);
        const up = await fetch(`http://${host()}${url.pathname}`, { headers: { accept: req.headers.get("accept") ?? "*/*" } });
        return new Response(up.body, { status: up.status, headers: up.headers });
      },
    });
    const r = await my(["pull", "--insecure", `127.0.0.1:${proxy.port}/test/bb:1`], "store-token");
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(tokenRequests).toBeGreaterThan(0);
    expect(storageHits).toBeGreaterThan(0);
    expect(storageSawToken).toBe(false);
  });

  test("login checks credentials with the token service, keeps them for pull; logout forgets them", async () => {
    const basic = `Basic ${Buffer.from("alice:s3cret").toString("base64")}`;
    const auth: ReturnType<typeof Bun.serve> = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const url = new URL(req.url);
        if (url.pathname === "/token") {
          if (req.headers.get("authorization") !== basic) return new Response("", { status: 401 });
          return Response.json({ token: "alice-token" });
        }
        if (req.headers.get("authorization") !== "Bearer alice-token") {
          return new Response("", { status: 401, headers: { "www-authenticate": `Bearer realm="http://127.0.0.1:${auth.port}/token",service="test"` } });
        }
        const up = await fetch(`http://${host()}${url.pathname}`, { headers: { accept: req.headers.get("accept") ?? "*/*" } });
        return new Response(up.body, { status: up.status, headers: up.headers });
      },
    });
    const conf = join(dir, "docker-config");
    const env = baseEnv({ MYUTS_STORE: store("store-login"), DOCKER_CONFIG: conf });
    const reg = `127.0.0.1:${auth.port}`;
    const go = (args: string[], stdin?: string) => runMyuts(args, { env, stdin, timeoutMs: 30_000 });
    try {
      expect((await go(["pull", "-q", "--insecure", `${reg}/test/bb:1`])).stderr).toMatch(/token service refused/);
      const wrong = await go(["login", "--insecure", "-u", "alice", "--password-stdin", reg], "nope\n");
      expect([wrong.code, wrong.stderr]).toEqual([125, `myuts: registry ${reg}: the token service refused (HTTP 401)\n`]);
      expect(existsSync(join(conf, "config.json"))).toBe(false);
      const ok = await go(["login", "--insecure", "-u", "alice", "--password-stdin", reg], "s3cret\n");
      expect(ok.code).toBe(0);
      expect(lstatSync(join(conf, "config.json")).mode & 0o777).toBe(0o600);
      expect((await go(["pull", "-q", "--insecure", `${reg}/test/bb:1`])).code).toBe(0);
      expect((await go(["logout", reg])).stdout).toBe(`logged out of ${reg}\n`);
      expect(readFileSync(join(conf, "config.json"), "utf8")).not.toContain('auth"');
    } finally {
      auth.stop(true);
    }
  });

  test("a download that breaks off resumes where it stopped", async () => {
    let broken = 0;
    let ranged = 0;
    const flaky = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const url = new URL(req.url);
        const range = req.headers.get("range");
        const up = await fetch(`http://${host()}${url.pathname}`, { headers: { accept: req.headers.get("accept") ?? "*/*", ...(range ? { range } : {}) } });
        if (range) ranged++;
        if (!url.pathname.includes("/blobs/") || range || Number(up.headers.get("content-length")) < 100_000) {
          return new Response(up.body, { status: up.status, headers: up.headers });
        }
        // The first request for the big layer: half of it, then the connection fails.
        broken++;
        const bytes = new Uint8Array(await up.arrayBuffer());
        const body = new ReadableStream({
          start(c) {
            c.enqueue(bytes.subarray(0, bytes.length >> 1));
            // Once that half is on its way, the connection is cut short of the promised length.
            setTimeout(() => c.close(), 100);
          },
        });
        return new Response(body, { headers: { "content-length": String(bytes.length), "content-type": "application/octet-stream" } });
      },
    });
    try {
      const r = await my(["pull", "-q", "--insecure", `127.0.0.1:${flaky.port}/test/bb:1`], "store-resume");
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(broken).toBe(1);
      expect(ranged).toBeGreaterThan(0);
      expect((await my(["run", "--pull", "never", "--image", `127.0.0.1:${flaky.port}/test/bb:1`], "store-resume")).stdout).toBe("pulled\n");
    } finally {
      flaky.stop(true);
    }
  });

  test("a tampered blob in the registry is refused, and nothing of it is kept", async () => {
    const blobs = join(dir, "registry/docker/registry/v2/blobs/sha256");
    const layout = join(dir, "one/blobs/sha256");
    // The top layer: the one blob of the image that is small and not JSON.
    const top = readdirSync(layout)
      .map((h) => ({ h, bytes: readFileSync(join(layout, h)) }))
      .filter(({ h }) => existsSync(join(blobs, h.slice(0, 2), h, "data")))
      .find(({ bytes }) => bytes.length < 400 && bytes[0] !== 0x7b);
    expect(top).toBeDefined();
    const data = join(blobs, top!.h.slice(0, 2), top!.h, "data");
    const bytes = new Uint8Array(await Bun.file(data).arrayBuffer());
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(data, bytes);
    const r = await my(["pull", "--insecure", `${host()}/test/bb:1`], "store-tampered");
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/digest mismatch/);
    const s = store("store-tampered");
    expect(existsSync(join(s, "blobs/sha256", top!.h))).toBe(false);
    expect(existsSync(join(s, "images.json"))).toBe(false);
    expect(readdirSync(join(s, "tmp"))).toEqual([]);
  });
});
