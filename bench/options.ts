// The benchmarks' command lines: counts, --write, --myuts PATH and --help, the same in each.
import { resolve } from "node:path";

export interface CommonOptions {
  write: boolean;
  myuts: string;
}

/**
 * Parses `argv` into `defaults` (returned changed): each flag in `counts` sets its key to a
 * positive integer, each in `paths` to an absolute path; --write, --myuts PATH and
 * -h/--help are common to every benchmark.
 */
export function parseBenchOptions<T extends CommonOptions>(
  argv: readonly string[],
  defaults: T,
  counts: Record<string, keyof T>,
  usage: string,
  paths: Record<string, keyof T> = {},
): T {
  const o = { ...defaults };
  const count = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, not ${v ?? "nothing"}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const key = counts[a];
    if (key !== undefined) (o as Record<keyof T, unknown>)[key] = count(a, argv[++i]);
    else if (paths[a] !== undefined) (o as Record<keyof T, unknown>)[paths[a]] = resolve(argv[++i] ?? "");
    else if (a === "--write") o.write = true;
    else if (a === "--myuts") o.myuts = resolve(argv[++i] ?? "");
    else if (a === "-h" || a === "--help") {
      console.log(usage);
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n${usage}`);
  }
  return o;
}
