export interface Summary {
  n: number;
  median: number;
  mean: number;
  p90: number;
  min: number;
}

/** Nearest-rank percentile of an ascending array; p in [0, 1]. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1]!;
}

/** The median interpolates between the middle two, so it is stable for even n. */
export function median(xs: readonly number[]): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function summarize(xs: readonly number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  return {
    n: s.length,
    median: median(s),
    mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
    p90: percentile(s, 0.9),
    min: s[0] ?? Number.NaN,
  };
}

export function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

export const ms = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : "–");
export const mib = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / 1048576).toFixed(1) : "–");
