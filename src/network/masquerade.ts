// The bridge plugin removes a container's masquerade rules only when DEL is given the
// container's namespace. A runtime that was killed leaves none to give (the namespace
// ended with it): the rules are removed here instead. They are found as the plugin
// names them: a nat chain "CNI-" + the first 24 hex digits of sha512(network + id),
// jumped to from POSTROUTING with a comment naming the network and the container.
import type { ConfList } from "./config.ts";

const isIPv4 = (s: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s);

function iptables(args: readonly string[]): { ok: boolean; err: string } {
  const r = Bun.spawnSync(["iptables", "-w", "-t", "nat", ...args], { stdout: "ignore", stderr: "pipe" });
  return { ok: r.exitCode === 0, err: r.stderr.toString().trim() };
}

/** Removes what ipMasq made for `containerId`; what went wrong (a rule already gone is fine). */
export function removeMasquerade(list: ConfList, containerId: string, addresses: readonly string[]): string[] {
  if (!list.plugins.some((p) => p.type === "bridge" && p.ipMasq === true)) return [];
  const hash = new Bun.CryptoHasher("sha512").update(list.name + containerId).digest("hex");
  const chain = `CNI-${hash.slice(0, 24)}`;
  const comment = `name: "${list.name}" id: "${containerId}"`;
  for (const ip of addresses.filter(isIPv4)) iptables(["-D", "POSTROUTING", "-s", `${ip}/32`, "-m", "comment", "--comment", comment, "-j", chain]);
  iptables(["-F", chain]);
  const x = iptables(["-X", chain]);
  if (x.ok || /No chain|does not exist/i.test(x.err)) return [];
  return [`network ${list.name}: masquerade chain ${chain}: ${x.err || "iptables failed"}`];
}
