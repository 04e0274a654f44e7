// `myuts stats NAME`, `myuts events --stats NAME` and `myuts update NAME …`: read
// and change a running container's cgroup, found through the state registry.
import { Cgroup, type Stats } from "../cgroups/cgroup.ts";
import { formatBytes } from "../cgroups/units.ts";
import { liveState, saveState, type ContainerState } from "../lifecycle/state.ts";
import { ociCgroup } from "../lifecycle/container.ts";
import type { LinuxResources } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { parseArgv, type FlagDef, type Parsed } from "./argv.ts";
import { reportingDebug } from "./debug.ts";
import { parseResourceFlags, UPDATE_FLAGS } from "./resource-flags.ts";
import { stdout, stderr } from "../util/output.ts";

const COMMON_FLAGS: readonly FlagDef[] = [
  { long: "debug", description: "full traces on errors" },
  { long: "help", short: "h", description: "show this help" },
];

export const STATS_FLAGS: readonly FlagDef[] = [{ long: "json", description: "print one JSON object" }, ...COMMON_FLAGS];

export const EVENTS_FLAGS: readonly FlagDef[] = [
  { long: "stats", description: "print the container's stats once, as one JSON event, and exit" },
  { long: "interval", value: true, hint: "SECONDS", description: "seconds between stats events while streaming (default 5)" },
  ...COMMON_FLAGS,
];

export const UPDATE_CMD_FLAGS: readonly FlagDef[] = [...UPDATE_FLAGS, ...COMMON_FLAGS];

async function help(name: string): Promise<number> {
  const { usage } = await import("./main.ts");
  stdout(`${await usage(name)}\n`);
  return 0;
}

/** Options may come before or after the name: `update NAME --memory 1g` and `update --memory 1g NAME`. */
function parseNamed(argv: readonly string[], defs: readonly FlagDef[], cmd: string): Parsed {
  if (argv.length && !argv[0]!.startsWith("-")) {
    const p = parseArgv(argv.slice(1), defs, cmd);
    if (p.operands.length) throw new UserError(`${cmd}: unexpected ${p.operands[0]} (one container name only)`);
    return { ...p, operands: [argv[0]!] };
  }
  return parseArgv(argv, defs, cmd);
}

function oneName(cmd: string, operands: string[]): string {
  if (operands.length !== 1) throw new UserError(`${cmd}: expected one container name (see myuts ${cmd} --help)`);
  return operands[0]!;
}

function cgroupOf(s: ContainerState): Cgroup {
  if (!s.cgroup) throw new UserError(`container ${s.name}: has no cgroup (it was started without resource limits or --cgroup-parent)`);
  return Cgroup.fromPaths(s.cgroup);
}

/** An OCI container (under --root) by id, else a named `run` container: its cgroup, and whether it still runs. */
function target(name: string, root: string | undefined): { cgroup: Cgroup; live: () => boolean; registry?: ContainerState } {
  const oci = ociCgroup(name, root);
  if (oci) {
    if (!oci.live) throw new UserError(`container ${name}: not running`);
    if (!oci.cgroup) throw new UserError(`container ${name}: has no cgroup (its spec sets no resources and no cgroupsPath)`);
    return { cgroup: Cgroup.fromPaths(oci.cgroup), live: () => ociCgroup(name, root)?.live === true };
  }
  const s = liveState(name);
  const live = () => {
    try {
      liveState(name);
      return true;
    } catch {
      return false;
    }
  };
  return { cgroup: cgroupOf(s), live, registry: s };
}

/** runc's `events --stats` shape. */
export function statsEvent(name: string, st: Stats): object {
  return {
    type: "stats",
    id: name,
    data: {
      ...(st.cpu
        ? {
            cpu: {
              usage: { total: st.cpu.usageNs, user: st.cpu.userNs, kernel: st.cpu.systemNs },
              throttling: { periods: st.cpu.periods, throttledPeriods: st.cpu.throttledPeriods, throttledTime: st.cpu.throttledNs },
            },
          }
        : {}),
      ...(st.memory
        ? {
            memory: {
              usage: { usage: st.memory.usage, limit: st.memory.limit, max: st.memory.maxUsage, failcnt: st.memory.failcnt },
              oomKills: st.memory.oomKills,
            },
          }
        : {}),
      ...(st.pids ? { pids: { current: st.pids.current, limit: st.pids.limit } } : {}),
    },
  };
}

