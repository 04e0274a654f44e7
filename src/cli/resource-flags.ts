// Resource-limit flags (docker's names and units) → OCI linux.resources. `run` and
// `update` share them; the spec keeps v1 units (shares, memory+swap), and the
// cgroup writers convert for v2.
import { fs } from "../util/node.ts";
import { cpusToQuota, parseBytes, weightToShares } from "../cgroups/units.ts";
import type { LinuxResources, LinuxThrottleDevice, LinuxWeightDevice } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import type { FlagDef, Parsed } from "./argv.ts";

/** Limits a running container can change (`myuts update`). */
export const UPDATE_FLAGS: readonly FlagDef[] = [
  { long: "memory", value: true, hint: "BYTES", description: "memory limit (b, k, m, g; at least 6m)" },
  { long: "memory-reservation", value: true, hint: "BYTES", description: "memory soft limit (v2: memory.low)" },
  { long: "memory-swap", value: true, hint: "BYTES", description: "memory plus swap limit; -1: unlimited swap" },
  { long: "kernel-memory", value: true, hint: "BYTES", description: "kernel memory limit (cgroup v1 only; deprecated by the kernel)" },
  { long: "cpus", value: true, hint: "N", description: "CPUs' worth of time (0.5: half a core; 0.01 to 1024); sets the CFS quota" },
  { long: "cpu-shares", value: true, hint: "N", description: "relative CPU weight, v1 units (2-262144; 1024 is the default)" },
  { long: "cpu-weight", value: true, hint: "N", description: "relative CPU weight, v2 units (1-10000; 100 is the default)" },
  { long: "cpu-period", value: true, hint: "US", description: "CFS period in microseconds (1000-1000000)" },
  { long: "cpu-quota", value: true, hint: "US", description: "CFS quota in microseconds per period (at least 1000; -1: none)" },
  { long: "cpuset-cpus", value: true, hint: "LIST", description: "CPUs the container may use (0-3, 0,1)" },
  { long: "cpuset-mems", value: true, hint: "LIST", description: "memory nodes the container may use" },
  { long: "pids-limit", value: true, hint: "N", description: "most processes at once (1 to 4194304; 0 or -1: unlimited)" },
  { long: "blkio-weight", value: true, hint: "N", description: "relative block I/O weight (10-1000)" },
];

export const RESOURCE_FLAGS: readonly FlagDef[] = [
  ...UPDATE_FLAGS,
  { long: "memory-swappiness", value: true, hint: "0-100", description: "swappiness (cgroup v1 only)" },
  { long: "oom-kill-disable", description: "don't OOM-kill the container at its limit (cgroup v1 only)" },
  { long: "blkio-weight-device", value: true, repeat: true, hint: "DEVICE:WEIGHT", description: "block I/O weight for one device" },
  { long: "device-read-bps", value: true, repeat: true, hint: "DEVICE:RATE", description: "read rate limit for a device (b, k, m, g per second)" },
  { long: "device-write-bps", value: true, repeat: true, hint: "DEVICE:RATE", description: "write rate limit for a device" },
  { long: "device-read-iops", value: true, repeat: true, hint: "DEVICE:N", description: "read operations per second for a device" },
  { long: "device-write-iops", value: true, repeat: true, hint: "DEVICE:N", description: "write operations per second for a device" },
  { long: "oom-score-adj", value: true, hint: "N", description: "the payload's OOM score adjustment (-1000 to 1000)" },
  { long: "cgroup-parent", value: true, hint: "PATH", description: "parent cgroup (absolute: from the hierarchy's root; relative: below the caller's cgroup)" },
  { long: "cgroupns", value: true, hint: "private|host", description: "private: a new cgroup namespace (as --cgroup); host: none" },
];

export interface ResourceOptions {
  resources?: LinuxResources;
  cgroupParent?: string;
  oomScoreAdj?: number;
  cgroupns?: "private" | "host";
}

const MIN_MEMORY = 6 * 1024 * 1024;
/** The kernel's bounds: CFS quota in microseconds (1 ms up to 2^44 - 1) and pids.max (PID_MAX_LIMIT). */
const MIN_QUOTA = 1000;
const MAX_QUOTA = 2 ** 44 - 1;
const MAX_PIDS = 4 * 1024 * 1024;
const CPUS_PERIOD = 100000;
const MAX_CPUS = 1024;

