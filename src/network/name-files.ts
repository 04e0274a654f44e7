// /etc/hosts and /etc/resolv.conf for a container on a network: written into the
// container's own state folder and bound over the image's files, so the image is
// never changed, and the container's resolvers are ones it can reach.
import type { Mount } from "../spec/types.ts";
import { fs, path } from "../util/node.ts";
import { NET_RUN_DIR } from "./run-dir.ts";
import { parseIPv4 } from "./cidr.ts";
import type { HostEntry, NetworkRequest } from "./request.ts";

const MAX_RESOLV = 64 * 1024;

/** The host's resolv.conf, if readable. */
function hostResolv(): string {
  for (const f of ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"]) {
    try {
      const text = fs().readFileSync(f, "utf8").slice(0, MAX_RESOLV);
      if (nameservers(text).some((ns) => !isLoopback(ns))) return text;
    } catch {
      // next one
    }
  }
  return "";
}

const nameservers = (text: string) => [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!);
const isLoopback = (ip: string) => ip === "::1" || (parseIPv4(ip) ?? 0) >>> 24 === 127;

/**
 * The container's resolv.conf: the host's, with loopback resolvers (a local cache such
 * as systemd-resolved, unreachable from another namespace) dropped; --dns and
 * --dns-search replace the host's; docker's public fallback when nothing is left.
 */
export function resolvConf(req: NetworkRequest, host = hostResolv()): string {
  const hostServers = nameservers(host).filter((ns) => !isLoopback(ns));
  const servers = req.dns.length ? req.dns : hostServers.length ? hostServers : ["8.8.8.8", "8.8.4.4"];
  const search = req.dnsSearch.length ? req.dnsSearch : (/^\s*search\s+(.+)$/m.exec(host)?.[1]?.trim().split(/\s+/) ?? []);
  const options = [...host.matchAll(/^\s*options\s+(.+)$/gm)].map((m) => m[1]!.trim());
  return [
    ...(search.length ? [`search ${search.join(" ")}`] : []),
    ...servers.map((s) => `nameserver ${s}`),
    ...(options.length ? [`options ${options.join(" ")}`] : []),
    "",
  ].join("\n");
}

/** Where the part of /etc/hosts that lists the network's other containers starts; myuts rewrites what follows. */
const PEERS_MARK = "# other containers on this network (kept current by myuts)";

/** The container's /etc/hosts; `peers`: with the part that lists the network's other containers. */
export function hostsFile(req: NetworkRequest, addresses: readonly string[], names: readonly string[], peers = true): string {
  const lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"];
  for (const a of addresses) lines.push(`${a}\t${[...new Set(names)].join(" ")}`);
  for (const h of req.addHosts) lines.push(`${h.ip}\t${h.name}`);
  if (peers) lines.push(PEERS_MARK);
  return `${lines.join("\n")}\n`;
}

const MAX_HOSTS = 1024 * 1024;

/**
 * Replaces the peers part of a container's hosts file, in place: the container sees the
 * file through a bind mount of this very inode, so it must not be replaced by a rename.
 * A file that is gone or not a regular file is left alone.
 */
export function setPeers(file: string, peers: readonly HostEntry[]): void {
  const f = fs();
  let fd: number;
  try {
    fd = f.openSync(file, f.constants.O_RDWR | f.constants.O_NOFOLLOW | f.constants.O_NONBLOCK);
  } catch {
    return;
  }
  try {
    const st = f.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_HOSTS) return;
    const buf = Buffer.alloc(st.size);
    f.readSync(fd, buf, 0, st.size, 0);
    const text = buf.toString("utf8");
    const at = text.indexOf(`${PEERS_MARK}\n`);
    if (at === -1) return;
    const next = Buffer.from(text.slice(0, at + PEERS_MARK.length + 1) + peers.map((p) => `${p.ip}\t${p.name}\n`).join(""));
    f.writeSync(fd, next, 0, next.length, 0);
    f.ftruncateSync(fd, next.length);
  } finally {
    f.closeSync(fd);
  }
}

/** Writes each file (temporary file, then rename) into `dir`. */
export function writeNameFiles(dir: string, files: Record<string, string>): void {
  fs().mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [name, text] of Object.entries(files)) {
    const tmp = path().join(dir, `.${name}.tmp`);
    fs().writeFileSync(tmp, text, { mode: 0o644 });
    fs().renameSync(tmp, path().join(dir, name));
  }
}

/** Where a CNI container's /etc/hosts and resolv.conf live while it runs. */
export function nameFilesDir(name: string): string {
  return path().join(NET_RUN_DIR, "files", name);
}

export function nameFileMounts(dir: string): Mount[] {
  return ["hosts", "resolv.conf"].map((f) => ({
    destination: `/etc/${f}`,
    type: "bind",
    source: path().join(dir, f),
    options: ["bind", "rprivate"],
  }));
}
