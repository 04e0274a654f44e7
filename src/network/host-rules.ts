// A network's iptables rules on the host. myuts's own lists have a few for the whole
// network, as docker's bridges do (masquerade out, accept through FORWARD), made when a
// container first needs them and removed with the network: rules per container (the
// bridge plugin's ipMasq chain, the firewall plugin's) cost about 140 ms of every
// container's life here. Lists that use ipMasq get a chain per container, which the plugin
// removes only when DEL is given the container's namespace; a runtime that was killed
// leaves none to give (the namespace ended with it), so those are removed here, found as
// the plugin names them: a nat chain "CNI-" + the first 24 hex digits of
// sha512(network + id), jumped to from POSTROUTING with a comment naming both.
import { flock, LOCK_EX } from "../../ffi/libc.ts";
import { UserError } from "../util/errors.ts";
import { fs, path } from "../util/node.ts";
import type { ConfList } from "./config.ts";
import { NET_RUN_DIR } from "./run-dir.ts";

const isIPv4 = (s: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s);

function iptables(table: string, args: readonly string[]): { ok: boolean; err: string } {
  const r = Bun.spawnSync(["iptables", "-w", "-t", table, ...args], { stdout: "ignore", stderr: "pipe" });
  return { ok: r.exitCode === 0, err: r.stderr.toString().trim() };
}

/** The iptables rules a myuts network has on the host, whatever containers it holds. */
function networkRules(list: ConfList): Array<{ table: string; add: "-A" | "-I"; rule: string[] }> {
  const r = list.hostRules;
  if (!r) return [];
  const tag = ["-m", "comment", "--comment", `myuts network ${list.name}`];
  return [
    // Traffic out leaves with the host's address.
    ...r.subnets.map((s) => ({ table: "nat", add: "-A" as const, rule: ["POSTROUTING", "-s", s, "!", "-d", s, ...tag, "-j", "MASQUERADE"] })),
    // Through a FORWARD chain that drops by default (docker's does): everything from the
    // containers; to them, replies and published ports (connections portmap DNATed).
    { table: "filter", add: "-I", rule: ["FORWARD", "-i", r.bridge, ...tag, "-j", "ACCEPT"] },
    { table: "filter", add: "-I", rule: ["FORWARD", "-o", r.bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", ...tag, "-j", "ACCEPT"] },
  ];
}

/** Makes the network's rules that are missing (checked first without a lock: each is there but once). */
export function ensureNetworkRules(list: ConfList): void {
  const missing = () => networkRules(list).filter((x) => !iptables(x.table, ["-C", ...x.rule]).ok);
  if (!missing().length) return;
  fs().mkdirSync(NET_RUN_DIR, { recursive: true, mode: 0o755 });
  const fd = fs().openSync(path().join(NET_RUN_DIR, "rules.lock"), "a", 0o600);
  try {
    flock(fd, LOCK_EX);
    for (const x of missing()) {
      const r = iptables(x.table, [x.add, ...x.rule]);
      if (!r.ok) throw new UserError(`network ${list.name}: iptables rule ${x.rule.join(" ")}: ${r.err || "iptables failed"}`);
    }
  } finally {
    fs().closeSync(fd);
  }
}

/** Removes the network's rules (with the network). */
export function removeNetworkRules(list: ConfList): void {
  for (const x of networkRules(list)) while (iptables(x.table, ["-D", ...x.rule]).ok);
}

/** Removes what ipMasq made for `containerId`; what went wrong (a rule already gone is fine). */
export function removeMasquerade(list: ConfList, containerId: string, addresses: readonly string[]): string[] {
  if (!list.plugins.some((p) => p.type === "bridge" && p.ipMasq === true)) return [];
  const hash = new Bun.CryptoHasher("sha512").update(list.name + containerId).digest("hex");
  const chain = `CNI-${hash.slice(0, 24)}`;
  const comment = `name: "${list.name}" id: "${containerId}"`;
  for (const ip of addresses.filter(isIPv4)) iptables("nat", ["-D", "POSTROUTING", "-s", `${ip}/32`, "-m", "comment", "--comment", comment, "-j", chain]);
  iptables("nat", ["-F", chain]);
  const x = iptables("nat", ["-X", chain]);
  if (x.ok || /No chain|does not exist/i.test(x.err)) return [];
  return [`network ${list.name}: masquerade chain ${chain}: ${x.err || "iptables failed"}`];
}
