// podman's everyday commands for `run`'s containers: ps (without an id), inspect,
// logs, stop, rm, and the hidden `cleanup` a detached container's monitor runs.
import { endDetached, restartDetached } from "../lifecycle/detached-end.ts";
import { readSpec, removeDetached } from "../lifecycle/detached.ts";
import type { Spec } from "../spec/types.ts";
import { validateSpec } from "../spec/validate.ts";
import {
  exitCodeOf,
  findRunContainer,
  listRunContainers,
  networkCheck,
  removeRunContainer,
  stopRunContainer,
  type ContainerInfo,
} from "../lifecycle/containers.ts";
import { readLogs } from "../lifecycle/logs.ts";
import { UserError } from "../util/errors.ts";
import { stderr, stdout } from "../util/output.ts";
import { escapeControl } from "../util/text.ts";
import { parseArgv, type FlagDef } from "./argv.ts";
import { reportingDebug } from "./debug.ts";
import { parseSignal } from "./oci.ts";

const HELP: FlagDef = { long: "help", short: "h", description: "show this help" };
const DEBUG: FlagDef = { long: "debug", description: "full traces on errors" };

export const CONTAINER_FLAGS: Record<string, readonly FlagDef[]> = {
  inspect: [DEBUG, HELP],
  logs: [
    { long: "follow", short: "f", description: "keep printing what the container writes until it ends" },
    { long: "tail", short: "n", value: true, hint: "N", description: "only the last N lines (before following)" },
    { long: "since", value: true, hint: "TIME", description: "only lines since TIME: an RFC 3339 time, or a duration ago (10s, 5m, 2h)" },
    { long: "timestamps", short: "t", description: "show each line's time" },
    DEBUG,
    HELP,
  ],
  stop: [
    { long: "time", short: "t", value: true, hint: "SECONDS", description: "how long to wait after the stop signal before SIGKILL (default 10)" },
    { long: "signal", short: "s", value: true, hint: "SIGNAL", description: "the stop signal (default TERM)" },
    DEBUG,
    HELP,
  ],
  rm: [{ long: "force", short: "f", description: "kill a running container (SIGKILL) and remove it" }, DEBUG, HELP],
  attach: [DEBUG, HELP],
  cleanup: [HELP],
};

async function help(cmd: string): Promise<number> {
  const { usage } = await import("./main.ts");
  stdout(`${await usage(cmd)}\n`);
  return 0;
}

function names(cmd: string, operands: readonly string[]): readonly string[] {
  if (!operands.length) throw new UserError(`${cmd}: name a container (see myuts ${cmd} --help)`);
  return operands;
}

function mustFind(name: string): ContainerInfo {
  const c = findRunContainer(name);
  if (!c) throw new UserError(`container ${name}: no such container`);
  return c;
}

