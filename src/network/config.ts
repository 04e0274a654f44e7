// Network definitions: CNI network configuration lists (JSON), one file per network
// in the config folder, plus the default "bridge" network, which needs no file. Files
// there may be hand-edited or planted: each is read under a size cap and checked
// before anything of it reaches a plugin.
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs, path } from "../util/node.ts";
import { readRegularFile, RefusedFile } from "../util/read-file.ts";
import { firstHost, formatIPv4, formatSubnet, parseSubnet, type Subnet } from "./cidr.ts";
import { NETWORK_NAME } from "./request.ts";

/** Where `network create` writes its lists, and where any other CNI list may be put by hand. */
export const CONFIG_DIR = "/etc/myuts/net.d";
/** Where the plugins are looked for: Debian's package, then the upstream release's place. */
export const CNI_PATH = ["/usr/lib/cni", "/opt/cni/bin"];
/**
 * host-local's leases. On a tmpfs: a reboot ends every container, and the leases
 * with them; a lease file outliving its container would keep an address taken.
 */
export const IPAM_DIR = "/run/myuts-net/ipam";
export const DEFAULT_NETWORK = "bridge";
const DEFAULT_BRIDGE = "myuts0";
const DEFAULT_SUBNET = "10.77.0.0/16";
const CNI_VERSION = "1.0.0";
const MAX_FILE = 256 * 1024;
const PLUGIN_TYPE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const IFNAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;

export interface PluginConf {
  type: string;
  [key: string]: unknown;
}

/** A CNI network configuration list (the CNI spec's "network configuration list"). */
export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
  /**
   * myuts's own key (CNI runtimes ignore what they don't know): the network's subnets and
   * bridge, for the rules it has on the host as a whole, made on first use (host-rules.ts).
   */
  hostRules?: { subnets: string[]; bridge: string };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A bridge network as podman and docker make them: the host is the gateway, traffic
 * out is masqueraded, ports are published by portmap (snat: 127.0.0.1 works too), the
 * traffic gets through a FORWARD chain that drops by default. Masquerade and FORWARD are a
 * few rules for the whole network, as docker's (host-rules.ts), instead of the bridge
 * plugin's ipMasq and the firewall plugin's rules per container. (podman adds tuning,
 * which does nothing unless configured: left out, it costs every start and end.)
 */
export function bridgeConfList(name: string, bridge: string, subnet: Subnet): ConfList {
  return {
    cniVersion: CNI_VERSION,
    name,
    hostRules: { subnets: [formatSubnet(subnet)], bridge },
    plugins: [
      {
        type: "bridge",
        bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          dataDir: IPAM_DIR,
          routes: [{ dst: "0.0.0.0/0" }],
          ranges: [[{ subnet: formatSubnet(subnet), gateway: formatIPv4(firstHost(subnet)) }]],
        },
      },
      { type: "portmap", capabilities: { portMappings: true }, snat: true },
    ],
  };
}

export function defaultConfList(): ConfList {
  return bridgeConfList(DEFAULT_NETWORK, DEFAULT_BRIDGE, parseSubnet(DEFAULT_SUBNET)!);
}

/** A list's fields, checked; throws an Error saying what is wrong. */
export function parseConfList(v: unknown, expectedName?: string): ConfList {
  if (!isObject(v)) throw new Error("not a JSON object");
  if (typeof v.cniVersion !== "string" || !/^\d+\.\d+\.\d+$/.test(v.cniVersion)) throw new Error("cniVersion is not a version");
  if (typeof v.name !== "string" || !NETWORK_NAME.test(v.name)) throw new Error("name is not a network name");
  if (expectedName !== undefined && v.name !== expectedName) throw new Error(`its name (${v.name}) does not match its file name`);
  if (!Array.isArray(v.plugins) || v.plugins.length === 0 || v.plugins.length > 16) throw new Error("plugins is not a list of 1 to 16 plugins");
  for (const p of v.plugins) {
    // The type names a program run as root: a plain name, looked up in the plugin folders only.
    if (!isObject(p) || typeof p.type !== "string" || !PLUGIN_TYPE.test(p.type)) throw new Error("a plugin's type is not a plain plugin name");
    if (p.bridge !== undefined && (typeof p.bridge !== "string" || !IFNAME.test(p.bridge))) throw new Error("a bridge name is not an interface name");
  }
  const rules = v.hostRules;
  if (rules !== undefined) {
    if (
      !isObject(rules) ||
      typeof rules.bridge !== "string" ||
      !IFNAME.test(rules.bridge) ||
      !Array.isArray(rules.subnets) ||
      rules.subnets.length > 16 ||
      !rules.subnets.every((m) => typeof m === "string" && parseSubnet(m))
    )
      throw new Error("hostRules is not {subnets, bridge}");
  }
  return {
    cniVersion: v.cniVersion,
    name: v.name,
    plugins: v.plugins as PluginConf[],
    ...(isObject(rules) ? { hostRules: { subnets: rules.subnets as string[], bridge: rules.bridge as string } } : {}),
  };
}

