// `myuts network create NAME [--subnet CIDR] | ls | rm NAME...`.
import { sweepRegistry } from "../lifecycle/registry-hooks.ts";
import { createNetwork, networkRows, removeNetwork } from "../network/networks.ts";
import { UserError } from "../util/errors.ts";
import { stderr, stdout } from "../util/output.ts";
import { escapeControl } from "../util/text.ts";
import { parseArgv, type FlagDef } from "./argv.ts";
import { reportingDebug } from "./debug.ts";

export const NETWORK_FLAGS: readonly FlagDef[] = [
  { long: "subnet", value: true, hint: "CIDR", description: "create: the network's IPv4 subnet (default: the first free 10.89.N.0/24)" },
  { long: "debug", description: "full traces on errors" },
  { long: "help", short: "h", description: "show this help" },
];

const warn = (msg: string) => stderr(`myuts: warning: ${escapeControl(msg)}\n`);

/** Options may come before or after the operands (`network create lab --subnet …`, as podman's). */
function splitOperands(argv: readonly string[]): { options: string[]; operands: string[] } {
  const options: string[] = [];
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") operands.push(a);
    else options.push(a, ...(a === "--subnet" && i + 1 < argv.length ? [argv[++i]!] : []));
  }
  return { options, operands };
}

async function network(argv: readonly string[]): Promise<number> {
  const { options, operands } = splitOperands(argv);
  const p = parseArgv(options, NETWORK_FLAGS, "network");
  const [sub, ...names] = operands;
  if (p.bools.has("help") || sub === undefined) {
    const { usage } = await import("./main.ts");
    stdout(`${await usage("network")}\n`);
    return sub === undefined && !p.bools.has("help") ? 125 : 0;
  }
  const subnet = p.flags.get("subnet")?.at(-1);
  if (subnet !== undefined && sub !== "create") throw new UserError(`network ${sub}: --subnet is for network create`);
  switch (sub) {
    case "create": {
      if (names.length !== 1) throw new UserError("network create: give one name: myuts network create NAME [--subnet CIDR]");
      createNetwork(names[0]!, subnet, warn);
      stdout(`${names[0]}\n`);
      return 0;
    }
    case "ls":
    case "list": {
      if (names.length) throw new UserError(`network ${sub}: takes no operands`);
      sweepRegistry();
      const rows = networkRows(warn);
      const width = Math.max(4, ...rows.map((r) => r.name.length));
      const sw = Math.max(6, ...rows.map((r) => r.subnets.length));
      const line = (a: string, b: string, c: string) => `${a.padEnd(width)}  ${b.padEnd(sw)}  ${c}`;
      stdout(`${[line("NAME", "SUBNET", "BRIDGE"), ...rows.map((r) => line(r.name, r.subnets, r.bridge))].join("\n")}\n`);
      return 0;
    }
    case "rm":
    case "remove": {
      if (!names.length) throw new UserError("network rm: give the networks' names");
      // A killed run's container may still hold a port on the bridge: its sweep frees it.
      sweepRegistry();
      for (const n of names) removeNetwork(n);
      return 0;
    }
    default:
      throw new UserError(`network ${sub}: unknown subcommand (create, ls or rm)`);
  }
}

export function networkCli(argv: readonly string[]): Promise<number> {
  return reportingDebug(argv, NETWORK_FLAGS, true, () => network(argv));
}
