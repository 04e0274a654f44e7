// OCI linux.resources → the files to write, per layout. Pure, so unit tests can
// check the exact files and values; the manager applies them in order.
import type { LinuxDeviceCgroup, LinuxResources, LinuxThrottleDevice } from "../spec/types.ts";
import { blkioToIoWeight, sharesToWeight } from "./units.ts";

export interface Write {
  controller: string;
  file: string;
  value: string;
}

/** The kernel's "no limit" for a v1 counter. */
const V1_UNLIMITED = "-1";
const w = (controller: string, file: string, value: string | number): Write => ({ controller, file, value: String(value) });
const dev = (d: { major: number; minor: number }) => `${d.major}:${d.minor}`;

export function v1Writes(r: LinuxResources, has: (file: string) => boolean = () => true): Write[] {
  const out: Write[] = [];
  const m = r.memory;
  if (m) {
    if (m.limit !== undefined) out.push(w("memory", "memory.limit_in_bytes", m.limit));
    // memsw must be >= the limit, and a fresh cgroup's is unlimited: limit first.
    if (m.swap !== undefined) out.push(w("memory", "memory.memsw.limit_in_bytes", m.swap === -1 ? V1_UNLIMITED : m.swap));
    if (m.reservation !== undefined) out.push(w("memory", "memory.soft_limit_in_bytes", m.reservation));
    if (m.kernel !== undefined) out.push(w("memory", "memory.kmem.limit_in_bytes", m.kernel));
    if (m.kernelTCP !== undefined) out.push(w("memory", "memory.kmem.tcp.limit_in_bytes", m.kernelTCP));
    if (m.swappiness !== undefined) out.push(w("memory", "memory.swappiness", m.swappiness));
    if (m.disableOOMKiller) out.push(w("memory", "memory.oom_control", 1));
  }
  const c = r.cpu;
  if (c) {
    if (c.shares !== undefined) out.push(w("cpu", "cpu.shares", c.shares));
    // the kernel checks quota against the period in force, so the period goes first
    if (c.period !== undefined) out.push(w("cpu", "cpu.cfs_period_us", c.period));
    if (c.quota !== undefined) out.push(w("cpu", "cpu.cfs_quota_us", c.quota > 0 ? c.quota : -1));
    if (c.burst !== undefined) out.push(w("cpu", "cpu.cfs_burst_us", c.burst));
    if (c.realtimePeriod !== undefined) out.push(w("cpu", "cpu.rt_period_us", c.realtimePeriod));
    if (c.realtimeRuntime !== undefined) out.push(w("cpu", "cpu.rt_runtime_us", c.realtimeRuntime));
    if (c.idle !== undefined) out.push(w("cpu", "cpu.idle", c.idle));
    if (c.cpus) out.push(w("cpuset", "cpuset.cpus", c.cpus));
    if (c.mems) out.push(w("cpuset", "cpuset.mems", c.mems));
  }
  if (r.pids) out.push(w("pids", "pids.max", r.pids.limit > 0 ? r.pids.limit : "max"));
  const b = r.blockIO;
  if (b) {
    // kernels without CFQ offer the BFQ file instead
    const weightFile = has("blkio.weight") || !has("blkio.bfq.weight") ? "blkio.weight" : "blkio.bfq.weight";
    if (b.weight !== undefined) out.push(w("blkio", weightFile, b.weight));
    if (b.leafWeight !== undefined) out.push(w("blkio", "blkio.leaf_weight", b.leafWeight));
    for (const d of b.weightDevice ?? []) {
      if (d.weight !== undefined) out.push(w("blkio", `${weightFile}_device`, `${dev(d)} ${d.weight}`));
      if (d.leafWeight !== undefined) out.push(w("blkio", "blkio.leaf_weight_device", `${dev(d)} ${d.leafWeight}`));
    }
    const throttle = (file: string, list?: LinuxThrottleDevice[]) => {
      for (const d of list ?? []) out.push(w("blkio", file, `${dev(d)} ${d.rate}`));
    };
    throttle("blkio.throttle.read_bps_device", b.throttleReadBpsDevice);
    throttle("blkio.throttle.write_bps_device", b.throttleWriteBpsDevice);
    throttle("blkio.throttle.read_iops_device", b.throttleReadIOPSDevice);
    throttle("blkio.throttle.write_iops_device", b.throttleWriteIOPSDevice);
  }
  for (const h of r.hugepageLimits ?? []) out.push(w("hugetlb", `hugetlb.${h.pageSize}.limit_in_bytes`, h.limit));
  if (r.network?.classID !== undefined) out.push(w("net_cls", "net_cls.classid", r.network.classID));
  for (const p of r.network?.priorities ?? []) out.push(w("net_prio", "net_prio.ifpriomap", `${p.name} ${p.priority}`));
  return out;
}