export function parseResourceFlags(p: Parsed, cmd = "run"): ResourceOptions {
  const one = (k: string) => p.flags.get(k)?.at(-1);
  const many = (k: string) => p.flags.get(k) ?? [];
  const bad = (flag: string, v: string, why: string) => new UserError(`${cmd}: --${flag} ${v}: ${why}`);
  const int = (flag: string, lo: number, hi: number): number | undefined => {
    const v = one(flag);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v) || Number(v) < lo || Number(v) > hi) throw bad(flag, v, `must be a whole number from ${lo} to ${hi}`);
    return Number(v);
  };
  const bytes = (flag: string, allowUnlimited = false): number | undefined => {
    const v = one(flag);
    if (v === undefined) return undefined;
    if (allowUnlimited && v === "-1") return -1;
    const n = parseBytes(v);
    if (n === undefined) throw bad(flag, v, "not a size (a number with an optional b, k, m or g)");
    return n;
  };
  const cpuList = (flag: string): string | undefined => {
    const v = one(flag);
    if (v !== undefined && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) throw bad(flag, v, "not a list like 0-3 or 0,2");
    return v;
  };

  const res: LinuxResources = {};
  const limit = bytes("memory");
  const reservation = bytes("memory-reservation");
  const swap = bytes("memory-swap", true);
  const kernel = bytes("kernel-memory");
  const swappiness = int("memory-swappiness", 0, 100);
  if (limit !== undefined && limit < MIN_MEMORY) throw bad("memory", one("memory")!, "below the minimum of 6 MiB");
  if (swap !== undefined && swap !== -1) {
    if (limit === undefined) throw bad("memory-swap", one("memory-swap")!, "needs --memory as well");
    if (swap < limit) throw bad("memory-swap", one("memory-swap")!, "must be at least --memory (it counts memory plus swap)");
  }
  if (reservation !== undefined && limit !== undefined && reservation > limit)
    throw bad("memory-reservation", one("memory-reservation")!, "must not exceed --memory");
  if (
    limit !== undefined ||
    reservation !== undefined ||
    swap !== undefined ||
    kernel !== undefined ||
    swappiness !== undefined ||
    p.bools.has("oom-kill-disable")
  ) {
    res.memory = {
      ...(limit !== undefined ? { limit } : {}),
      ...(reservation !== undefined ? { reservation } : {}),
      ...(swap !== undefined ? { swap } : {}),
      ...(kernel !== undefined ? { kernel } : {}),
      ...(swappiness !== undefined ? { swappiness } : {}),
      ...(p.bools.has("oom-kill-disable") ? { disableOOMKiller: true } : {}),
    };
  }

  const cpusText = one("cpus");
  let shares = int("cpu-shares", 2, 262144);
  const weight = int("cpu-weight", 1, 10000);
  let period = int("cpu-period", 1000, 1000000);
  let quota = int("cpu-quota", -1, MAX_QUOTA);
  if (quota !== undefined && quota !== -1 && quota < MIN_QUOTA)
    throw bad("cpu-quota", one("cpu-quota")!, `below the kernel's minimum quota of ${MIN_QUOTA} µs (or -1 for none)`);
  if (weight !== undefined) {
    if (shares !== undefined) throw new UserError(`${cmd}: --cpu-shares and --cpu-weight set the same thing; give one`);
    shares = weightToShares(weight);
  }
  if (cpusText !== undefined) {
    const cpus = Number(cpusText);
    const least = MIN_QUOTA / CPUS_PERIOD;
    if (!/^\d*\.?\d+$/.test(cpusText) || !(cpus > 0) || cpus > MAX_CPUS) throw bad("cpus", cpusText, `must be a number of CPUs from ${least} to ${MAX_CPUS}`);
    if (quota !== undefined || period !== undefined) throw new UserError(`${cmd}: --cpus conflicts with --cpu-quota and --cpu-period; give one or the other`);
    ({ quota, period } = cpusToQuota(cpus, CPUS_PERIOD));
    // Rounded to 0 the quota would be written as "no limit".
    if (quota < MIN_QUOTA)
      throw bad("cpus", cpusText, `below the kernel's minimum CFS quota of ${MIN_QUOTA} µs per ${CPUS_PERIOD} µs period (the least is --cpus ${least})`);
  }
  const cpusetCpus = cpuList("cpuset-cpus");
  const cpusetMems = cpuList("cpuset-mems");
  if (shares !== undefined || quota !== undefined || period !== undefined || cpusetCpus !== undefined || cpusetMems !== undefined) {
    res.cpu = {
      ...(shares !== undefined ? { shares } : {}),
      ...(quota !== undefined ? { quota } : {}),
      ...(period !== undefined ? { period } : {}),
      ...(cpusetCpus !== undefined ? { cpus: cpusetCpus } : {}),
      ...(cpusetMems !== undefined ? { mems: cpusetMems } : {}),
    };
  }

  const pids = int("pids-limit", -1, MAX_PIDS);
  if (pids !== undefined) res.pids = { limit: pids };

  const blkio = int("blkio-weight", 10, 1000);
  const weightDevice: LinuxWeightDevice[] = many("blkio-weight-device").map((v) => {
    const { major, minor, value } = deviceArg(cmd, "blkio-weight-device", v);
    if (!/^\d+$/.test(value) || Number(value) < 10 || Number(value) > 1000) throw bad("blkio-weight-device", v, "weight must be 10 to 1000");
    return { major, minor, weight: Number(value) };
  });
  const throttle = (flag: string, isBytes: boolean): LinuxThrottleDevice[] =>
    many(flag).map((v) => {
      const { major, minor, value } = deviceArg(cmd, flag, v);
      const rate = isBytes ? parseBytes(value) : /^\d+$/.test(value) ? Number(value) : undefined;
      if (rate === undefined) throw bad(flag, v, isBytes ? "rate is not a size" : "not a whole number of operations");
      if (!Number.isSafeInteger(rate)) throw bad(flag, v, `rate must be at most ${Number.MAX_SAFE_INTEGER}`);
      return { major, minor, rate };
    });
  const io = {
    ...(blkio !== undefined ? { weight: blkio } : {}),
    ...(weightDevice.length ? { weightDevice } : {}),
    throttleReadBpsDevice: throttle("device-read-bps", true),
    throttleWriteBpsDevice: throttle("device-write-bps", true),
    throttleReadIOPSDevice: throttle("device-read-iops", false),
    throttleWriteIOPSDevice: throttle("device-write-iops", false),
  };
  for (const k of ["throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice"] as const) {
    if (!io[k].length) delete io[k];
  }
  if (Object.keys(io).length) res.blockIO = io;

  const out: ResourceOptions = {};
  if (Object.keys(res).length) out.resources = res;
  const parent = one("cgroup-parent");
  if (parent !== undefined) {
    if (parent === "") throw new UserError(`${cmd}: --cgroup-parent: empty path`);
    if (parent.split("/").includes("..")) throw bad("cgroup-parent", parent, "not a cgroup path");
    out.cgroupParent = parent;
  }
  const adj = int("oom-score-adj", -1000, 1000);
  if (adj !== undefined) out.oomScoreAdj = adj;
  const ns = one("cgroupns");
  if (ns !== undefined) {
    if (ns !== "private" && ns !== "host") throw bad("cgroupns", ns, "must be private or host");
    out.cgroupns = ns;
  }
  return out;
}

/** "/dev/sda:1mb" → the device's numbers and the value after the last colon. */
function deviceArg(cmd: string, flag: string, v: string): { major: number; minor: number; value: string } {
  const i = v.lastIndexOf(":");
  if (i <= 0) throw new UserError(`${cmd}: --${flag} ${v}: expected DEVICE:VALUE`);
  const path = v.slice(0, i);
  let st: import("node:fs").Stats;
  try {
    st = fs().statSync(path);
  } catch (e) {
    throw fsError(`${cmd}: --${flag} ${path}`, e);
  }
  if (!st.isBlockDevice()) throw new UserError(`${cmd}: --${flag} ${path}: not a block device`);
  const rdev = st.rdev;
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & ~0xff & 0xfffff);
  return { major, minor, value: v.slice(i + 1) };
}
