// The host's IPv4 routes (/proc/net/route): a network whose subnet overlaps one the
// host already reaches another way would take over, or lose, that traffic.
import { fs } from "../util/node.ts";
import { formatSubnet, overlaps, type Subnet } from "./cidr.ts";

export interface Route {
  iface: string;
  subnet: Subnet;
}

/** /proc/net/route's fields are little-endian hex; the default route (mask 0) is left out. */
export function hostRoutes(text?: string): Route[] {
  let t = text;
  try {
    t ??= fs().readFileSync("/proc/net/route", "utf8");
  } catch {
    return [];
  }
  const out: Route[] = [];
  for (const line of t.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !/^[0-9A-Fa-f]{8}$/.test(f[1]!) || !/^[0-9A-Fa-f]{8}$/.test(f[7]!)) continue;
    const le = (h: string) => Buffer.from(h, "hex").readUInt32LE(0);
    const dst = le(f[1]!);
    const mask = le(f[7]!);
    if (mask === 0) continue;
    // A netmask's bits are contiguous: its prefix length is how many are set.
    const prefix = mask.toString(2).replace(/0/g, "").length;
    out.push({ iface: f[0]!, subnet: { base: (dst & mask) >>> 0, prefix } });
  }
  return out;
}

/** The first host route (not through `ownBridge`) that overlaps `s`, described, or undefined. */
export function routeClash(s: Subnet, ownBridge: string | undefined, routes = hostRoutes()): string | undefined {
  const r = routes.find((x) => x.iface !== ownBridge && overlaps(x.subnet, s));
  return r ? `${formatSubnet(r.subnet)} on ${r.iface}` : undefined;
}
