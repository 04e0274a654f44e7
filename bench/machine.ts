// What a benchmark's report says about the machine and the programs it compared.
import { existsSync } from "node:fs";

/** The first line a program prints for these arguments (its version), or "not installed". */
export function version(argv: string[]): string {
  if (!Bun.which(argv[0]!) && !existsSync(argv[0]!)) return "not installed";
  const r = Bun.spawnSync(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  return (r.stdout.toString() + r.stderr.toString()).trim().split("\n")[0] ?? "";
}

export async function cpuModel(): Promise<string> {
  const m = /^model name\s*:\s*(.*)$/m.exec(await Bun.file("/proc/cpuinfo").text());
  return m?.[1]?.trim() ?? "unknown";
}
