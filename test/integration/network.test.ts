// Networks through the CNI plugins, checked where the kernel and the plugins leave
// their marks: the container's interfaces and routes, connections through published
// ports, the bridge's ports, host-local's lease files, iptables rules, the namespace
// files. Every test names its containers and networks uniquely and checks that
// nothing of them remains, on success, on error and after a killed runtime.
// All traffic stays between the host and the tests' own namespaces.
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { networkInterfaces } from "node:os";
import { isRoot, MYUTS, requireBinary, runMyuts, startMyuts, uniqueToken, waitFor, type MyutsProcess, type RunResult } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";
import { createTestUser, reachableBinary } from "../rootless/test-user.ts";

setDefaultTimeout(60_000);

const NET_DIR = "/run/myuts-net";
const REGISTRY = "/run/myuts";
const CONFIG_DIR = "/etc/myuts/net.d";

let fx: TestRootfs;
const running: MyutsProcess[] = [];
const networks: string[] = [];
const configFiles: string[] = [];

beforeAll(() => {
  requireBinary();
  if (isRoot) fx = createTestRootfs();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.dispose()));
  // A killed runtime's leftovers go with the sweep that `network rm` runs first.
  for (const n of networks.splice(0)) await runMyuts(["network", "rm", n]);
  for (const f of configFiles.splice(0)) rmSync(f, { force: true });
});
afterAll(() => fx?.cleanup());

/** `run` on a network, in the test root filesystem: extra options, then the payload. */
/** --init: a root filesystem container's payload is PID 1 of its namespace, and the tests stop it with SIGTERM. */
function netRun(id: string, network: string, extra: readonly string[], payload: readonly string[]): string[] {
  return ["run", "--name", id, "--init", "--network", network, ...extra, "--rootfs", fx.rootfs, "--", ...payload];
}

function start(args: readonly string[]): MyutsProcess {
  const p = startMyuts(args, { timeoutMs: 30_000 });
  running.push(p);
  return p;
}

async function createNetwork(subnet?: string): Promise<string> {
  const name = `t${uniqueToken()}`;
  const r = await runMyuts(["network", "create", name, ...(subnet ? ["--subnet", subnet] : [])]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  networks.push(name);
  return name;
}

function bridgeOf(network: string): string {
  if (network === "bridge") return "myuts0";
  return JSON.parse(readFileSync(`${CONFIG_DIR}/${network}.conflist`, "utf8")).plugins[0].bridge;
}

/** The bridge's ports: one veth per attached container. */
function bridgePorts(bridge: string): string[] {
  try {
    return readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return [];
  }
}

/** host-local's lease files (their first line is the container id) held by `id`. */
function leasesOf(id: string): string[] {
  const out: string[] = [];
  for (const net of existsSync(`${NET_DIR}/ipam`) ? readdirSync(`${NET_DIR}/ipam`) : []) {
    for (const f of readdirSync(`${NET_DIR}/ipam/${net}`)) {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(f)) continue;
      try {
        if (readFileSync(`${NET_DIR}/ipam/${net}/${f}`, "utf8").split(/\r?\n/)[0] === id) out.push(`${net}/${f}`);
      } catch {
        // released meanwhile
      }
    }
  }
  return out;
}

function iptablesLines(): string[] {
  const r = Bun.spawnSync(["iptables-save"], { stdout: "pipe" });
  return r.stdout.toString().split("\n");
}

/** Everything a container named `id` (with addresses `ips`) may leave behind; empty when clean. */
function leftovers(id: string, ips: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const f of [`${NET_DIR}/files/${id}`, `${REGISTRY}/${id}.json`]) if (existsSync(f)) out.push(f);
  out.push(...leasesOf(id).map((l) => `lease ${l}`));
  for (const line of iptablesLines()) {
    if (line.includes(`id: \\"${id}\\"`) || ips.some((ip) => line.includes(` ${ip}/32 `) || line.includes(` ${ip} `))) out.push(`iptables: ${line}`);
  }
  return out;
}

async function expectClean(id: string, ips: readonly string[] = [], bridge?: string): Promise<void> {
  // A namespace ends (and its veth with it) a moment after its last user.
  await waitFor(() => leftovers(id, ips).length === 0 && (!bridge || bridgePorts(bridge).length === 0), 5_000, `${id} to be cleaned up`).catch(() => undefined);
  expect(leftovers(id, ips)).toEqual([]);
  if (bridge) expect(bridgePorts(bridge)).toEqual([]);
}

