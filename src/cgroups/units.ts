// Unit conversions between docker's flags, the OCI spec (v1 units) and cgroup v2.

/** cpu.shares (v1, 2..262144) → cpu.weight (v2, 1..10000): the same linear map runc and crun use. */
export function sharesToWeight(shares: number): number {
  if (shares <= 0) return 0;
  const s = Math.min(Math.max(shares, 2), 262144);
  return Math.floor(1 + ((s - 2) * 9999) / 262142);
}

/** The inverse, for `--cpu-weight` on a v1 host. */
export function weightToShares(weight: number): number {
  const w = Math.min(Math.max(weight, 1), 10000);
  return Math.floor(2 + ((w - 1) * 262142) / 9999);
}

/** blkio.weight (10..1000) → io.weight (1..10000), when the host has no BFQ weight file. */
export function blkioToIoWeight(weight: number): number {
  const w = Math.min(Math.max(weight, 10), 1000);
  return Math.floor(1 + ((w - 10) * 9999) / 990);
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** docker's RAMInBytes: "64m", "1.5g", "512k", "100" (bytes); units are binary. */
export function parseBytes(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgtp]?)(?:i?b)?$/i.exec(s.trim());
  if (!m) return undefined;
  const n = Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** "64 MiB", "1.5 GiB", "4096 B": for messages. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1 && Number.isInteger(v / 1024)) {
    v /= 1024;
    i++;
  }
  if (i === 0 && n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${v} ${units[i]}`;
}

/** `--cpus 0.5` → quota and period in microseconds (period 100 ms, as docker). */
export function cpusToQuota(cpus: number, period = 100000): { quota: number; period: number } {
  return { quota: Math.round(cpus * period), period };
}
