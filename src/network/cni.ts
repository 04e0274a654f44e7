// The CNI runtime's side of the plugin protocol (CNI spec, "Execution Protocol"):
// each plugin is exec'd on the host with the command in its environment and its
// network configuration on stdin, and answers a result or an error as JSON.
import { UserError } from "../util/errors.ts";
import type { ConfList, PluginConf } from "./config.ts";

export interface CniTarget {
  containerId: string;
  /** The network namespace's file (a bind mount the runtime made). */
  netns: string;
  ifname: string;
}

/** What the runtime passes to plugins that declare the capability (CNI "Dynamic plugin configuration"). */
export type RuntimeConfig = Record<string, unknown>;

/** A plugin may not hang a start for ever; the CNI spec sets no limit, podman none either. */
const PLUGIN_TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 1024 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** One plugin's configuration, as the list and the runtime make it (CNI spec, "Deriving execution configuration"). */
function pluginConfig(list: ConfList, p: PluginConf, runtime: RuntimeConfig, prevResult: unknown): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...p, cniVersion: list.cniVersion, name: list.name };
  delete conf.runtimeConfig;
  const caps = isObject(p.capabilities) ? p.capabilities : {};
  const rc = Object.fromEntries(Object.entries(runtime).filter(([k]) => caps[k] === true));
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  if (prevResult !== undefined) conf.prevResult = prevResult;
  return conf;
}

/** Runs one plugin; its result (ADD) or nothing (DEL, CHECK), or a one-line error. */
export function execPlugin(file: string, command: "ADD" | "DEL" | "CHECK", target: CniTarget, conf: Record<string, unknown>, label: string): unknown {
  const r = Bun.spawnSync([file], {
    stdin: Buffer.from(JSON.stringify(conf)),
    stdout: "pipe",
    stderr: "pipe",
    timeout: PLUGIN_TIMEOUT_MS,
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: target.containerId,
      CNI_NETNS: target.netns,
      CNI_IFNAME: target.ifname,
      CNI_PATH: file.slice(0, file.lastIndexOf("/")),
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    },
  });
  const out = r.stdout.subarray(0, MAX_OUTPUT).toString("utf8");
  let parsed: unknown;
  try {
    parsed = out.trim() ? JSON.parse(out) : undefined;
  } catch {
    parsed = undefined;
  }
  if (r.exitCode === 0) return parsed;
  const why =
    isObject(parsed) && typeof parsed.msg === "string" ? parsed.msg + (typeof parsed.details === "string" && parsed.details ? `: ${parsed.details}` : "") : "";
  const stderrLine = r.stderr.toString("utf8").trim().split("\n").at(-1) ?? "";
  const how = r.signalCode ? `killed by ${r.signalCode}${r.exitedDueToTimeout ? " after 60 s" : ""}` : `exit status ${r.exitCode}`;
  throw new UserError(`${label}: CNI plugin ${conf.type} ${command} failed: ${(why || stderrLine || how).replace(/\s+/g, " ")}`);
}

/** ADD of a whole list: each plugin gets the previous one's result; the last result is the list's. */
export function addList(list: ConfList, paths: Map<string, string>, target: CniTarget, runtime: RuntimeConfig, progress: (result: unknown) => void): unknown {
  let result: unknown;
  for (const p of list.plugins) {
    result = execPlugin(paths.get(p.type)!, "ADD", target, pluginConfig(list, p, runtime, result), `network ${list.name}`) ?? result;
    progress(result);
  }
  return result;
}

/**
 * DEL of a whole list, in reverse order, each plugin given what ADD returned. Every
 * plugin runs even when one fails (DEL must clean up what it can); the problems come back.
 */
export function delList(list: ConfList, paths: Map<string, string>, target: CniTarget, runtime: RuntimeConfig, prevResult: unknown): string[] {
  const problems: string[] = [];
  for (const p of [...list.plugins].reverse()) {
    const file = paths.get(p.type);
    if (!file) {
      problems.push(`network ${list.name}: CNI plugin ${p.type} not found`);
      continue;
    }
    try {
      execPlugin(file, "DEL", target, pluginConfig(list, p, runtime, prevResult), `network ${list.name}`);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  return problems;
}

/**
 * CHECK of a whole list (CNI 0.4.0 and later), in order, each plugin given what ADD
 * returned: undefined when every plugin finds the container's network as ADD left it,
 * else the first plugin's one-line complaint.
 */
export function checkList(
  list: ConfList,
  paths: Map<string, string>,
  target: CniTarget,
  runtime: RuntimeConfig,
  prevResult: unknown,
  skip: (type: string) => boolean = () => false,
): string | undefined {
  for (const p of list.plugins) {
    if (skip(p.type)) continue;
    const file = paths.get(p.type);
    if (!file) return `network ${list.name}: CNI plugin ${p.type} not found`;
    try {
      execPlugin(file, "CHECK", target, pluginConfig(list, p, runtime, prevResult), `network ${list.name}`);
    } catch (e) {
      return (e as Error).message;
    }
  }
  return undefined;
}

/** The container's addresses in a result (IPv4, without the prefix). */
export function addressesOf(result: unknown): string[] {
  if (!isObject(result) || !Array.isArray(result.ips)) return [];
  return result.ips.flatMap((ip: unknown) => (isObject(ip) && typeof ip.address === "string" ? [ip.address.split("/")[0]!] : []));
}
