// `myuts version`: the version line, or with --help the command's help.
import { versionLine } from "../version.ts";
import { UserError } from "../util/errors.ts";
import { stdout } from "../util/output.ts";

export async function versionCli(argv: readonly string[]): Promise<number> {
  if (argv[0] === "--help" || argv[0] === "-h") {
    const { usage } = await import("./main.ts");
    stdout(`${await usage("version")}\n`);
    return 0;
  }
  if (argv.length) throw new UserError(`version: unexpected ${argv[0]} (see myuts version --help)`);
  stdout(`${versionLine()}\n`);
  return 0;
}
