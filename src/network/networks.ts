// `myuts network create | ls | rm`: user networks as CNI lists in the config folder.
// Changes take a lock, so two creates can't both take the same subnet or bridge name.
import { flock, LOCK_EX } from "../../ffi/libc.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs, path } from "../util/node.ts";
import { formatSubnet, overlaps, parseSubnet, type Subnet } from "./cidr.ts";
import {
  bridgeConfList,
  bridgeOf,
  DEFAULT_NETWORK,
  IPAM_DIR,
  listNetworks,
  loadNetwork,
  removeConfFile,
  subnetsOf,
  writeConfFile,
  type ConfList,
} from "./config.ts";
import { NET_RUN_DIR } from "./run-dir.ts";
import { NETWORK_NAME } from "./request.ts";
import { removeNetworkRules } from "./host-rules.ts";
import { routeClash } from "./routes.ts";
import { SLIRP_NETWORK } from "./slirp.ts";

const RESERVED = new Set([DEFAULT_NETWORK, "none", "host", SLIRP_NETWORK]);

/** Runs `fn` holding the lock on network changes (released when the descriptor closes). */
function locked<T>(fn: () => T): T {
  let fd: number;
  try {
    fs().mkdirSync(NET_RUN_DIR, { recursive: true, mode: 0o755 });
    fd = fs().openSync(path().join(NET_RUN_DIR, "networks.lock"), "a", 0o600);
  } catch (e) {
    throw fsError(`network lock ${NET_RUN_DIR}/networks.lock`, e, "open");
  }
  try {
    flock(fd, LOCK_EX);
    return fn();
  } finally {
    fs().closeSync(fd);
  }
}

/** Why `s` can't be a new network's subnet: the network or host route it overlaps. */
function subnetClash(s: Subnet, networks: readonly ConfList[]): string | undefined {
  for (const n of networks) {
    const other = subnetsOf(n).find((o) => overlaps(o, s));
    if (other) return `network ${n.name}'s ${formatSubnet(other)}`;
  }
  const route = routeClash(s, undefined);
  return route ? `the host's route ${route}` : undefined;
}

/** The first free 10.89.N.0/24, as podman picks 10.89.N.0/24 for its networks. */
function freeSubnet(networks: readonly ConfList[]): Subnet {
  for (let n = 0; n < 256; n++) {
    const s = parseSubnet(`10.89.${n}.0/24`)!;
    if (!subnetClash(s, networks)) return s;
  }
  throw new UserError("network create: no free subnet in 10.89.0.0/16; give one with --subnet");
}

/** myuts1, myuts2…: the first name no network and no interface of the host has. */
function freeBridge(networks: readonly ConfList[]): string {
  const taken = new Set(networks.map(bridgeOf));
  for (let n = 1; ; n++) {
    const name = `myuts${n}`;
    if (!taken.has(name) && !fs().existsSync(`/sys/class/net/${name}`)) return name;
  }
}

export function createNetwork(name: string, subnetText: string | undefined, warn: (msg: string) => void): ConfList {
  if (!NETWORK_NAME.test(name)) throw new UserError(`network create ${JSON.stringify(name)}: use letters, digits, '_', '.' and '-' (at most 32)`);
  if (RESERVED.has(name)) throw new UserError(`network create ${name}: the name is reserved`);
  let subnet: Subnet | undefined;
  if (subnetText !== undefined) {
    subnet = parseSubnet(subnetText);
    if (!subnet) throw new UserError(`network create ${name}: --subnet ${subnetText}: expected an IPv4 subnet such as 10.89.0.0/24 (host bits zero)`);
    if (subnet.prefix > 30 || subnet.prefix < 8) throw new UserError(`network create ${name}: --subnet ${subnetText}: the prefix must be from /8 to /30`);
  }
  return locked(() => {
    const networks = listNetworks(warn);
    if (networks.some((n) => n.name === name)) throw new UserError(`network create ${name}: a network of that name exists`);
    const s = subnet ?? freeSubnet(networks);
    const clash = subnetClash(s, networks);
    if (clash) throw new UserError(`network create ${name}: subnet ${formatSubnet(s)} overlaps ${clash}`);
    const list = bridgeConfList(name, freeBridge(networks), s);
    writeConfFile(list);
    return list;
  });
}

/** The bridge's ports: the containers still attached to it. */
function bridgePorts(bridge: string): string[] {
  try {
    return fs().readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return [];
  }
}

/** Removes a network's list, its bridge and its leases; refuses one that containers use. */
export function removeNetwork(name: string): void {
  if (name === DEFAULT_NETWORK) throw new UserError(`network rm ${name}: the default network can't be removed`);
  locked(() => {
    const list = loadNetwork(name);
    const bridge = bridgeOf(list);
    const ports = bridge ? bridgePorts(bridge) : [];
    if (ports.length) throw new UserError(`network rm ${name}: in use by ${ports.length} container${ports.length > 1 ? "s" : ""} (bridge ${bridge})`);
    removeConfFile(name);
    if (bridge && fs().existsSync(`/sys/class/net/${bridge}`)) {
      const r = Bun.spawnSync(["ip", "link", "delete", bridge, "type", "bridge"], { stdout: "ignore", stderr: "pipe" });
      if (r.exitCode !== 0) throw new UserError(`network rm ${name}: removing bridge ${bridge}: ${r.stderr.toString().trim() || `ip exited ${r.exitCode}`}`);
    }
    removeNetworkRules(list);
    fs().rmSync(path().join(IPAM_DIR, name), { recursive: true, force: true });
  });
}

export interface NetworkRow {
  name: string;
  subnets: string;
  bridge: string;
}

export function networkRows(warn: (msg: string) => void): NetworkRow[] {
  return listNetworks(warn).map((n) => ({ name: n.name, subnets: subnetsOf(n).map(formatSubnet).join(",") || "-", bridge: bridgeOf(n) ?? "-" }));
}
