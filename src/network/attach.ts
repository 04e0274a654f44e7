// A container's attachment to a network, from plan to teardown. The order is what
// makes every exit path clean: the plan (network, its configuration list as it is
// now, the ports) is recorded in the container's registry entry before anything
// exists; what ADD returned is recorded as it comes; teardown runs DEL with exactly
// that. A runtime killed at any point leaves an entry from which a later start
// undoes all of it (releaseNetwork).
import { UserError } from "../util/errors.ts";
import { fs, path } from "../util/node.ts";
import { formatSubnet } from "./cidr.ts";
import { addList, checkList, addressesOf, delList, type CniTarget } from "./cni.ts";
import { bridgeOf, loadNetwork, pluginPaths, subnetsOf, type PluginConf } from "./config.ts";
import { hostsFile, nameFilesDir, resolvConf, setPeers, writeNameFiles } from "./name-files.ts";
import { createNetns, type Netns } from "./netns.ts";
import { ensureNetworkRules, removeMasquerade } from "./host-rules.ts";
import { holdPorts, type PortHold } from "./ports.ts";
import type { NetworkRequest } from "./request.ts";
import { IFNAME, type NetworkRecord } from "./record.ts";
import { routeClash } from "./routes.ts";

/** The folder of a container's generated /etc/hosts and /etc/resolv.conf. */

/**
 * Checks what can be checked before anything exists: the network, its plugins, its
 * subnets against the host's routes. Throws one line.
 */
export function planNetwork(req: NetworkRequest): NetworkRecord {
  if (process.geteuid?.() !== 0) throw new UserError(`--network ${req.network}: bridge networks need root (without it: --network slirp4netns)`);
  const config = loadNetwork(req.network);
  pluginPaths(config);
  for (const s of subnetsOf(config)) {
    const clash = routeClash(s, bridgeOf(config));
    if (clash) throw new UserError(`network ${config.name}: its subnet ${formatSubnet(s)} overlaps the host's route ${clash}`);
  }
  // portmap with no mappings returns at once, but its exec costs every start and end:
  // left out of this container's list (the record keeps the list as run, so DEL matches).
  const idle = (p: PluginConf) => p.type === "portmap" && !req.ports.length;
  const plugins = config.plugins.every(idle) ? config.plugins : config.plugins.filter((p) => !idle(p));
  return { network: config.name, ifname: IFNAME, config: { ...config, plugins }, ports: req.ports, stage: "planned" };
}

/** The binds of the generated name files over the image's, for a container with its own root. */
export class Attachment {
  private ports: PortHold | undefined;
  private netns: Netns | undefined;

  constructor(
    private readonly req: NetworkRequest,
    readonly record: NetworkRecord,
    private readonly containerId: string,
    /** Writes the record into the registry entry. */
    private readonly save: () => void,
  ) {}

  /** The namespace the container joins (after setUp). */
  get netnsPath(): string | undefined {
    return this.netns?.path;
  }

  /** Ports, namespace (lo up), ADD, name files; throws one line, leaving teardown to undo what exists. */
  async setUp(names: readonly string[]): Promise<void> {
    this.ports = await holdPorts(this.record.ports);
    const plugins = pluginPaths(this.record.config);
    this.record.stage = "adding";
    this.save();
    ensureNetworkRules(this.record.config);
    this.netns = createNetns();
    const target: CniTarget = { containerId: this.containerId, netns: this.netns.path, ifname: this.record.ifname };
    this.record.result = addList(this.record.config, plugins, target, { portMappings: this.record.ports }, (r) => {
      this.record.result = r;
      this.save();
    });
    this.record.stage = "added";
    this.save();
    const addresses = addressesOf(this.record.result);
    writeNameFiles(nameFilesDir(this.containerId), { hosts: hostsFile(this.req, addresses, names), "resolv.conf": resolvConf(this.req) });
  }

  /** Undoes everything; what went wrong (nothing: all of it is gone). */
  tearDown(): string[] {
    this.ports?.release();
    this.ports = undefined;
    try {
      return releaseNetwork(this.record, this.containerId, this.netns?.path);
    } finally {
      this.netns?.close();
    }
  }
}

/**
 * CNI CHECK of a running container's attachment, through its first process's network
 * namespace: undefined when the plugins find it as ADD left it, else what is wrong.
 */
export function checkNetwork(record: NetworkRecord, containerId: string, pid: number): string | undefined {
  if (record.stage !== "added") return `network ${record.network}: not set up (${record.stage})`;
  let plugins: Map<string, string>;
  try {
    plugins = pluginPaths(record.config);
  } catch (e) {
    return (e as Error).message;
  }
  const target: CniTarget = { containerId, netns: `/proc/${pid}/ns/net`, ifname: record.ifname };
  // ADD named the namespace by the runtime's descriptor; the same namespace now has this path.
  const result = JSON.parse(JSON.stringify(record.result ?? null)) as { interfaces?: Array<{ sandbox?: string }> } | null;
  for (const i of result?.interfaces ?? []) if (i.sandbox) i.sandbox = target.netns;
  // portmap's CHECK looks for its IPv6 chains even when the container has no IPv6 address
  // (it never made them), and so always fails on an IPv4-only network: it is left out there.
  const ipv6 = addressesOf(record.result).some((a) => a.includes(":"));
  return checkList(record.config, plugins, target, { portMappings: record.ports }, result, (type) => type === "portmap" && !ipv6);
}

/**
 * Lists, in each attached container's /etc/hosts, the others on its network by name
 * (`members`: the live containers on one network, from the registry, which the caller
 * holds locked so that two starts can't miss each other).
 */
export function refreshPeers(members: ReadonlyArray<{ name: string; record: NetworkRecord }>): void {
  const entries = members.flatMap((m) => (m.record.stage === "added" ? addressesOf(m.record.result).map((ip) => ({ name: m.name, ip })) : []));
  for (const m of members)
    setPeers(
      path().join(nameFilesDir(m.name), "hosts"),
      entries.filter((e) => e.name !== m.name),
    );
}

/**
 * Undoes a recorded attachment: DEL with what ADD returned, in the namespace when the
 * runtime still holds it (`netns`), else with none (a killed runtime's: the namespace
 * and the veth in it are gone, the plugins release the rest); then the name files.
 */
export function releaseNetwork(record: NetworkRecord, containerId: string, netns?: string): string[] {
  const problems: string[] = [];
  if (record.stage !== "planned") {
    let plugins: Map<string, string> | undefined;
    try {
      plugins = pluginPaths(record.config);
    } catch (e) {
      problems.push((e as Error).message);
    }
    if (plugins) {
      const target: CniTarget = { containerId, netns: netns ?? "", ifname: record.ifname };
      problems.push(...delList(record.config, plugins, target, { portMappings: record.ports }, record.result));
      if (!netns) problems.push(...removeMasquerade(record.config, containerId, addressesOf(record.result)));
    }
  }
  fs().rmSync(nameFilesDir(containerId), { recursive: true, force: true });
  return problems;
}