export function formatStats(name: string, st: Stats): string {
  const lines = [`name:    ${name}`];
  if (st.memory) {
    lines.push(
      `memory:  ${formatBytes(st.memory.usage)} / ${st.memory.limit !== undefined ? formatBytes(st.memory.limit) : "unlimited"}${st.memory.oomKills ? ` (OOM kills: ${st.memory.oomKills})` : ""}`,
    );
  }
  if (st.cpu) {
    const sec = (ns?: number) => `${((ns ?? 0) / 1e9).toFixed(3)} s`;
    const thr = st.cpu.periods ? `, throttled in ${st.cpu.throttledPeriods ?? 0} of ${st.cpu.periods} periods` : "";
    lines.push(`cpu:     ${sec(st.cpu.usageNs)} (user ${sec(st.cpu.userNs)}, system ${sec(st.cpu.systemNs)})${thr}`);
  }
  if (st.pids) lines.push(`pids:    ${st.pids.current} / ${st.pids.limit ?? "unlimited"}`);
  return lines.join("\n");
}

export function statsCli(argv: readonly string[], root?: string): Promise<number> {
  return reportingDebug(argv, STATS_FLAGS, true, () => stats(argv, root));
}

export function eventsCli(argv: readonly string[], root?: string): Promise<number> {
  return reportingDebug(argv, EVENTS_FLAGS, true, () => events(argv, root));
}

export function updateCli(argv: readonly string[], root?: string): Promise<number> {
  return reportingDebug(argv, UPDATE_CMD_FLAGS, true, () => update(argv, root));
}

async function stats(argv: readonly string[], root: string | undefined): Promise<number> {
  const p = parseNamed(argv, STATS_FLAGS, "stats");
  if (p.bools.has("help")) return help("stats");
  const name = oneName("stats", p.operands);
  const st = target(name, root).cgroup.stats();
  stdout(p.bools.has("json") ? `${JSON.stringify({ name, ...st })}\n` : `${formatStats(name, st)}\n`);
  return 0;
}

async function events(argv: readonly string[], root: string | undefined): Promise<number> {
  const p = parseNamed(argv, EVENTS_FLAGS, "events");
  if (p.bools.has("help")) return help("events");
  const name = oneName("events", p.operands);
  const t = target(name, root);
  const cg = t.cgroup;
  if (p.bools.has("stats")) {
    stdout(`${JSON.stringify(statsEvent(name, cg.stats()))}\n`);
    return 0;
  }
  const iv = p.flags.get("interval")?.at(-1) ?? "5";
  if (!/^\d+(\.\d+)?$/.test(iv) || Number(iv) <= 0) throw new UserError(`events: --interval ${iv}: not a positive number of seconds`);
  // Stream: a stats event every interval, and an oom event whenever the OOM count grows.
  let ooms = cg.oomKills();
  for (;;) {
    if (!t.live()) return 0;
    const st = cg.stats();
    const now = st.memory?.oomKills ?? 0;
    if (now > ooms) stdout(`${JSON.stringify({ type: "oom", id: name })}\n`);
    ooms = now;
    stdout(`${JSON.stringify(statsEvent(name, st))}\n`);
    await Bun.sleep(Number(iv) * 1000);
  }
}

async function update(argv: readonly string[], root: string | undefined): Promise<number> {
  const p = parseNamed(argv, UPDATE_CMD_FLAGS, "update");
  if (p.bools.has("help")) return help("update");
  const name = oneName("update", p.operands);
  const { resources } = parseResourceFlags(p, "update");
  if (!resources) throw new UserError("update: nothing to change (give --memory, --cpus, --pids-limit, …)");
  const t = target(name, root);
  t.cgroup.update(resources, (m) => void stderr(`myuts: warning: ${m}\n`));
  // A named run container's entry keeps its limits for `stats`; an OCI container's are its cgroup's.
  if (t.registry) saveState({ ...t.registry, resources: merge(t.registry.resources ?? {}, resources) });
  return 0;
}

function merge(a: LinuxResources, b: LinuxResources): LinuxResources {
  return {
    ...a,
    ...b,
    ...(a.memory || b.memory ? { memory: { ...a.memory, ...b.memory } } : {}),
    ...(a.cpu || b.cpu ? { cpu: { ...a.cpu, ...b.cpu } } : {}),
    ...(a.blockIO || b.blockIO ? { blockIO: { ...a.blockIO, ...b.blockIO } } : {}),
  };
}