/** The subnets a list's IPAM hands out (host-local's ranges, or its older single subnet). */
export function subnetsOf(c: ConfList): Subnet[] {
  const out: Subnet[] = [];
  for (const p of c.plugins) {
    const ipam = p.ipam;
    if (!isObject(ipam)) continue;
    const ranges = Array.isArray(ipam.ranges) ? ipam.ranges.flat() : [ipam];
    for (const r of ranges) {
      const s = isObject(r) && typeof r.subnet === "string" ? parseSubnet(r.subnet) : undefined;
      if (s) out.push(s);
    }
  }
  return out;
}

export function bridgeOf(c: ConfList): string | undefined {
  const b = c.plugins.find((p) => p.type === "bridge")?.bridge;
  return typeof b === "string" ? b : undefined;
}

const fileOf = (name: string) => path().join(CONFIG_DIR, `${name}.conflist`);

/**
 * Why another user could have written `p` (its owner, or its mode), or undefined. A list
 * decides what root runs and where plugins write (host-local's dataDir, for one), so
 * only the runtime's own user may have made it, as sshd's StrictModes asks of its files.
 */
function writableByOthers(p: string): string | undefined {
  let st: import("node:fs").Stats;
  try {
    st = fs().lstatSync(p);
  } catch {
    return undefined; // missing: the read says so
  }
  const me = process.geteuid?.() ?? 0;
  if (st.uid !== me) return `${p} is owned by uid ${st.uid}, not ${me}`;
  if (st.mode & 0o022) return `${p} is writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")})`;
  return undefined;
}

/** The list of a user's network, or undefined when there is no such file. */
function readConfFile(name: string): ConfList | undefined {
  const untrusted = [CONFIG_DIR, fileOf(name)].map(writableByOthers).find(Boolean);
  if (untrusted) throw new UserError(`network ${name}: ${untrusted}; refusing its settings (root runs the plugins with them)`);
  let text: string;
  try {
    text = readRegularFile(fileOf(name), MAX_FILE, { noFollow: true }).toString("utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return undefined;
    if (e instanceof RefusedFile) throw new UserError(`network ${name}: ${fileOf(name)}: ${e.message}`);
    throw fsError(`network ${name}: ${fileOf(name)}`, e);
  }
  try {
    return parseConfList(JSON.parse(text), name);
  } catch (e) {
    throw new UserError(`network ${name}: ${fileOf(name)}: ${e instanceof SyntaxError ? "not valid JSON" : (e as Error).message}`);
  }
}

/** The list for a network name, or a one-line error. */
export function loadNetwork(name: string): ConfList {
  if (!NETWORK_NAME.test(name)) throw new UserError(`network ${JSON.stringify(name)}: not a valid network name`);
  if (name === DEFAULT_NETWORK) return defaultConfList();
  const c = readConfFile(name);
  if (!c) throw new UserError(`network ${name}: no such network (see myuts network ls)`);
  return c;
}

/** Every network: the default one first, then the config folder's, by name. */
export function listNetworks(warn: (msg: string) => void): ConfList[] {
  let names: string[] = [];
  try {
    names = fs().readdirSync(CONFIG_DIR);
  } catch {
    // no folder: only the default network
  }
  const out = [defaultConfList()];
  for (const f of names.sort()) {
    const name = /^(.+)\.conflist$/.exec(f)?.[1];
    if (!name || !NETWORK_NAME.test(name) || name === DEFAULT_NETWORK) continue;
    try {
      const c = readConfFile(name);
      if (c) out.push(c);
    } catch (e) {
      warn(`${(e as Error).message}; skipped`);
    }
  }
  return out;
}

/** The path of each plugin a list needs; a one-line error naming the first one missing. */
export function pluginPaths(c: ConfList): Map<string, string> {
  const found = new Map<string, string>();
  for (const type of new Set(c.plugins.map((p) => p.type))) {
    const p = CNI_PATH.map((dir) => path().join(dir, type)).find((f) => {
      try {
        return fs().statSync(f).isFile();
      } catch {
        return false;
      }
    });
    if (!p) throw new UserError(`network ${c.name}: CNI plugin ${type} not found in ${CNI_PATH.join(" or ")} (install containernetworking-plugins)`);
    found.set(type, p);
  }
  return found;
}

/** Writes a list atomically (temporary file, then rename); `exclusive` refuses an existing one. */
export function writeConfFile(c: ConfList): void {
  const file = fileOf(c.name);
  const tmp = path().join(CONFIG_DIR, `.${c.name}.${process.pid}.tmp`);
  try {
    fs().mkdirSync(CONFIG_DIR, { recursive: true, mode: 0o755 });
    fs().writeFileSync(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o644, flag: "w" });
    fs().renameSync(tmp, file);
  } catch (e) {
    fs().rmSync(tmp, { force: true });
    throw fsError(`network ${c.name}: ${file}`, e);
  }
}

export function removeConfFile(name: string): void {
  try {
    fs().unlinkSync(fileOf(name));
  } catch (e) {
    throw fsError(`network ${name}: ${fileOf(name)}`, e, "unlink");
  }
}
