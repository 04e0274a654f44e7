// Entry point. The init stage (re-exec'd inside the namespaces) takes a short path
// that loads neither the CLI nor its dependencies.
import { now } from "./util/trace.ts";

const origin = now();
const argv = process.argv.slice(2);
if (argv[0] === "init") {
  const { initStage } = await import("./init/main.ts");
  initStage(Number(argv[1]), Number(argv[2]));
} else {
  const { cliMain } = await import("./cli/main.ts");
  process.exit(await cliMain(argv, origin));
}
