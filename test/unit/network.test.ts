// The network module's pure parts: subnets, flags, the annotation and registry
// records read back as hostile input, the CNI lists, the host's routes, the name files.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseRunArgs } from "../../src/cli/run-flags.ts";
import { parseNetworkRecord } from "../../src/network/record.ts";
import { formatSubnet, overlaps, parseIPv4, parseSubnet } from "../../src/network/cidr.ts";
import { bridgeConfList, defaultConfList, parseConfList, subnetsOf } from "../../src/network/config.ts";
import { hostsFile, resolvConf, setPeers } from "../../src/network/name-files.ts";
import { NETWORK_ANNOTATION, parseAddHost, parseNetworkRequest, parsePublish, type NetworkRequest } from "../../src/network/request.ts";
import { hostRoutes, routeClash } from "../../src/network/routes.ts";
import { specFromRun } from "../../src/spec/from-run.ts";
import { validateSpec } from "../../src/spec/validate.ts";
import { failure } from "../helpers/user-error.ts";

const req = (extra: Partial<NetworkRequest> = {}): NetworkRequest => ({ network: "bridge", ports: [], dns: [], dnsSearch: [], addHosts: [], ...extra });

describe("subnets", () => {
  test("parse, format, overlap", () => {
    expect(parseIPv4("10.1.2.3")).toBe(0x0a010203);
    expect(parseIPv4("10.1.2.256")).toBeUndefined();
    expect(formatSubnet(parseSubnet("10.89.0.0/24")!)).toBe("10.89.0.0/24");
    expect(parseSubnet("10.89.0.1/24")).toBeUndefined();
    expect(parseSubnet("10.89.0.0/33")).toBeUndefined();
    expect(overlaps(parseSubnet("10.89.0.0/16")!, parseSubnet("10.89.5.0/24")!)).toBe(true);
    expect(overlaps(parseSubnet("10.89.5.0/25")!, parseSubnet("10.89.5.128/25")!)).toBe(false);
  });

  test("/proc/net/route: little-endian hex, the default route left out; a clash names the route", () => {
    const text = [
      "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT",
      "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0",
      "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
      "myuts0\t00004D0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0",
    ].join("\n");
    const routes = hostRoutes(text);
    expect(routes.map((r) => `${r.iface} ${formatSubnet(r.subnet)}`)).toEqual(["eth0 192.0.2.0/24", "myuts0 10.77.0.0/16"]);
    expect(routeClash(parseSubnet("192.0.2.128/25")!, undefined, routes)).toBe("192.0.2.0/24 on eth0");
    // A network's own bridge route is no clash.
    expect(routeClash(parseSubnet("10.77.0.0/16")!, "myuts0", routes)).toBeUndefined();
  });
});

describe("run's network flags", () => {
  test("--network bridge: a new namespace, and the request in the spec's annotation", () => {
    const o = parseRunArgs(["--network", "bridge", "--publish", "127.0.0.1:8080:80/udp", "--dns", "10.0.0.53", "--add-host", "db:10.9.9.9", "true"], {});
    expect(o.namespaces.has("network")).toBe(true);
    expect(o.network).toEqual({
      network: "bridge",
      ports: [{ hostIP: "127.0.0.1", hostPort: 8080, containerPort: 80, protocol: "udp" }],
      dns: ["10.0.0.53"],
      dnsSearch: [],
      addHosts: [{ name: "db", ip: "10.9.9.9" }],
    });
    const spec = validateSpec(specFromRun(o, { env: {}, cwd: "/", uid: 0, gid: 0, stdinIsTTY: false }));
    expect(parseNetworkRequest(spec.annotations![NETWORK_ANNOTATION]!)).toEqual(o.network!);
  });

  test("--net keeps meaning only lo; --network none too", () => {
    expect(parseRunArgs(["--net", "true"], {}).network).toBeUndefined();
    expect(parseRunArgs(["--network", "none", "true"], {}).network).toBeUndefined();
  });

  test("bad values and --publish without a network are one line each", () => {
    expect(failure(() => parsePublish("80")).message).toContain("expected [IP:]HOST_PORT:CONTAINER_PORT");
    expect(failure(() => parsePublish("70000:80")).message).toContain("ports 1 to 65535");
    expect(failure(() => parsePublish("1.2.3:80:80")).message).toContain("--publish 1.2.3:80:80");
    expect(failure(() => parseAddHost("db")).message).toContain("expected NAME:IPv4-ADDRESS");
    expect(failure(() => parseRunArgs(["--publish", "8080:80", "true"], {})).message).toBe(
      "run: --publish needs a network: --network bridge or --network NAME",
    );
    expect(failure(() => parseRunArgs(["--network", "a/b", "true"], {})).message).toContain("expected none, host, bridge");
  });
});

