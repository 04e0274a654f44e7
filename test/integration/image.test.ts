// Images end to end: archives built here from a busybox rootfs (docker save with a
// gzip and a zstd layer, oci-archive, an OCI layout directory) are imported into a
// private store and run. Checks what the kernel shows: the root is an overlay of the
// store's layers inside the container, and after every way a run can end (exit,
// failure, signal, killed runtime) no overlay mount and no container directory is left.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dockerSave, entriesOfDir, ociArchive, ociLayoutDir, tarOf } from "../helpers/image-archive.ts";
import { baseEnv, isRoot, MYUTS, requireBinary, runMyuts, startMyuts, uniqueToken, waitFor } from "../helpers/myuts.ts";
import { reachableBinary } from "../rootless/test-user.ts";
import { lgetxattr, lsetxattr } from "../../ffi/libc.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

describe.skipIf(!isRoot)("images", () => {
  let dir: string;
  let store: string;
  let fs: TestRootfs;
  const env = () => baseEnv({ MYUTS_STORE: store });
  const my = (args: string[], timeoutMs?: number) => runMyuts(args, { env: env(), timeoutMs });
  const containers = () => readdirSync(join(store, "containers"));
  const hostOverlays = () =>
    readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((l) => l.includes(store));

  beforeAll(async () => {
    requireBinary();
    dir = mkdtempSync(join(tmpdir(), "myuts-image-"));
    store = join(dir, "store");
    fs = createTestRootfs();
    const base = await tarOf(entriesOfDir(fs.rootfs));
    const top = await tarOf([
      { name: "etc/motd", content: "from the top layer\n" },
      { name: "etc/.wh.group" },
      { name: "srv", type: "directory" },
      { name: "srv/.wh..wh..opq" },
      { name: "srv/new", content: "new\n" },
      { name: "srv/link", type: "link", linkname: "srv/new" },
    ]);
    const mid = await tarOf([
      { name: "srv", type: "directory" },
      { name: "srv/old", content: "old\n" },
    ]);
    const config = { Cmd: ["cat", "/etc/motd"], Env: ["FROM_IMAGE=yes", "PATH=/bin:/usr/bin"], WorkingDir: "/srv", User: "0:0" };
    writeFileSync(join(dir, "docker.tar"), await dockerSave({ layers: [base, mid, top], compression: ["gzip", "zstd", "none"], config, name: "test/bb:1" }));
    writeFileSync(
      join(dir, "oci.tar"),
      await ociArchive({ layers: [base], compression: ["gzip"], config: { Entrypoint: ["echo", "entry"] }, name: "localhost/oci:2" }),
    );
    ociLayoutDir({ layers: [base], config: { Cmd: ["true"] }, name: "localhost/layout:3" }, join(dir, "layout"));
    const data = await tarOf([
      { name: "data", type: "directory", mode: 0o750, uid: 1000, gid: 1000 },
      { name: "data/seed", content: "seeded\n", uid: 1000, gid: 1000 },
    ]);
    const volConfig = { Cmd: ["true"], Volumes: { "/data": {} }, ExposedPorts: { "8080/tcp": {} } };
    writeFileSync(join(dir, "vol.tar"), await dockerSave({ layers: [base, data], config: volConfig, name: "test/vol:1" }));
  });
  /** A home of nobody's own holding the docker save archive, and a way to run commands as nobody there. */
  const asNobody = (name: string, extraEnv: Record<string, string> = {}) => {
    const home = join(dir, name);
    mkdirSync(home);
    const bin = reachableBinary(MYUTS, home);
    copyFileSync(join(dir, "docker.tar"), join(home, "docker.tar"));
    chmodSync(dir, 0o755);
    for (const p of [home, bin, join(home, "docker.tar")]) chownSync(p, 65534, 65534);
    const as = (argv: string[]) =>
      Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", ...argv], {
        env: baseEnv({ HOME: home, XDG_DATA_HOME: join(home, "data"), ...extraEnv }),
        stdout: "pipe",
        stderr: "pipe",
      });
    return { home, bin, as };
  };
  afterAll(() => {
    fs?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("imports docker save, oci-archive and an OCI layout directory", async () => {
    for (const src of ["docker.tar", "oci.tar", "layout"]) {
      const r = await my(["import", join(dir, src)]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    const r = await my(["images", "--format", "json"]);
    const names = (JSON.parse(r.stdout) as { name: string }[]).map((x) => x.name).sort();
    expect(names).toEqual(["localhost/layout:3", "localhost/oci:2", "test/bb:1"]);
    // Shared layers are stored once: the gzip'd base of the docker and oci tarballs is one blob;
    // the layout's uncompressed base is another (layers are keyed by their blob's digest).
    expect(readdirSync(join(store, "layers/sha256")).length).toBe(4);
  });

  test("runs with the image's config; the root is an overlay of the store's layers", async () => {
    const r = await my(["run", "--pid", "--image", "test/bb:1"]);
    expect(r.stdout).toBe("from the top layer\n");
    expect(r.code).toBe(0);
    const s = await my([
      "run",
      "--pid",
      "--image",
      "test/bb:1",
      "sh",
      "-c",
      "pwd; echo $FROM_IMAGE; ls /srv; cat /srv/link; ls /etc/group || echo nogroup; grep ' / / ' /proc/self/mountinfo",
    ]);
    const lines = s.stdout.split("\n");
    expect(lines.slice(0, 5)).toEqual(["/srv", "yes", "link", "new", "new"]);
    expect(s.stdout).toContain("nogroup");
    expect(s.stdout).toMatch(/ - overlay overlay rw,lowerdir=[^ ]*\/layers\/sha256\//);
    const e = await my(["run", "--image", "localhost/oci:2", "x"]);
    expect(e.stdout).toBe("entry x\n");
    expect(containers()).toEqual([]);
    expect(hostOverlays()).toEqual([]);
  });

  test("an image runs on the default bridge network, as in docker; --network none keeps only lo", async () => {
    const nets = "ls /sys/class/net | sort | tr '\\n' ' '";
    const bridged = await my(["run", "--image", "test/bb:1", "sh", "-c", nets]);
    expect([bridged.code, bridged.stdout]).toEqual([0, "eth0 lo "]);
    const none = await my(["run", "--network", "none", "--image", "test/bb:1", "sh", "-c", nets]);
    expect([none.code, none.stdout]).toEqual([0, "lo "]);
  });

  test("run -d --image: on the bridge network, its writes kept across a --restart, its directory and overlay gone with rm", async () => {
    const name = `img${uniqueToken()}`;
    try {
      const script = "ls /sys/class/net | tr '\\n' ' '; echo; cat /srv/mark 2>/dev/null || { echo kept > /srv/mark; exit 1; }";
      const r = await my(["run", "-d", "--name", name, "--restart", "on-failure:1", "--image", "test/bb:1", "sh", "-c", script]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, `${name}\n`, ""]);
      await waitFor(() => existsSync(`/run/myuts/.containers/${name}/exit`) && !existsSync(`/run/myuts/${name}.json`), 15_000, "both runs' end");
      await Bun.sleep(300);
      const logs = await my(["logs", name]);
      // The second run found what the first one wrote, and ended well.
      expect(logs.stdout).toBe("eth0 lo \neth0 lo \nkept\n");
      expect(JSON.parse((await my(["inspect", name])).stdout)[0].State.ExitCode).toBe(0);
      expect(containers()).toEqual([]);
      expect(hostOverlays()).toEqual([]);
      const rm = await my(["rm", name]);
      expect([rm.code, rm.stderr]).toEqual([0, ""]);
    } finally {
      await my(["rm", "-f", name]);
    }
  });

  test("an image's Volumes: a directory of the container's own, seeded from the image, gone with it; -P publishes its ExposedPorts", async () => {
    expect((await my(["import", join(dir, "vol.tar")])).code).toBe(0);
    const script = "cat /data/seed; stat -c '%u:%g %a' /data; grep ' /data ' /proc/self/mountinfo | cut -d' ' -f9; echo more > /data/new";
    const r = await my(["run", "--network", "none", "--image", "test/vol:1", "sh", "-c", script]);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trim().split("\n");
    expect(lines.slice(0, 2)).toEqual(["seeded", "1000:1000 750"]);
    // A bind of the container's own directory, not the overlay.
    expect(lines[2]).not.toBe("overlay");
    expect(containers()).toEqual([]);
    // A volume given by the run wins over the image's.
    const mine = mkdtempSync(join(dir, "mine-"));
    const own = await my(["run", "--network", "none", "-v", `${mine}:/data`, "--image", "test/vol:1", "sh", "-c", "ls -A /data; echo x > /data/mine"]);
    expect([own.code, own.stdout]).toEqual([0, ""]);
    expect(readFileSync(join(mine, "mine"), "utf8")).toBe("x\n");

    const name = `vol${uniqueToken()}`;
    try {
      const d = await my(["run", "-d", "-P", "--name", name, "--image", "test/vol:1", "httpd", "-f", "-p", "8080", "-h", "/data"]);
      expect([d.code, d.stderr]).toEqual([0, ""]);
      const info = JSON.parse((await my(["inspect", name])).stdout)[0];
      const port = info.Network.ports.find((p: { containerPort: number }) => p.containerPort === 8080)?.hostPort as number;
      expect(port).toBeGreaterThan(0);
      let body = "";
      for (let i = 0; i < 100 && !body; i++) {
        body = await fetch(`http://127.0.0.1:${port}/seed`).then(
          (x) => x.text(),
          () => "",
        );
        if (!body) await Bun.sleep(50);
      }
      expect(body).toBe("seeded\n");
    } finally {
      await my(["rm", "-f", name]);
    }
    expect(containers()).toEqual([]);
    const bad = await my(["run", "-P", "--network", "none", "--image", "test/vol:1"]);
    expect([bad.code, bad.stderr]).toEqual([125, "myuts: run: --publish-all needs a network: --network bridge or --network NAME\n"]);
  });

  test("writes go to a per-container upper dir; --read-only refuses them", async () => {
    const w = await my(["run", "--pid", "--image", "test/bb:1", "sh", "-c", "echo x > /etc/motd && cat /etc/motd"]);
    expect(w.stdout).toBe("x\n");
    const again = await my(["run", "--image", "test/bb:1"]);
    expect(again.stdout).toBe("from the top layer\n");
    const ro = await my(["run", "--read-only", "--image", "test/bb:1", "sh", "-c", "echo x > /etc/motd"]);
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
  });

  test("cleanup after a failed start, a signal and a killed runtime", async () => {
    const nf = await my(["run", "--image", "test/bb:1", "/nope"]);
    expect(nf.code).toBe(127);
    expect(containers()).toEqual([]);
    const p = startMyuts(["run", "--pid", "--image", "test/bb:1", "sh", "-c", "trap 'exit 3' TERM; echo up; while :; do sleep 0.1; done"], { env: env() });
    await p.waitForStdout("up");
    expect(containers().length).toBe(1);
    p.kill("SIGTERM");
    expect((await p.result()).code).toBe(3);
    expect(containers()).toEqual([]);
    const k = startMyuts(["run", "--pid", "--image", "test/bb:1", "sh", "-c", "echo up; sleep 100"], { env: env() });
    await k.waitForStdout("up");
    k.kill("SIGKILL");
    await k.result();
    // The kernel took the PID namespace and the overlay with it; the directory waits for the next command.
    await waitFor(() => hostOverlays().length === 0, 5000, "the overlay to go");
    expect(containers().length).toBe(1);
    await my(["run", "--image", "localhost/layout:3"]);
    expect(containers()).toEqual([]);
  });

  test("20 concurrent imports and runs of one image are safe", async () => {
    const imports = await Promise.all(Array.from({ length: 20 }, () => my(["import", join(dir, "docker.tar"), "conc:1"], 60_000)));
    for (const r of imports) expect([r.code, r.stderr]).toEqual([0, ""]);
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => my(["run", "--pid", "--image", "conc:1", "sh", "-c", `echo ${i} > /srv/mine; cat /srv/mine`], 60_000)),
    );
    for (const [i, r] of runs.entries()) expect([r.code, r.stdout]).toEqual([0, `${i}\n`]);
    // The test images' four layers, and the Volumes image's own one.
    expect(readdirSync(join(store, "layers/sha256")).length).toBe(5);
    expect(readdirSync(join(store, "tmp"))).toEqual([]);
    expect(containers()).toEqual([]);
  });

  test("image prune alongside imports and runs removes nothing they use", async () => {
    const s = "store-gc";
    const e = baseEnv({ MYUTS_STORE: join(dir, s) });
    const go = (args: string[]) => runMyuts(args, { env: e, timeoutMs: 60_000 });
    expect((await go(["import", join(dir, "oci.tar")])).code).toBe(0);
    const jobs = [
      ...Array.from({ length: 8 }, (_, i) => go(["import", join(dir, "docker.tar"), `gc:${i}`])),
      ...Array.from({ length: 8 }, () => go(["run", "--pid", "--image", "localhost/oci:2", "gc"])),
      ...Array.from({ length: 4 }, () => go(["image", "prune"])),
    ];
    for (const r of await Promise.all(jobs)) expect([r.code, r.stderr]).toEqual([0, ""]);
    for (let i = 0; i < 8; i++) expect((await go(["run", "--image", `gc:${i}`])).stdout).toBe("from the top layer\n");
  });

  test("an import killed midway leaves no name and no blob in use; the next one sweeps its leftovers", async () => {
    const s = join(dir, "store-crash");
    const e = baseEnv({ MYUTS_STORE: s });
    const big = new Uint8Array(48 << 20);
    for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
    const layer = await tarOf([{ name: "big", content: big }]);
    writeFileSync(join(dir, "big.tar"), await dockerSave({ layers: [layer], name: "big:1", config: { Cmd: ["true"] } }));
    const p = startMyuts(["import", join(dir, "big.tar")], { env: e });
    await waitFor(() => existsSync(join(s, "tmp")) && readdirSync(join(s, "tmp")).length > 0, 10_000, "the import to start writing");
    p.kill("SIGKILL");
    await p.result();
    expect(existsSync(join(s, "images.json"))).toBe(false);
    const again = await runMyuts(["import", join(dir, "big.tar")], { env: e, timeoutMs: 60_000 });
    expect([again.code, again.stderr]).toEqual([0, ""]);
    expect(readdirSync(join(s, "tmp"))).toEqual([]);
    rmSync(join(dir, "big.tar"));
  });

  test("a tampered layer blob is refused before use", async () => {
    const sub = join(dir, "store2");
    const e = baseEnv({ MYUTS_STORE: sub });
    expect((await runMyuts(["import", join(dir, "oci.tar")], { env: e })).code).toBe(0);
    const layers = readdirSync(join(sub, "layers/sha256"));
    for (const l of layers) rmSync(join(sub, "layers/sha256", l), { recursive: true });
    for (const l of layers) {
      rmSync(join(sub, "blobs/sha256", l));
      writeFileSync(join(sub, "blobs/sha256", l), "tampered");
    }
    const r = await runMyuts(["run", "--image", "localhost/oci:2"], { env: e });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/digest mismatch|not a valid/);
    expect(readdirSync(join(sub, "layers/sha256"))).toEqual([]);
  });

  test("an operand is always a command; one that reads as an image gets a hint", async () => {
    const r = await my(["run", "test/bb:1"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/: to run the image test\/bb:1, name it with --image: myuts run --image test\/bb:1$/m);
    const plain = await my(["run", "no-such-command-x"]);
    expect(plain.stderr).not.toMatch(/--image/);
  });

  test("rootless: a user's own store, whiteouts and opaque dirs through user.* xattrs", async () => {
    const { home, bin, as } = asNobody("nobody");
    const imp = as([bin, "import", join(home, "docker.tar")]);
    expect(imp.stderr.toString()).toBe("");
    const r = as([
      bin,
      "run",
      "--user",
      "--map-root-user",
      "--pid",
      "--image",
      "test/bb:1",
      "sh",
      "-c",
      "id -u; ls /srv; ls /etc/group || echo nogroup; echo w > /etc/motd",
    ]);
    expect(r.stderr.toString()).toMatch(/No such file/);
    expect(r.stdout.toString()).toBe("0\nlink\nnew\nnogroup\n");
    expect(readdirSync(join(home, "data/myuts/containers"))).toEqual([]);
    expect(lstatSync(join(home, "data/myuts")).uid).toBe(65534);
  });

  test("MYUTS_STORAGE_DRIVER=vfs: the layers copied into the container's root, whiteouts and opaque dirs applied, rootful and rootless", async () => {
    const script = "pwd; ls /srv; cat /srv/link; ls /etc/group || echo nogroup; echo w > /etc/motd && cat /etc/motd; awk '$5 == \"/\"' /proc/self/mountinfo";
    const r = await runMyuts(["run", "--pid", "--image", "test/bb:1", "sh", "-c", script], {
      env: baseEnv({ MYUTS_STORE: store, MYUTS_STORAGE_DRIVER: "vfs" }),
    });
    expect([r.code, r.stderr]).toEqual([0, "ls: /etc/group: No such file or directory\n"]);
    expect(r.stdout.split("\n").slice(0, 6)).toEqual(["/srv", "link", "new", "new", "nogroup", "w"]);
    expect(r.stdout).toMatch(/ \/ rw/);
    expect(r.stdout).not.toContain("overlay");
    expect(containers()).toEqual([]);
    // The layers themselves are untouched.
    const motd = readdirSync(join(store, "layers/sha256"))
      .map((d) => join(store, "layers/sha256", d, "etc/motd"))
      .filter((p) => existsSync(p));
    expect(motd.map((p) => readFileSync(p, "utf8"))).toEqual(["from the top layer\n"]);
    const bad = await runMyuts(["run", "--image", "test/bb:1"], { env: baseEnv({ MYUTS_STORE: store, MYUTS_STORAGE_DRIVER: "btrfs" }) });
    expect([bad.code, bad.stderr]).toEqual([125, "myuts: MYUTS_STORAGE_DRIVER=btrfs: expected overlay or vfs\n"]);

    const { home, bin, as } = asNobody("vfs-nobody", { MYUTS_STORAGE_DRIVER: "vfs" });
    expect(as([bin, "import", join(home, "docker.tar")]).exitCode).toBe(0);
    const u = as([bin, "run", "--user", "--map-root-user", "--pid", "--image", "test/bb:1", "sh", "-c", `id -u; ${script}`]);
    expect(u.stderr.toString()).toBe("ls: /etc/group: No such file or directory\n");
    expect(u.stdout.toString().split("\n").slice(0, 7)).toEqual(["0", "/srv", "link", "new", "new", "nogroup", "w"]);
    expect(u.stdout.toString()).not.toContain("overlay");
    expect(readdirSync(join(home, "data/myuts/containers"))).toEqual([]);
  });

  test("a layer's xattrs reach the container: a file capability raises an unprivileged user's effective set", async () => {
    const src = join(dir, "caplayer");
    mkdirSync(join(src, "opt/cap"), { recursive: true });
    copyFileSync(join(fs.rootfs, "bin/busybox"), join(src, "opt/cap/busybox"));
    chmodSync(join(src, "opt/cap/busybox"), 0o755);
    symlinkSync("busybox", join(src, "opt/cap/cat"));
    expect(Bun.spawnSync(["setcap", "cap_net_raw+ep", join(src, "opt/cap/busybox")]).exitCode).toBe(0);
    // Bytes that aren't UTF-8 survive the pax header too.
    const binary = new Uint8Array([0xff, 0, 0xc3, 0x28]);
    writeFileSync(join(src, "opt/cap/note"), "");
    lsetxattr(join(src, "opt/cap/note"), "user.binary", binary);
    const tar = Bun.spawnSync(["tar", "--xattrs", "--xattrs-include=*", "--owner=0", "--group=0", "-C", src, "-cf", "-", "opt"]);
    expect(tar.exitCode).toBe(0);
    const base = await tarOf(entriesOfDir(fs.rootfs));
    const config = { Cmd: ["/opt/cap/cat", "/proc/self/status"], User: "1000:1000" };
    writeFileSync(join(dir, "cap.tar"), await dockerSave({ layers: [base, new Uint8Array(tar.stdout)], config, name: "test/cap:1" }));
    const imp = await my(["import", join(dir, "cap.tar")]);
    expect([imp.code, imp.stderr]).toEqual([0, ""]);
    const layers = join(store, "layers/sha256");
    const notes = readdirSync(layers)
      .map((d) => join(layers, d, "opt/cap/note"))
      .filter((p) => existsSync(p));
    expect(notes.map((p) => lgetxattr(p, "user.binary"))).toEqual([binary]);
    const r = await my(["run", "--image", "test/cap:1"]);
    expect(r.code).toBe(0);
    // CAP_NET_RAW is bit 13; the plain cat of the same user has none.
    expect(r.stdout).toMatch(/^CapEff:\t0000000000002000$/m);
    const plain = await my(["run", "--image", "test/cap:1", "/bin/cat", "/proc/self/status"]);
    expect(plain.stdout).toMatch(/^CapEff:\t0000000000000000$/m);
    await my(["rmi", "test/cap:1"]);
  });

  test("rmi and image prune", async () => {
    expect((await my(["rmi", "localhost/layout:3"])).code).toBe(0);
    // --pull never: no test ever asks a registry it didn't start.
    const r = await my(["run", "--pull", "never", "--image", "localhost/layout:3"]);
    expect(r.stderr).toMatch(/not in the store/);
    expect((await my(["image", "prune"])).code).toBe(0);
    expect(existsSync(join(store, "images.json"))).toBe(true);
    expect((await my(["run", "--image", "test/bb:1"])).stdout).toBe("from the top layer\n");
  });
});
