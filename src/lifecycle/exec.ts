// Runs a new process in a running container: the native init joins each of the
// container's namespaces (the user namespace first; a Bun process never could,
// being multithreaded), forks the process into them, which waits until the runtime
// has placed it in the container's cgroup, and then takes the container's own
// security settings, as the kernel reports them for its first process.
import { nulEntries } from "../../ffi/bytes.ts";
import { readBytes, readlinkIfLink, readText } from "../../ffi/files.ts";
import { loadNative } from "../../ffi/native.ts";
import { Cgroup } from "../cgroups/cgroup.ts";
import { CAPABILITIES } from "../setup/capabilities.ts";
import { compileJoin } from "../setup/compile.ts";
import { NS_FILE } from "../setup/namespaces.ts";
import type { Capabilities, IDMapping, NamespaceType, Process } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { Tracer } from "../util/trace.ts";
import { hostFacts } from "./facts.ts";
import { waitExit } from "./run.ts";
import { SignalRelay } from "./signals.ts";
import { launch } from "./start.ts";
import { liveState } from "./state.ts";
import { exitCode } from "../util/wait-status.ts";

export interface ExecRequest {
  name: string;
  args: string[];
  trace: boolean;
  origin: number;
}

/** The container's namespaces that differ from this process's own. */
function foreignNamespaces(pid: number): Set<NamespaceType> {
  const out = new Set<NamespaceType>();
  for (const [type, file] of Object.entries(NS_FILE) as [NamespaceType, string][]) {
    const theirs = readlinkIfLink(`/proc/${pid}/ns/${file}`);
    if (theirs !== undefined && theirs !== readlinkIfLink(`/proc/self/ns/${file}`)) out.add(type);
  }
  return out;
}

function statusField(status: string, key: string): string {
  const m = new RegExp(`^${key}:\\s*(.*)$`, "m").exec(status);
  if (!m) throw new UserError(`exec: /proc status has no ${key} line`);
  return m[1]!.trim();
}

function capNames(hex: string): string[] {
  const bits = BigInt(`0x${hex}`);
  return CAPABILITIES.filter((_, i) => bits & (1n << BigInt(i)));
}

function parseMap(text: string): IDMapping[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every(Number.isInteger))
    .map(([containerID, hostID, size]) => ({ containerID: containerID!, hostID: hostID!, size: size! }));
}

/** A host id as the container sees it (its user namespace's map), or undefined when unmapped. */
function inside(id: number, map: IDMapping[] | undefined): number | undefined {
  if (!map) return id;
  const m = map.find((x) => id >= x.hostID && id < x.hostID + x.size);
  return m ? m.containerID + (id - m.hostID) : undefined;
}

/** The process to run: the container's ids, groups, capabilities and environment. */
function processLike(pid: number, args: string[], userns: boolean): { process: Process; setgroupsDenied: boolean } {
  const status = readText(`/proc/${pid}/status`);
  const uidMap = userns ? parseMap(readText(`/proc/${pid}/uid_map`)) : undefined;
  const gidMap = userns ? parseMap(readText(`/proc/${pid}/gid_map`)) : undefined;
  const uid = inside(Number(statusField(status, "Uid").split(/\s+/)[1]), uidMap);
  const gid = inside(Number(statusField(status, "Gid").split(/\s+/)[1]), gidMap);
  if (uid === undefined || gid === undefined) throw new UserError(`exec: the container's user is not mapped in its user namespace`);
  const groups = statusField(status, "Groups")
    .split(/\s+/)
    .filter(Boolean)
    .map((g) => inside(Number(g), gidMap))
    .filter((g): g is number => g !== undefined);
  const caps: Capabilities = {
    bounding: capNames(statusField(status, "CapBnd")),
    effective: capNames(statusField(status, "CapEff")),
    permitted: capNames(statusField(status, "CapPrm")),
    inheritable: capNames(statusField(status, "CapInh")),
    ambient: capNames(statusField(status, "CapAmb")),
  };
  // The container's own environment, its bytes kept (they need not be UTF-8).
  const env = nulEntries(readBytes(`/proc/${pid}/environ`)).filter(Boolean);
  let setgroupsDenied = false;
  try {
    setgroupsDenied = readText(`/proc/${pid}/setgroups`).trim() === "deny";
  } catch {
    // kernels without the file have no such restriction
  }
  return {
    process: {
      user: { uid, gid, ...(groups.length ? { additionalGids: groups } : {}) },
      args,
      env,
      cwd: "/",
      capabilities: caps,
      noNewPrivileges: statusField(status, "NoNewPrivs") === "1",
    },
    setgroupsDenied,
  };
}

export async function execInContainer(r: ExecRequest): Promise<number> {
  const t = new Tracer(r.trace, r.origin, "exec");
  const state = liveState(r.name);
  const pid = state.pid;
  if (!pid) throw new UserError(`container ${r.name}: not running yet`);
  await t.stepAsync("load the native pieces", loadNative);
  const namespaces = foreignNamespaces(pid);
  const target = t.step("read the container's process settings", () => processLike(pid, r.args, namespaces.has("user")));
  const cgroup = state.cgroup ? Cgroup.fromPaths(state.cgroup) : undefined;
  const program = compileJoin(
    { pid, namespaces, process: target.process, setgroupsDenied: target.setgroupsDenied, barrier: cgroup !== undefined },
    hostFacts(),
  );
  const relay = new SignalRelay();
  try {
    const child = await launch({ program: () => program, describe: "no new namespaces", userns: false }, t, {
      // Under the container's limits before the command's first instruction.
      ready: (p) => cgroup && t.step(`join the container's cgroup (pid ${p})`, () => cgroup.join(p)),
    });
    relay.attach(child);
    return exitCode(await waitExit(child));
  } finally {
    relay.close();
  }
}