describe("read back from disk (hostile)", () => {
  test("the annotation: each field checked as the flags check it", () => {
    expect(failure(() => parseNetworkRequest("{")).message).toContain("not valid JSON");
    expect(failure(() => parseNetworkRequest('{"network":"../x"}')).message).toContain("network is not a network's name");
    expect(failure(() => parseNetworkRequest('{"network":"n","ports":[{"hostPort":0,"containerPort":80,"protocol":"tcp"}]}')).message).toContain(
      "ports 1 to 65535",
    );
    expect(failure(() => parseNetworkRequest('{"network":"n","dns":["x; rm"]}')).message).toContain("expected an IPv4 address");
  });

  test("a CNI list: plugin types are plain names, bridges interface names", () => {
    expect(parseConfList(defaultConfList())).toEqual(defaultConfList());
    expect(() => parseConfList({ cniVersion: "1.0.0", name: "n", plugins: [{ type: "../../bin/sh" }] })).toThrow("plain plugin name");
    expect(() => parseConfList({ cniVersion: "1.0.0", name: "n", plugins: [{ type: "bridge", bridge: "a/b" }] })).toThrow("interface name");
    expect(() => parseConfList({ cniVersion: "1.0.0", name: "n", plugins: [] })).toThrow("1 to 16");
    expect(() => parseConfList({ cniVersion: "1.0.0", name: "n", plugins: [{ type: "bridge" }], hostRules: { subnets: ["x"], bridge: "b" } })).toThrow(
      "hostRules",
    );
    expect(() => parseConfList({ cniVersion: "1.0.0", name: "n", plugins: [{ type: "bridge" }], hostRules: { subnets: [], bridge: "-j ACCEPT" } })).toThrow(
      "hostRules",
    );
    expect(() => parseConfList({ cniVersion: "1.0.0", name: "x", plugins: [{ type: "bridge" }] }, "y")).toThrow("does not match");
  });

  test("a registry entry's network record", () => {
    const config = bridgeConfList("lab", "myuts1", parseSubnet("10.89.1.0/24")!);
    expect(subnetsOf(config).map(formatSubnet)).toEqual(["10.89.1.0/24"]);
    const good = { network: "lab", ifname: "eth0", config, ports: [], stage: "added", result: { ips: [] } };
    expect(parseNetworkRecord(good)).toEqual(good as ReturnType<typeof parseNetworkRecord>);
    expect(() => parseNetworkRecord({ ...good, stage: "done" })).toThrow("stage");
    expect(() => parseNetworkRecord({ ...good, ifname: "lo" })).toThrow("ifname");
    expect(() => parseNetworkRecord({ ...good, network: "other" })).toThrow("does not match");
    expect(() => parseNetworkRecord({ ...good, result: "x" })).toThrow("result");
    expect(() => parseNetworkRecord({ ...good, ports: [{ hostPort: 1 }] })).toThrow();
  });
});

describe("name files", () => {
  test("resolv.conf: loopback resolvers dropped; --dns and --dns-search replace the host's", () => {
    const host = "search corp.test\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n";
    expect(resolvConf(req(), host)).toBe("search corp.test\nnameserver 10.0.0.2\noptions edns0\n");
    expect(resolvConf(req({ dns: ["10.1.1.1"], dnsSearch: ["a.test"] }), host)).toBe("search a.test\nnameserver 10.1.1.1\noptions edns0\n");
    expect(resolvConf(req(), "nameserver 127.0.0.53\n")).toBe("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  });

  test("hosts: localhost, the container's names on its address, --add-host", () => {
    const text = hostsFile(req({ addHosts: [{ name: "db", ip: "10.9.9.9" }] }), ["10.77.0.5"], ["box", "c1", "box"]);
    expect(text).toBe(
      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.77.0.5\tbox c1\n10.9.9.9\tdb\n# other containers on this network (kept current by myuts)\n",
    );
  });

  test("hosts: the other containers' part is rewritten in place (the container sees this inode)", () => {
    const dir = mkdtempSync(join(tmpdir(), "myuts-hosts-"));
    try {
      const file = join(dir, "hosts");
      writeFileSync(file, hostsFile(req(), ["10.77.0.5"], ["c1"]));
      const ino = statSync(file).ino;
      setPeers(file, [
        { name: "c2", ip: "10.77.0.6" },
        { name: "c3", ip: "10.77.0.7" },
      ]);
      setPeers(file, [{ name: "c3", ip: "10.77.0.7" }]);
      expect(readFileSync(file, "utf8")).toEndWith("(kept current by myuts)\n10.77.0.7\tc3\n");
      expect(statSync(file).ino).toBe(ino);
      // A link is not followed.
      symlinkSync(file, join(dir, "link"));
      setPeers(join(dir, "link"), []);
      expect(readFileSync(file, "utf8")).toEndWith("10.77.0.7\tc3\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