function ago(iso: string | undefined, now = Date.now()): string {
  const t = iso ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(t)) return "?";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} seconds`;
  if (s < 3600) return `${Math.round(s / 60)} minutes`;
  if (s < 86400) return `${Math.round(s / 3600)} hours`;
  return `${Math.round(s / 86400)} days`;
}

function statusText(c: ContainerInfo): string {
  if (c.running) return `Up ${ago(c.created)}`;
  if (c.exitCode !== undefined) return `Exited (${c.exitCode}) ${ago(c.finishedAt)} ago`;
  return "Exited (unknown)";
}

/** podman ps: running containers (-a: the stopped detached ones too). */
export async function listCli(p: { all: boolean; quiet: boolean; format: string }): Promise<number> {
  // What dead runtimes left (a killed foreground run's container) goes first, as at every start.
  (await import("../lifecycle/registry-hooks.ts")).sweepRegistry();
  const all = listRunContainers(p.all);
  if (p.quiet) {
    stdout(all.map((c) => `${c.name}\n`).join(""));
    return 0;
  }
  if (p.format === "json") {
    stdout(`${JSON.stringify(all.map(inspectView))}\n`);
    return 0;
  }
  const rows = [
    ["NAME", "IMAGE", "COMMAND", "CREATED", "STATUS", "PID"],
    ...all.map((c) => [
      c.name,
      c.image ?? c.rootfs ?? "",
      escapeControl((c.command ?? []).join(" ")).slice(0, 30),
      `${ago(c.created)} ago`,
      statusText(c),
      c.pid ? String(c.pid) : "",
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  stdout(rows.map((r) => `${r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join("  ")}\n`).join(""));
  return 0;
}

function inspectView(c: ContainerInfo): Record<string, unknown> {
  return {
    Name: c.name,
    Created: c.created,
    Path: c.command?.[0],
    Args: c.command?.slice(1),
    Image: c.image,
    Rootfs: c.rootfs,
    State: {
      Status: c.running ? "running" : "exited",
      Running: c.running,
      Pid: c.pid ?? 0,
      ...(c.exitCode !== undefined ? { ExitCode: c.exitCode, FinishedAt: c.finishedAt } : {}),
    },
    Detached: c.detached,
    ...(c.autoRemove !== undefined ? { AutoRemove: c.autoRemove } : {}),
    ...(c.restartCount !== undefined ? { RestartCount: c.restartCount } : {}),
    ...(c.tty ? { Tty: true } : {}),
    ...(c.logPath ? { LogPath: c.logPath } : {}),
    ...(c.state?.cgroup ? { Cgroup: c.state.cgroup } : {}),
    ...(c.state?.network ? { Network: c.state.network } : {}),
  };
}

/** stop for an OCI container: the signal, then SIGKILL after the timeout, as for run's. */
async function stopOci(oci: typeof import("../lifecycle/container.ts"), id: string, root: string | undefined, timeoutSec: number, signal: number) {
  const st = oci.containerState(id, root).status;
  if (st !== "running" && st !== "created" && st !== "paused") return "not running" as const;
  const stopped = () => oci.containerState(id, root).status === "stopped";
  // A frozen container takes no signal until it is thawed.
  if (st === "paused") oci.setPaused(id, false, root);
  oci.killContainer(id, signal, root);
  const end = Date.now() + timeoutSec * 1000;
  while (!stopped() && Date.now() < end) await Bun.sleep(20);
  if (stopped()) return "stopped" as const;
  oci.killContainer(id, 9, root);
  for (let i = 0; i < 500 && !stopped(); i++) await Bun.sleep(20);
  return "killed" as const;
}

/** A --since value: an RFC 3339 time, or a duration before now. */
function parseSince(v: string): Date {
  const d = /^(\d+)(s|m|h)$/.exec(v);
  if (d) return new Date(Date.now() - Number(d[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[d[2] as "s" | "m" | "h"]);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UserError(`logs: --since ${v}: expected an RFC 3339 time or a duration such as 10s, 5m, 2h`);
  return new Date(t);
}

function count(flag: string, v: string | undefined): number | undefined {
  if (v === undefined || v === "all") return undefined;
  if (!/^\d{1,9}$/.test(v)) throw new UserError(`--${flag} ${v}: expected a whole number`);
  return Number(v);
}

/**
 * An OCI container (create, under --root) by that id, when `run` has none of that name: stop,
 * rm and inspect work on it too, through the OCI engine.
 */
async function ociFallback(name: string, root: string | undefined): Promise<typeof import("../lifecycle/container.ts") | undefined> {
  if (findRunContainer(name)) return undefined;
  const oci = await import("../lifecycle/container.ts");
  return oci.ociContainerExists(name, root) ? oci : undefined;
}

export function containerCli(cmd: string, argv: readonly string[], root?: string): Promise<number> {
  const defs = CONTAINER_FLAGS[cmd]!;
  return reportingDebug(argv, defs, true, async () => {
    const p = parseArgv(argv, defs, cmd);
    if (p.bools.has("help")) return help(cmd);
    const one = (k: string) => p.flags.get(k)?.at(-1);
    switch (cmd) {
      case "inspect": {
        const out: Array<Record<string, unknown>> = [];
        for (const n of names(cmd, p.operands)) {
          const oci = await ociFallback(n, root);
          if (!oci) continue;
          const st = oci.containerState(n, root);
          out.push({ Name: n, Created: st.created, Bundle: st.bundle, State: { Status: st.status, Running: st.status === "running", Pid: st.pid }, Oci: true });
        }
        const ociNames = new Set(out.map((o) => o.Name));
        const runs = names(cmd, p.operands)
          .filter((n) => !ociNames.has(n))
          .map((n) => {
            const c = mustFind(n);
            const view = inspectView(c);
            // CNI CHECK: cheap enough for one container, so inspect runs it.
            const check = networkCheck(c);
            return check === undefined ? view : { ...view, Network: { ...(view.Network as object), Check: check } };
          });
        stdout(`${JSON.stringify([...out, ...runs], null, 2)}\n`);
        return 0;
      }
      case "logs": {
        const [name, ...rest] = names(cmd, p.operands);
        if (rest.length) throw new UserError(`logs: one container at a time (unexpected ${rest.join(" ")})`);
        const since = one("since");
        const o = { follow: p.bools.has("follow"), tail: count("tail", one("tail")), since: since === undefined ? undefined : parseSince(since) };
        const c = mustFind(name!);
        if (!c.detached) throw new UserError(`container ${name}: runs in the foreground; only a detached container (run -d) has a log`);
        const stamps = p.bools.has("timestamps");
        await readLogs(
          name!,
          o,
          (r) => (r.stream === "stdout" ? stdout : stderr)(stamps ? `${r.time} ${r.log}` : r.log),
          () => findRunContainer(name!)?.running === true,
        );
        return 0;
      }
      case "stop": {
        const t = count("time", one("time")) ?? 10;
        const signal = parseSignal(one("signal") ?? "TERM");
        for (const n of names(cmd, p.operands)) {
          const oci = await ociFallback(n, root);
          const how = oci ? await stopOci(oci, n, root, t, signal) : await stopRunContainer(mustFind(n), t, signal);
          if (how === "killed")
            stderr(
              `myuts: ${n} did not stop within ${t}s of its stop signal, so it got SIGKILL (a payload that is PID 1 ignores signals it has no handler for: run it with --init, or handle SIGTERM)\n`,
            );
          stdout(`${n}\n`);
        }
        return 0;
      }
      case "attach": {
        const [name, ...rest] = names(cmd, p.operands);
        if (rest.length) throw new UserError(`attach: one container at a time (unexpected ${rest.join(" ")})`);
        const c = mustFind(name!);
        if (!c.running) throw new UserError(`container ${name}: is not running`);
        if (!c.tty) throw new UserError(`container ${name}: has no terminal to attach to (start it with run -d -t); its output is in myuts logs ${name}`);
        const how = await (await import("../lifecycle/attach.ts")).attachContainer(name!);
        if (how === "detached") {
          stderr(`\r\nmyuts: detached from ${name}, which goes on running (myuts attach ${name} comes back)\n`);
          return 0;
        }
        return (await exitCodeOf(name!)) ?? 0;
      }
      case "rm": {
        for (const n of names(cmd, p.operands)) {
          const oci = await ociFallback(n, root);
          if (oci) await oci.deleteContainer(n, p.bools.has("force"), root);
          else await removeRunContainer(mustFind(n), p.bools.has("force"));
          stdout(`${n}\n`);
        }
        return 0;
      }
      default: {
        // cleanup NAME: the exit command of a detached container's monitor, run as the monitor itself.
        const [name] = names(cmd, p.operands);
        const { problems, restart } = await endDetached(name!, { self: true });
        for (const m of problems) stderr(`myuts: warning: ${escapeControl(m)}\n`);
        if (restart) {
          try {
            // The spec it was started with, read back from disk: validated again like any config.json.
            await restartDetached(validateSpec(readSpec(name!) as Spec), restart);
          } catch (e) {
            // It stays stopped, with the exit code its last run recorded.
            if (restart.autoRemove) removeDetached(name!);
            throw e;
          }
        }
        return problems.length ? 125 : 0;
      }
    }
  });
}