/** A shell line that fetches a page with nc (the static busybox's wget crashes resolving the port's name). */
const httpGet = (host: string, port: number, path: string) => `printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${host} ${port}`;

const ipOf = (out: string) => /inet (\d+\.\d+\.\d+\.\d+)\/\d+ .*eth0/.exec(out)?.[1];

function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal && !a.address.startsWith("10.77.")) return a.address;
  }
  throw new Error("no non-loopback IPv4 address on this host");
}

/** A fresh port nobody listens on. */
function freePort(): number {
  const l = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

async function fetchText(url: string): Promise<string> {
  let last = "";
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      return await r.text();
    } catch (e) {
      last = String(e);
      await Bun.sleep(50);
    }
  }
  throw new Error(`${url}: ${last}`);
}

function oneLine(r: RunResult): string {
  expect(r.code).toBe(125);
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(r.stderr).not.toContain("    at ");
  return lines[0]!;
}

describe.skipIf(!isRoot)("networks (needs root)", () => {
  test("--net: a new namespace with only lo, and lo is UP", async () => {
    const r = await runMyuts(["run", "--net", "--rootfs", fx.rootfs, "--", "sh", "-c", "ls /sys/class/net; ip link show lo"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("lo");
    expect(r.stdout).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
  });

  test("--network host shares the host's network namespace", async () => {
    const r = await runMyuts(["run", "--network", "host", "--rootfs", fx.rootfs, "--", "readlink", "/proc/self/ns/net"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(readlinkSync("/proc/self/ns/net"));
  });

  test("the default bridge: an address, a default route through the gateway, a server on the gateway reached", async () => {
    const id = `c${uniqueToken()}`;
    const token = uniqueToken();
    const server = Bun.serve({ hostname: "0.0.0.0", port: 0, fetch: () => new Response(`host-${token}`) });
    try {
      const r = await runMyuts(netRun(id, "bridge", [], ["sh", "-c", `ip -4 addr show eth0; ip route; ${httpGet("10.77.0.1", server.port!, "/")}`]));
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const ip = ipOf(r.stdout);
      expect(ip).toMatch(/^10\.77\./);
      expect(r.stdout).toContain("default via 10.77.0.1 dev eth0");
      // Traffic out is masqueraded by one rule for the network, not a chain per container.
      expect(iptablesLines()).toContain('-A POSTROUTING -s 10.77.0.0/16 ! -d 10.77.0.0/16 -m comment --comment "myuts network bridge" -j MASQUERADE');
      expect(r.stdout).toContain(`host-${token}`);
      await expectClean(id, [ip!]);
    } finally {
      server.stop(true);
    }
  });

  test("--publish reaches a server in the container through 127.0.0.1 and through a host address", async () => {
    const id = `c${uniqueToken()}`;
    const token = uniqueToken();
    const port = freePort();
    writeFileSync(`${fx.rootfs}/index-${token}.html`, `served-${token}\n`);
    const p = start(netRun(id, "bridge", ["--publish", `${port}:8080`], ["sh", "-c", "ip -4 addr show eth0; echo up; exec httpd -f -p 8080 -h /"]));
    await p.waitForStdout("up");
    const ip = ipOf(p.stdout)!;
    expect(await fetchText(`http://127.0.0.1:${port}/index-${token}.html`)).toBe(`served-${token}\n`);
    expect(await fetchText(`http://${hostAddress()}:${port}/index-${token}.html`)).toBe(`served-${token}\n`);
    p.kill("SIGTERM");
    const r = await p.result();
    expect(r.leftovers).toEqual([]);
    await expectClean(id, [ip]);
    rmSync(`${fx.rootfs}/index-${token}.html`);
  });

  test("two containers on one network reach each other; network rm leaves no bridge", async () => {
    const net = await createNetwork();
    const bridge = bridgeOf(net);
    const a = `a${uniqueToken()}`;
    const b = `b${uniqueToken()}`;
    const token = uniqueToken();
    writeFileSync(`${fx.rootfs}/peer-${token}.html`, `peer-${token}\n`);
    const server = start(netRun(a, net, [], ["sh", "-c", "ip -4 addr show eth0; echo up; exec httpd -f -p 80 -h /"]));
    await server.waitForStdout("up");
    const ipA = ipOf(server.stdout)!;
    // By address, and by name: the network's containers are in each other's /etc/hosts.
    const r = await runMyuts(
      netRun(b, net, [], ["sh", "-c", `${httpGet(ipA, 80, `/peer-${token}.html`)}; cat /etc/hosts; ${httpGet(a, 80, `/peer-${token}.html`)}`]),
    );
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`${ipA}\t${a}\n`);
    expect(r.stdout.split(`\r\n\r\npeer-${token}\n`)).toHaveLength(3);
    expect(bridgePorts(bridge)).toHaveLength(1);
    // b has gone from a's list again.
    expect(readFileSync(`${NET_DIR}/files/${a}/hosts`, "utf8")).toEndWith("(kept current by myuts)\n");
    const busy = await runMyuts(["network", "rm", net]);
    expect(oneLine(busy)).toContain("in use by 1 container");
    server.kill("SIGTERM");
    await server.result();
    await expectClean(a, [ipA], bridge);
    await expectClean(b);
    const rm = await runMyuts(["network", "rm", net]);
    expect(rm.stderr).toBe("");
    expect(rm.code).toBe(0);
    networks.splice(networks.indexOf(net), 1);
    expect(existsSync(`/sys/class/net/${bridge}`)).toBe(false);
    expect(existsSync(`${CONFIG_DIR}/${net}.conflist`)).toBe(false);
    expect(existsSync(`${NET_DIR}/ipam/${net}`)).toBe(false);
    expect(iptablesLines().filter((l) => l.includes(`myuts network ${net}`))).toEqual([]);
    rmSync(`${fx.rootfs}/peer-${token}.html`);
  });

  test("/etc/hosts and /etc/resolv.conf are generated and bound in; the image's files stay as they were", async () => {
    const id = `c${uniqueToken()}`;
    const hadHosts = existsSync(`${fx.rootfs}/etc/hosts`);
    const r = await runMyuts(
      netRun(
        id,
        "bridge",
        ["--uts", "--hostname", "box1", "--dns", "10.1.2.3", "--dns-search", "example.test", "--add-host", "db:10.9.9.9"],
        ["sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf"],
      ),
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [hosts, resolv] = r.stdout.split("---\n");
    expect(hosts).toContain("127.0.0.1\tlocalhost");
    expect(hosts).toMatch(new RegExp(`10\\.77\\.\\d+\\.\\d+\\tbox1 ${id}`));
    expect(hosts).toContain("10.9.9.9\tdb");
    expect(resolv).toContain("nameserver 10.1.2.3");
    expect(resolv).toContain("search example.test");
    expect(resolv).not.toMatch(/nameserver 127\./);
    expect(existsSync(`${fx.rootfs}/etc/hosts`)).toBe(hadHosts);
    await expectClean(id);
  });

  test("a payload that is not found: exit 127, and the network is torn down", async () => {
    const id = `c${uniqueToken()}`;
    const r = await runMyuts(netRun(id, "bridge", ["--publish", `${freePort()}:80`], ["/no/such/payload"]));
    expect(r.code).toBe(127);
    await expectClean(id);
  });

  test("a SIGKILLed runtime's network is released by the next sweep", async () => {
    const id = `c${uniqueToken()}`;
    const p = start(netRun(id, "bridge", ["--publish", `${freePort()}:80`], ["sh", "-c", "ip -4 addr show eth0; echo up; exec sleep 60"]));
    await p.waitForStdout("up");
    const ip = ipOf(p.stdout)!;
    process.kill(p.pid, "SIGKILL");
    await p.result();
    // Nothing ran its cleanup: the entry, the lease and the rules are there (the namespace
    // and its veth ended with the runtime's last process).
    expect(leftovers(id, [ip]).length).toBeGreaterThan(0);
    const ls = await runMyuts(["network", "ls"]);
    expect(ls.code).toBe(0);
    await expectClean(id, [ip], "myuts0");
  });

  test("a detached container on a bridge: published, CNI CHECK in inspect finds a broken address, and rm releases it all", async () => {
    const id = `d${uniqueToken()}`;
    const port = freePort();
    const token = uniqueToken();
    writeFileSync(`${fx.rootfs}/index-${token}.html`, `served-${token}\n`);
    try {
      const r = await runMyuts([
        "run",
        "-d",
        "--name",
        id,
        "--network",
        "bridge",
        "--publish",
        `${port}:8080`,
        "--rootfs",
        fx.rootfs,
        "--",
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/",
      ]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(await fetchText(`http://127.0.0.1:${port}/index-${token}.html`)).toBe(`served-${token}\n`);
      const check = () => JSON.parse(Bun.spawnSync([MYUTS, "inspect", id], { stdout: "pipe" }).stdout.toString())[0].Network.Check as string;
      expect(check()).toBe("ok");
      const pid = JSON.parse(readFileSync(`${REGISTRY}/${id}.json`, "utf8")).pid as number;
      expect(Bun.spawnSync(["nsenter", "-t", String(pid), "-n", "ip", "addr", "flush", "dev", "eth0"]).exitCode).toBe(0);
      expect(check()).toMatch(/^network bridge: CNI plugin bridge CHECK failed: /);
      expect((await runMyuts(["rm", "-f", id])).code).toBe(0);
      await expectClean(id, [], "myuts0");
    } finally {
      await runMyuts(["rm", "-f", id]);
      rmSync(`${fx.rootfs}/index-${token}.html`, { force: true });
    }
  });

  test("20 containers started at once on one network get distinct addresses, and all of it goes", async () => {
    const net = await createNetwork();
    const bridge = bridgeOf(net);
    const ids = Array.from({ length: 20 }, (_, i) => `n${i}x${uniqueToken()}`);
    const results = await Promise.all(ids.map((id) => runMyuts(netRun(id, net, [], ["ip", "-4", "addr", "show", "eth0"]), { timeoutMs: 60_000 })));
    for (const r of results) {
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    const ips = results.map((r) => ipOf(r.stdout));
    expect(ips.every(Boolean)).toBe(true);
    expect(new Set(ips).size).toBe(20);
    for (const [i, id] of ids.entries()) await expectClean(id, [ips[i]!]);
    expect(bridgePorts(bridge)).toEqual([]);
  });

  test("a missing plugin: one line, and nothing is set up", async () => {
    const net = `t${uniqueToken()}`;
    mkdirSync(CONFIG_DIR, { recursive: true });
    const file = `${CONFIG_DIR}/${net}.conflist`;
    configFiles.push(file);
    writeFileSync(file, JSON.stringify({ cniVersion: "1.0.0", name: net, plugins: [{ type: "nosuchplugin" }] }));
    const id = `c${uniqueToken()}`;
    const r = await runMyuts(netRun(id, net, [], ["true"]));
    expect(oneLine(r)).toBe(`myuts: network ${net}: CNI plugin nosuchplugin not found in /usr/lib/cni or /opt/cni/bin (install containernetworking-plugins)`);
    await expectClean(id);
  });

  test("a plugin that fails after others succeeded: one line, and DEL undoes the others", async () => {
    const net = `t${uniqueToken()}`;
    const bridge = `mt${uniqueToken().slice(0, 8)}`;
    mkdirSync(CONFIG_DIR, { recursive: true });
    const file = `${CONFIG_DIR}/${net}.conflist`;
    configFiles.push(file);
    const list = {
      cniVersion: "1.0.0",
      name: net,
      plugins: [
        {
          type: "bridge",
          bridge,
          isGateway: true,
          ipMasq: true,
          ipam: { type: "host-local", dataDir: `${NET_DIR}/ipam`, ranges: [[{ subnet: "10.123.45.0/24" }]] },
        },
        { type: "tuning", sysctl: { "net.ipv4.conf.eth0.no_such_setting": "1" } },
      ],
    };
    writeFileSync(file, JSON.stringify(list));
    const id = `c${uniqueToken()}`;
    try {
      const r = await runMyuts(netRun(id, net, [], ["true"]));
      expect(oneLine(r)).toStartWith(`myuts: network ${net}: CNI plugin tuning ADD failed: `);
      await expectClean(id, ["10.123.45.2"], bridge);
    } finally {
      Bun.spawnSync(["ip", "link", "delete", bridge], { stderr: "ignore" });
      rmSync(`${NET_DIR}/ipam/${net}`, { recursive: true, force: true });
    }
  });

  test("a host port another container publishes: one line, and the first one keeps it", async () => {
    const port = freePort();
    const first = `c${uniqueToken()}`;
    const p = start(netRun(first, "bridge", ["--publish", `${port}:80`], ["sh", "-c", "echo up; exec sleep 60"]));
    await p.waitForStdout("up");
    const second = `c${uniqueToken()}`;
    const r = await runMyuts(netRun(second, "bridge", ["--publish", `${port}:80`], ["true"]));
    expect(oneLine(r)).toBe(`myuts: run: --publish ${port}/tcp: the host port is already in use`);
    await expectClean(second);
    expect(iptablesLines().some((l) => l.includes(`id: \\"${first}\\"`) && l.includes(String(port)))).toBe(true);
    p.kill("SIGTERM");
    await p.result();
    await expectClean(first);
  });

  test("a new user namespace on a bridge network: the address, and the host's /sys bound", async () => {
    const id = `c${uniqueToken()}`;
    const r = await runMyuts(netRun(id, "bridge", ["--user", "--map-root-user", "--pid", "--mount"], ["sh", "-c", "id -u; ip -4 addr show eth0"]));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("0\n");
    expect(ipOf(r.stdout)).toMatch(/^10\.77\./);
    await expectClean(id, [ipOf(r.stdout)!]);
  });

  test("docker's -p 8080:80 (here -p is --pid): one line says --publish, and nothing runs", async () => {
    const r = await runMyuts(["run", "-p", "8080:80", "--rootfs", fx.rootfs]);
    expect(r.code).toBe(125);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("--network bridge --publish 8080:80 publishes a port");
  });

  test("a list another user could have written is refused in one line", async () => {
    const net = await createNetwork();
    const file = `${CONFIG_DIR}/${net}.conflist`;
    chmodSync(file, 0o666);
    const id = `c${uniqueToken()}`;
    const r = await runMyuts(netRun(id, net, [], ["true"]));
    expect(oneLine(r)).toBe(
      `myuts: network ${net}: ${file} is writable by group or others (mode 0666); refusing its settings (root runs the plugins with them)`,
    );
    chmodSync(file, 0o644);
    await expectClean(id);
  });

  test("networks created at once get distinct subnets and bridges", async () => {
    const names = Array.from({ length: 6 }, () => `t${uniqueToken()}`);
    networks.push(...names);
    const results = await Promise.all(names.map((n) => runMyuts(["network", "create", n])));
    for (const r of results) expect(r.stderr).toBe("");
    const lists = names.map((n) => JSON.parse(readFileSync(`${CONFIG_DIR}/${n}.conflist`, "utf8")));
    expect(new Set(lists.map((l) => l.plugins[0].ipam.ranges[0][0].subnet)).size).toBe(names.length);
    expect(new Set(lists.map((l) => l.plugins[0].bridge)).size).toBe(names.length);
    const ls = await runMyuts(["network", "ls"]);
    for (const n of names) expect(ls.stdout).toContain(`${n} `);
  });

  test("a subnet collision: one line, and no network is made", async () => {
    const net = await createNetwork();
    const subnet = JSON.parse(readFileSync(`${CONFIG_DIR}/${net}.conflist`, "utf8")).plugins[0].ipam.ranges[0][0].subnet as string;
    const other = `t${uniqueToken()}`;
    const r = await runMyuts(["network", "create", other, "--subnet", subnet]);
    expect(oneLine(r)).toBe(`myuts: network create ${other}: subnet ${subnet} overlaps network ${net}'s ${subnet}`);
    expect(existsSync(`${CONFIG_DIR}/${other}.conflist`)).toBe(false);
  });

  test("a host port in use: one line, and nothing is set up", async () => {
    const holder = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } });
    try {
      const id = `c${uniqueToken()}`;
      const r = await runMyuts(netRun(id, "bridge", ["--publish", `${holder.port}:80`], ["true"]));
      expect(oneLine(r)).toBe(`myuts: run: --publish ${holder.port}/tcp: the host port is already in use`);
      await expectClean(id);
    } finally {
      holder.stop(true);
    }
  });
});

/** slirp4netns processes now (none of them should outlive a run). */
function slirps(): number[] {
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return readFileSync(`/proc/${n}/cmdline`, "utf8").startsWith("/usr/bin/slirp4netns\0") && !readFileSync(`/proc/${n}/stat`, "utf8").includes(") Z ");
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** As PID 1 of its namespace, a shell ends on SIGTERM only with a handler for it. */
const SERVE_UNTIL_TERM = "trap 'kill $!; exit 0' TERM; ip -4 addr show tap0; cat /etc/resolv.conf /etc/hosts; httpd -f -p 8080 -h / & echo up; wait";

describe.skipIf(!isRoot || !Bun.which("slirp4netns"))("rootless networks: slirp4netns (needs root to make the test user)", () => {
  test("an unprivileged user's container gets tap0 and a published port; slirp4netns ends with the run", async () => {
    const user = createTestUser(500000);
    const dir = mkdtempSync(join(tmpdir(), "myuts-slirp-test-"));
    chmodSync(dir, 0o755);
    // The test user must reach the root filesystem (mkdtemp made its folder 0700).
    chmodSync(fx.base, 0o755);
    const token = uniqueToken();
    writeFileSync(`${fx.rootfs}/slirp-${token}.html`, `slirp-${token}\n`);
    chmodSync(`${fx.rootfs}/slirp-${token}.html`, 0o644);
    const before = slirps();
    const cleanups: Array<() => void> = [];
    // Targets for the name files: the fixture's /etc is root's, and the test user, root only
    // in its own namespace, can't create files there (a user's own image would let it).
    for (const f of ["hosts", "resolv.conf"]) {
      if (existsSync(`${fx.rootfs}/etc/${f}`)) continue;
      writeFileSync(`${fx.rootfs}/etc/${f}`, "");
      cleanups.push(() => rmSync(`${fx.rootfs}/etc/${f}`, { force: true }));
    }
    try {
      const bin = reachableBinary(MYUTS, dir);
      mkdirSync(`${dir}/tun`);
      const port = freePort();
      const env = { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", HOME: dir, LANG: "C", XDG_RUNTIME_DIR: "" };
      const asUser = ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--"];
      const args = [
        "run",
        "--user",
        "--map-root-user",
        "--pid",
        "--mount",
        "--network",
        "slirp4netns",
        "--publish",
        `${port}:8080`,
        "--add-host",
        "db:10.9.9.9",
        "--rootfs",
        fx.rootfs,
      ];
      // Bridge networks are root's: one line that names the rootless one.
      const bridge = Bun.spawnSync([...asUser, bin, "run", "--network", "bridge", "--", "true"], { env, cwd: dir, stdout: "pipe", stderr: "pipe" });
      expect(bridge.exitCode).toBe(125);
      expect(bridge.stderr.toString()).toBe("myuts: --network bridge: bridge networks need root (without it: --network slirp4netns)\n");
      // This machine's /dev/net/tun is mode 0600: the run says so in one line.
      const refused = Bun.spawnSync([...asUser, bin, ...args, "--", "true"], { env, cwd: dir, stdout: "pipe", stderr: "pipe", timeout: 20_000 });
      if ((statSync("/dev/net/tun").mode & 0o777) === 0o600) {
        expect(refused.exitCode).toBe(125);
        expect(refused.stderr.toString()).toMatch(/^myuts: --network slirp4netns: .*\/dev\/net\/tun.*\n$/);
      }
      // In a private mount namespace, a tun node open to everyone over the host's.
      const tun = `mount -t tmpfs tmpfs ${dir}/tun && mknod -m 666 ${dir}/tun/tun c 10 200 && mount --bind ${dir}/tun/tun /dev/net/tun && exec "$@"`;
      const p = Bun.spawn(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", tun, "sh", ...asUser, bin, ...args, "--", "sh", "-c", SERVE_UNTIL_TERM],
        { env, cwd: dir, stdout: "pipe", stderr: "pipe" },
      );
      cleanups.push(() => p.kill("SIGKILL"));
      let out = "";
      const reader = (async () => {
        for await (const chunk of p.stdout) out += Buffer.from(chunk).toString();
      })();
      await waitFor(() => out.includes("up") || p.exitCode !== null, 15_000, "the container to start");
      if (!out.includes("up")) throw new Error(`the run ended: ${await new Response(p.stderr).text()}`);
      expect(out).toContain("inet 10.0.2.100/24");
      // Name files: slirp4netns's DNS forwarder, the container's address, --add-host.
      expect(out).toContain("nameserver 10.0.2.3\n");
      expect(out).toContain("10.9.9.9\tdb\n");
      expect(out).toMatch(/10\.0\.2\.100\t/);
      expect(await fetchText(`http://127.0.0.1:${port}/slirp-${token}.html`)).toBe(`slirp-${token}\n`);
      p.kill("SIGTERM");
      await p.exited;
      await reader;
      await waitFor(() => slirps().filter((x) => !before.includes(x)).length === 0, 5_000, "slirp4netns to end").catch(() => undefined);
      expect(slirps().filter((x) => !before.includes(x))).toEqual([]);
      // The name files' folder went once the container had mounted them.
      expect(readdirSync(tmpdir()).filter((f) => f.startsWith("myuts-names-") && statSync(join(tmpdir(), f)).uid === user.uid)).toEqual([]);
    } finally {
      for (const c of cleanups) c();
      rmSync(`${fx.rootfs}/slirp-${token}.html`, { force: true });
      rmSync(dir, { recursive: true, force: true });
      user.remove();
    }
  });
});