export function v2Writes(r: LinuxResources, has: (file: string) => boolean = () => true): Write[] {
  const out: Write[] = [];
  const m = r.memory;
  if (m) {
    if (m.limit !== undefined) out.push(w("memory", "memory.max", m.limit > 0 ? m.limit : "max"));
    if (m.reservation !== undefined) out.push(w("memory", "memory.low", Math.max(m.reservation, 0)));
    // OCI's swap is memory+swap (v1); v2 limits swap alone.
    if (m.swap !== undefined) {
      if (m.swap === -1 || m.swap === 0) out.push(w("memory", "memory.swap.max", "max"));
      else if (m.limit === undefined || m.limit <= 0) throw new RangeError("memory.swap needs memory.limit on cgroup v2");
      else out.push(w("memory", "memory.swap.max", Math.max(0, m.swap - m.limit)));
    }
  }
  const c = r.cpu;
  if (c) {
    if (c.shares !== undefined && c.shares > 0) out.push(w("cpu", "cpu.weight", sharesToWeight(c.shares)));
    if (c.quota !== undefined || c.period !== undefined) {
      const quota = c.quota !== undefined && c.quota > 0 ? String(c.quota) : "max";
      out.push(w("cpu", "cpu.max", `${quota} ${c.period ?? 100000}`));
    }
    if (c.burst !== undefined) out.push(w("cpu", "cpu.max.burst", c.burst));
    if (c.idle !== undefined) out.push(w("cpu", "cpu.idle", c.idle));
    if (c.cpus) out.push(w("cpuset", "cpuset.cpus", c.cpus));
    if (c.mems) out.push(w("cpuset", "cpuset.mems", c.mems));
  }
  if (r.pids) out.push(w("pids", "pids.max", r.pids.limit > 0 ? r.pids.limit : "max"));
  const b = r.blockIO;
  if (b) {
    const bfq = has("io.bfq.weight");
    if (b.weight !== undefined) out.push(bfq ? w("io", "io.bfq.weight", b.weight) : w("io", "io.weight", blkioToIoWeight(b.weight)));
    for (const d of b.weightDevice ?? []) {
      if (d.weight === undefined) continue;
      out.push(bfq ? w("io", "io.bfq.weight", `${dev(d)} ${d.weight}`) : w("io", "io.weight", `${dev(d)} ${blkioToIoWeight(d.weight)}`));
    }
    const throttle = (key: string, list?: LinuxThrottleDevice[]) => {
      for (const d of list ?? []) out.push(w("io", "io.max", `${dev(d)} ${key}=${d.rate}`));
    };
    throttle("rbps", b.throttleReadBpsDevice);
    throttle("wbps", b.throttleWriteBpsDevice);
    throttle("riops", b.throttleReadIOPSDevice);
    throttle("wiops", b.throttleWriteIOPSDevice);
  }
  for (const h of r.hugepageLimits ?? []) out.push(w("hugetlb", `hugetlb.${h.pageSize}.max`, h.limit));
  for (const [file, value] of Object.entries(r.unified ?? {})) {
    if (file.includes("/") || file.startsWith(".")) throw new RangeError(`unified: ${file}: not a cgroup file name`);
    out.push(w(file.split(".")[0]!, file, value));
  }
  return out;
}

/** v1 settings with no v2 equivalent, to warn about rather than fail. */
export function v1OnlySettings(r: LinuxResources): string[] {
  const out: string[] = [];
  if (r.memory?.kernel !== undefined) out.push("--kernel-memory (memory.kmem.limit_in_bytes)");
  if (r.memory?.kernelTCP !== undefined) out.push("memory.kmem.tcp.limit_in_bytes");
  if (r.memory?.swappiness !== undefined) out.push("memory.swappiness");
  if (r.memory?.disableOOMKiller) out.push("memory.oom_control");
  return out;
}

export function v2Controllers(writes: readonly Write[]): Set<string> {
  return new Set(writes.map((x) => x.controller));
}

/** The device rules runc grants by default: the standard nodes, pseudo-terminals, and mknod of any node. */
export const DEFAULT_DEVICE_RULES: readonly LinuxDeviceCgroup[] = [
  { allow: false, access: "rwm" },
  { allow: true, type: "c", major: -1, minor: -1, access: "m" },
  { allow: true, type: "b", major: -1, minor: -1, access: "m" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }, // null
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" }, // zero
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" }, // full
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" }, // random
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" }, // urandom
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" }, // tty
  { allow: true, type: "c", major: 5, minor: 1, access: "rwm" }, // console
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" }, // ptmx
  { allow: true, type: "c", major: 136, minor: -1, access: "rwm" }, // pts/*
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" }, // net/tun
];

function deviceRule(d: LinuxDeviceCgroup): string {
  const type = d.type ?? "a";
  const num = (n?: number) => (n === undefined || n < 0 ? "*" : String(n));
  return type === "a" ? "a" : `${type} ${num(d.major)}:${num(d.minor)} ${d.access || "rwm"}`;
}

/** v1 devices: rules in order, each to devices.allow or devices.deny, as the kernel applies them. */
export function v1DeviceWrites(rules: readonly LinuxDeviceCgroup[]): Write[] {
  return rules.map((d) => w("devices", d.allow ? "devices.allow" : "devices.deny", deviceRule(d)));
}
